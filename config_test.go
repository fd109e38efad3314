package huggingfaceauditreceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/ipenrich"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	return cfg, sub.Unmarshal(cfg)
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(t, "minimal")
	require.NoError(t, err)
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, "acme", cfg.Organization)
	assert.Equal(t, configopaque.String("hf_minimal_secret_abcd"), cfg.Token)
	assert.Equal(t, "https://huggingface.co", cfg.Endpoint)
	assert.Equal(t, 5*time.Minute, cfg.PollInterval)
	assert.Empty(t, cfg.Query)
	assert.Nil(t, cfg.StorageID)
	assert.Zero(t, cfg.InitialLookback)
	assert.Equal(t, int64(512<<20), cfg.MaxResponseSize)
	assert.Equal(t, 1000, cfg.BatchSize)
	assert.Equal(t, time.Hour, cfg.LateArrivalWindow)
	assert.Equal(t, 4, cfg.MaxConcurrentPolls)
	assert.True(t, cfg.IncludeRaw)
	assert.False(t, cfg.DropSelfExports)
	assert.False(t, cfg.AllowInsecureHTTP)
	assert.False(t, cfg.HTTP.TLS.InsecureSkipVerify, "TLS verification is on by default")
	assert.Equal(t, 2*time.Minute, cfg.HTTP.Timeout)
	assert.Equal(t, configretry.NewDefaultBackOffConfig(), cfg.RetryOnFailure)
	assert.False(t, cfg.IPEnrichment.Enabled())
	assert.True(t, cfg.ResourceAttributes.HuggingfaceOrganization.Enabled)
	assert.True(t, cfg.ResourceAttributes.ServiceName.Enabled)
}

func TestConfigEveryKeyDecodes(t *testing.T) {
	cfg, err := loadConfig(t, "all")
	require.NoError(t, err)
	require.NoError(t, confmap.Validate(cfg))
	storageID := component.MustNewIDWithName("file_storage", "audit")
	assert.Equal(t, "acme-research", cfg.Organization)
	assert.Equal(t, configopaque.String("hf_all_keys_secret_wxyz"), cfg.Token)
	assert.Equal(t, "https://hub.internal.example:8443/", cfg.Endpoint)
	assert.Equal(t, 90*time.Second, cfg.PollInterval)
	assert.Equal(t, "type:repo.create author:alice", cfg.Query)
	assert.Equal(t, &storageID, cfg.StorageID)
	assert.Equal(t, 168*time.Hour, cfg.InitialLookback)
	assert.Equal(t, int64(1048576), cfg.MaxResponseSize)
	assert.Equal(t, 250, cfg.BatchSize)
	assert.Equal(t, 30*time.Minute, cfg.LateArrivalWindow)
	assert.Equal(t, 2, cfg.MaxConcurrentPolls)
	assert.False(t, cfg.IncludeRaw)
	assert.True(t, cfg.DropSelfExports)
	assert.True(t, cfg.AllowInsecureHTTP)
	assert.Equal(t, 45*time.Second, cfg.HTTP.Timeout)
	assert.Equal(t, "http://proxy.internal.example:3128", cfg.HTTP.ProxyURL)
	assert.Equal(t, configcompression.TypeGzip, cfg.HTTP.Compression)
	assert.True(t, cfg.HTTP.TLS.InsecureSkipVerify)
	team, ok := cfg.HTTP.Headers.Get("X-Team")
	assert.True(t, ok)
	assert.Equal(t, configopaque.String("security"), team)
	assert.False(t, cfg.ResourceAttributes.ServiceName.Enabled)
	assert.True(t, cfg.ResourceAttributes.HuggingfaceOrganization.Enabled)
	assert.Equal(t, configretry.BackOffConfig{
		Enabled: true, InitialInterval: 2 * time.Second, MaxInterval: 20 * time.Second,
		MaxElapsedTime: 3 * time.Minute, Multiplier: 1.5, RandomizationFactor: 0.5,
	}, cfg.RetryOnFailure)
	assert.Equal(t, ipenrich.Config{
		CityDatabase:           "/var/lib/geoip/GeoLite2-City.mmdb",
		ASNDatabase:            "/var/lib/geoip/asn-ipv4.csv",
		ISPDatabase:            "/var/lib/geoip/GeoIP2-ISP.mmdb",
		ConnectionTypeDatabase: "/var/lib/geoip/GeoIP2-Connection-Type.mmdb",
		EnterpriseDatabase:     "/var/lib/geoip/GeoIP2-Enterprise.mmdb",
	}, cfg.IPEnrichment)
}

func TestConfigUnknownKeysAreRejected(t *testing.T) {
	for _, tt := range []struct{ name, key string }{
		{"unknown_top_level_key", "pol_interval"},
		{"unknown_http_key", "timeoutt"},
		{"unknown_enrichment_key", "city_db"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(t, tt.name)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.key)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	valid := func() *Config {
		cfg := createDefaultConfig().(*Config)
		cfg.Organization = "acme"
		cfg.Token = "hf_secret_token_abcd"
		return cfg
	}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr []string
	}{
		{name: "valid", mutate: func(*Config) {}},
		{name: "missing organization", mutate: func(c *Config) { c.Organization = "" }, wantErr: []string{`"organization" is required`}},
		{name: "organization with slash", mutate: func(c *Config) { c.Organization = "acme/models" }, wantErr: []string{`"organization" "acme/models" is not an organization name`}},
		{name: "organization as URL", mutate: func(c *Config) { c.Organization = "https://huggingface.co/acme" }, wantErr: []string{"is not an organization name"}},
		{name: "missing token", mutate: func(c *Config) { c.Token = "" }, wantErr: []string{`"token" is required: an organization admin's Hugging Face token`}},
		{name: "endpoint without scheme", mutate: func(c *Config) { c.Endpoint = "huggingface.co" }, wantErr: []string{`"endpoint" "huggingface.co" must be the Hub's base URL`}},
		{name: "endpoint ftp", mutate: func(c *Config) { c.Endpoint = "ftp://huggingface.co" }, wantErr: []string{"must be the Hub's base URL"}},
		{name: "endpoint with query", mutate: func(c *Config) { c.Endpoint = "https://huggingface.co/?q=x" }, wantErr: []string{"must not carry a query"}},
		{name: "endpoint with a secret in its query", mutate: func(c *Config) { c.Endpoint = "https://huggingface.co/?t=hunter2" },
			wantErr: []string{`"endpoint" "https://huggingface.co/" must not carry a query`}},
		{name: "endpoint with a secret in its fragment", mutate: func(c *Config) { c.Endpoint = "https://huggingface.co/#hunter2" }, wantErr: []string{"must not carry a query or fragment"}},
		{name: "endpoint that does not parse, with a secret in its query", mutate: func(c *Config) { c.Endpoint = "https://huggingface.co:port/?t=hunter2" },
			wantErr: []string{`"endpoint" "https://huggingface.co:port/" must be the Hub's base URL`}},
		{name: "endpoint with a '#' in its password", mutate: func(c *Config) { c.Endpoint = "https://alice:hunter2#x@huggingface.co" }, wantErr: []string{"(not shown"}},
		{name: "endpoint with a '?' in its password", mutate: func(c *Config) { c.Endpoint = "https://alice:hunter2?x@huggingface.co" }, wantErr: []string{"(not shown"}},
		{name: "endpoint with a '?' in a numeric password", mutate: func(c *Config) { c.Endpoint = "https://alice:123456?hunter2@huggingface.co" }, wantErr: []string{"(not shown"}},
		{name: "http endpoint set", mutate: func(c *Config) { c.HTTP.Endpoint = "https://x" }, wantErr: []string{`"http::endpoint" is not used`}},
		{name: "plain http to another host", mutate: func(c *Config) { c.Endpoint = "http://hub.internal.example:8080" },
			wantErr: []string{`"endpoint" "http://hub.internal.example:8080" is plain http`, "allow_insecure_http: true"}},
		{name: "plain http to another host, opted in", mutate: func(c *Config) { c.Endpoint, c.AllowInsecureHTTP = "http://hub.internal.example:8080", true }},
		{name: "plain http to 127.0.0.1", mutate: func(c *Config) { c.Endpoint = "http://127.0.0.1:8080" }},
		{name: "plain http to localhost", mutate: func(c *Config) { c.Endpoint = "http://localhost:3000" }},
		{name: "plain http to ::1", mutate: func(c *Config) { c.Endpoint = "http://[::1]:80" }},
		{name: "plain http to a name that only looks local", mutate: func(c *Config) { c.Endpoint = "http://127.0.0.1.nip.io" }, wantErr: []string{"is plain http"}},
		{name: "endpoint with user info", mutate: func(c *Config) { c.Endpoint = "https://user:hunter2@huggingface.co" }, wantErr: []string{`"endpoint" must not carry user information`}},
		{name: "endpoint with user info and another scheme", mutate: func(c *Config) { c.Endpoint = "ftp://hunter2@huggingface.co" }, wantErr: []string{`"endpoint" "ftp://huggingface.co" must be the Hub's base URL`}},
		{name: "endpoint with user info and a query", mutate: func(c *Config) { c.Endpoint = "https://u:hunter2@huggingface.co/?q=x" }, wantErr: []string{"must not carry a query"}},
		{name: "endpoint with user info that does not parse", mutate: func(c *Config) { c.Endpoint = "https://u:hunter2@huggingface.co:port" }, wantErr: []string{"must be the Hub's base URL"}},
		{name: "endpoint with user info and no scheme", mutate: func(c *Config) { c.Endpoint = "u:hunter2@huggingface.co" }, wantErr: []string{"must be the Hub's base URL"}},
		{name: "plain http to loopback through a proxy elsewhere", mutate: func(c *Config) {
			c.Endpoint, c.HTTP.ProxyURL = "http://127.0.0.1:8080", "http://u:hunter2@proxy.internal.example:3128"
		}, wantErr: []string{`"endpoint" is plain http and "http::proxy_url" is set`, "allow_insecure_http: true"}},
		{name: "plain http to loopback through a proxy elsewhere, opted in", mutate: func(c *Config) {
			c.Endpoint, c.HTTP.ProxyURL, c.AllowInsecureHTTP = "http://127.0.0.1:8080", "http://proxy.internal.example:3128", true
		}},
		{name: "plain http to loopback through a loopback proxy", mutate: func(c *Config) { c.Endpoint, c.HTTP.ProxyURL = "http://localhost:8080", "http://127.0.0.1:3128" }},
		{name: "a proxy URL that does not parse", mutate: func(c *Config) { c.HTTP.ProxyURL = "http://proxyuser:50%off-hunter2@proxy.internal.example:3128" },
			wantErr: []string{`"http::proxy_url" is not a valid URL (not shown`}},
		{name: "a proxy URL without a scheme", mutate: func(c *Config) { c.HTTP.ProxyURL = "alice:hunter2@proxy.internal.example:3128" },
			wantErr: []string{`"http::proxy_url" must be a URL with the scheme http, https or socks5 and a host, e.g. http://proxy.example:3128 (not shown`}},
		{name: "a proxy host and port alone", mutate: func(c *Config) { c.HTTP.ProxyURL = "proxy.internal.example:3128" },
			wantErr: []string{`"http::proxy_url" must be a URL with the scheme http, https or socks5`}},
		{name: "a socks5 proxy", mutate: func(c *Config) { c.HTTP.ProxyURL = "socks5://proxy.internal.example:1080" }},
		{name: "https through a proxy", mutate: func(c *Config) { c.HTTP.ProxyURL = "http://proxy.internal.example:3128" }},
		{name: "plain http to a .localhost name", mutate: func(c *Config) { c.Endpoint = "http://hub.localhost:8080" }, wantErr: []string{"is plain http"}},
		{name: "token with a trailing newline", mutate: func(c *Config) { c.Token = "hf_secret_token_abcd\n" }},
		{name: "token of white space only", mutate: func(c *Config) { c.Token = " \n" }, wantErr: []string{`"token" is required`}},
		{name: "token with inner white space", mutate: func(c *Config) { c.Token = "hf_secret_token_abcd hf_secret_token_abcd" }, wantErr: []string{`"token" has white space, a control character or a non-ASCII byte at position 21 of 41`}},
		{name: "token with a control character", mutate: func(c *Config) { c.Token = "hf_secret\x00token_abcd" }, wantErr: []string{`"token" has white space`}},
		{name: "token with a non-ASCII quote", mutate: func(c *Config) { c.Token = "\u201chf_secret_token_abcd\u201d" }, wantErr: []string{`"token" has white space`}},
		{name: "header with a newline", mutate: func(c *Config) { c.HTTP.Headers.Set("X-Team", "sec\nurity") }, wantErr: []string{`"http::headers" "X-Team" is not a valid HTTP header`}},
		{name: "Authorization in http::headers", mutate: func(c *Config) { c.HTTP.Headers.Set("authorization", "Bearer hf_secret_token_abcd") },
			wantErr: []string{`"http::headers" sets "authorization", which would replace the Authorization header that carries "token"`}},
		{name: "User-Agent in http::headers", mutate: func(c *Config) { c.HTTP.Headers.Set("user-agent", "curl/8.0") },
			wantErr: []string{`"http::headers" sets "user-agent", which would replace the receiver's User-Agent`}},
		{name: "Accept-Encoding in http::headers", mutate: func(c *Config) { c.HTTP.Headers.Set("accept-encoding", "br, gzip") },
			wantErr: []string{`"http::headers" sets "accept-encoding"`, "remove the header"}},
		{name: "an authenticator in http::auth", mutate: func(c *Config) {
			c.HTTP.Auth = configoptional.Some(configauth.Config{AuthenticatorID: component.MustNewID("bearertokenauth")})
		}, wantErr: []string{`"http::auth" (authenticator "bearertokenauth") would replace the Authorization header that carries "token"`}},
		{name: "no HTTP timeout", mutate: func(c *Config) { c.HTTP.Timeout = 0 }, wantErr: []string{`"http::timeout" must be positive (got 0s)`, "the default is 2m0s"}},
		{name: "negative HTTP timeout", mutate: func(c *Config) { c.HTTP.Timeout = -time.Second }, wantErr: []string{`"http::timeout" must be positive`}},
		{name: "poll interval too short", mutate: func(c *Config) { c.PollInterval = 100 * time.Millisecond }, wantErr: []string{`"poll_interval" must be at least 1s`}},
		{name: "query with newline", mutate: func(c *Config) { c.Query = "type:a\ntype:b" }, wantErr: []string{`"query" must be a single line`}},
		{name: "negative lookback", mutate: func(c *Config) { c.InitialLookback = -time.Hour }, wantErr: []string{`"initial_lookback" must not be negative`}},
		{name: "zero max response", mutate: func(c *Config) { c.MaxResponseSize = 0 }, wantErr: []string{`"max_response_size" must be a positive`}},
		{name: "zero batch", mutate: func(c *Config) { c.BatchSize = 0 }, wantErr: []string{`"batch_size" must be between 1 and 100000`}},
		{name: "huge batch", mutate: func(c *Config) { c.BatchSize = 100_001 }, wantErr: []string{`"batch_size" must be between`}},
		{name: "no concurrent polls", mutate: func(c *Config) { c.MaxConcurrentPolls = 0 }, wantErr: []string{`"max_concurrent_polls" must be at least 1`}},
		{name: "negative late window", mutate: func(c *Config) { c.LateArrivalWindow = -time.Second }, wantErr: []string{`"late_arrival_window" must not be negative`}},
		{name: "retry elapsed below interval", mutate: func(c *Config) { c.RetryOnFailure.MaxElapsedTime = time.Second }, wantErr: []string{`"retry_on_failure"`}},
		{name: "retries without a pause", mutate: func(c *Config) { c.RetryOnFailure.InitialInterval = 0 },
			wantErr: []string{`"retry_on_failure::initial_interval" must be positive (got 0s)`, "enabled: false"}},
		{name: "no retries, no pause", mutate: func(c *Config) { c.RetryOnFailure.Enabled, c.RetryOnFailure.InitialInterval = false, 0 }},
		{name: "every problem at once", mutate: func(c *Config) {
			c.Organization, c.Token, c.PollInterval, c.BatchSize = "", "", 0, 0
		}, wantErr: []string{`"organization"`, `"token"`, `"poll_interval"`, `"batch_size"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.mutate(cfg)
			err := confmap.Validate(cfg)
			if len(tt.wantErr) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
			assert.NotContains(t, err.Error(), "hf_secret_token_abcd")
			assert.NotContains(t, err.Error(), "hunter2")
			assert.NotContains(t, err.Error(), "alice")
		})
	}
}
