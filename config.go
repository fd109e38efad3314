package huggingfaceauditreceiver // import "github.com/hfauditlog/huggingfaceauditreceiver"

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
	"golang.org/x/net/http/httpguts"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/ipenrich"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/metadata"
)

const (
	defaultEndpoint          = "https://huggingface.co"
	defaultPollInterval      = 5 * time.Minute
	defaultBatchSize         = 1000
	defaultMaxResponseSize   = 512 << 20 // the 100,000-event window is far below this
	defaultLateArrivalWindow = time.Hour
	defaultHTTPTimeout       = 2 * time.Minute
	minPollInterval          = time.Second
	maxBatchSize             = 100_000
)

// Config is the receiver's configuration. The keys organization, token,
// endpoint, poll_interval, query, storage and initial_lookback are a fixed
// contract (see README).
type Config struct {
	// Organization is the Hugging Face organization whose audit log is read.
	Organization string `mapstructure:"organization"`
	// Token is an organization admin's Hub token, or a service account's.
	// Never logged.
	Token configopaque.String `mapstructure:"token"`
	// Endpoint is the base URL of the Hub.
	Endpoint string `mapstructure:"endpoint"`
	// PollInterval is the time between two exports; the first one runs at start.
	PollInterval time.Duration `mapstructure:"poll_interval"`
	// Query is passed as the export's `q` search filter.
	Query string `mapstructure:"query"`
	// StorageID names a storage extension that keeps the cursor across restarts.
	StorageID *component.ID `mapstructure:"storage"`
	// InitialLookback limits the first run (no cursor yet) to events newer than
	// now minus this; 0 backfills everything the export holds.
	InitialLookback time.Duration `mapstructure:"initial_lookback"`

	// HTTP holds the standard client settings (timeout, proxy, TLS, headers,
	// compression). It is a named sub-key, not squashed: a squashed
	// confighttp.ClientConfig takes over decoding of the whole struct.
	HTTP confighttp.ClientConfig `mapstructure:"http"`
	// RetryOnFailure bounds the retries within one poll, both of failed export
	// requests (429, 5xx, timeouts, cut bodies) and of batches the pipeline
	// refused with a non-permanent error.
	RetryOnFailure configretry.BackOffConfig `mapstructure:"retry_on_failure"`
	// MaxResponseSize is the largest export body read, in bytes.
	MaxResponseSize int64 `mapstructure:"max_response_size"`
	// BatchSize is the largest number of records handed to the pipeline at once;
	// the cursor is saved after each accepted batch.
	BatchSize int `mapstructure:"batch_size"`
	// LateArrivalWindow is how far behind the newest emitted event an event may
	// first appear in the export and still be emitted. The cursor remembers the
	// IDs of the events emitted within this window.
	LateArrivalWindow time.Duration `mapstructure:"late_arrival_window"`
	// IncludeRaw adds the original event JSON as huggingface.raw.
	IncludeRaw bool `mapstructure:"include_raw"`
	// DropSelfExports drops the receiver's own org.audit_log.export events
	// instead of emitting them marked. The first from each client address
	// is still emitted, so the addresses stay on record.
	DropSelfExports bool `mapstructure:"drop_self_exports"`
	// IPEnrichment names local IP databases used to enrich the event's ip.
	IPEnrichment ipenrich.Config `mapstructure:"ip_enrichment"`
	// MaxConcurrentPolls is how many huggingfaceaudit receivers of the whole
	// collector may read an export and emit its new events at the same time;
	// the others wait. It bounds the memory of many organizations
	// backfilling at once. Process-wide: the smallest value configured on
	// any instance applies to all.
	MaxConcurrentPolls int `mapstructure:"max_concurrent_polls"`
	// ResourceAttributes turns the records' resource attributes on or off.
	ResourceAttributes metadata.ResourceAttributesConfig `mapstructure:"resource_attributes"`
	// AllowInsecureHTTP permits a plain http:// endpoint on a host that is not
	// loopback, which sends the token unencrypted. Off by default.
	AllowInsecureHTTP bool `mapstructure:"allow_insecure_http"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var (
	_ component.Config    = (*Config)(nil)
	_ confmap.Unmarshaler = (*Config)(nil)
)

// strictHTTPConfig has the fields of confighttp.ClientConfig without its
// Unmarshal method, which ignores unknown keys (it expects to be squashed).
type strictHTTPConfig confighttp.ClientConfig

// Unmarshal decodes the configuration and rejects unknown keys everywhere,
// the http section included.
func (cfg *Config) Unmarshal(conf *confmap.Conf) error {
	if err := conf.Unmarshal(cfg); err != nil {
		return err
	}
	if !conf.IsSet("http") {
		return nil
	}
	httpConf, err := conf.Sub("http")
	if err != nil {
		return err
	}
	probe := strictHTTPConfig(confighttp.NewDefaultClientConfig())
	if err := httpConf.Unmarshal(&probe); err != nil {
		return fmt.Errorf("http: %w", err)
	}
	return nil
}

func createDefaultConfig() component.Config {
	httpCfg := confighttp.NewDefaultClientConfig()
	httpCfg.Timeout = defaultHTTPTimeout
	return &Config{
		Endpoint:           defaultEndpoint,
		PollInterval:       defaultPollInterval,
		HTTP:               httpCfg,
		RetryOnFailure:     configretry.NewDefaultBackOffConfig(),
		MaxResponseSize:    defaultMaxResponseSize,
		BatchSize:          defaultBatchSize,
		LateArrivalWindow:  defaultLateArrivalWindow,
		IncludeRaw:         true,
		MaxConcurrentPolls: defaultMaxConcurrentPolls,
		ResourceAttributes: metadata.DefaultResourceAttributesConfig(),
	}
}

// The Hub's organization names: letters, digits, '-', '_' and '.'.
var organizationPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// reservedHeaders are the headers the receiver sets itself, with why
// http::headers may not replace them.
var reservedHeaders = map[string]string{
	// It carries "token".
	"Authorization": `which would replace the Authorization header that carries "token"; remove the header and set the Hub token in "token"`,
	// The receiver reads gzip or plain bodies only: another encoding (br,
	// deflate) would fail every poll.
	"Accept-Encoding": `which would replace the receiver's gzip, the only encoding it reads; remove the header`,
	// The Hub records it with each export: it is how the receiver's own
	// export events are recognised (see self_exports).
	"User-Agent": `which would replace the receiver's User-Agent, by which its own export events are recognised; remove the header`,
}

// Validate reports every problem at once.
func (cfg *Config) Validate() error {
	var errs []error
	switch {
	case cfg.Organization == "":
		errs = append(errs, errors.New(`"organization" is required: the name of the Hugging Face organization, as in https://huggingface.co/ORGANIZATION`))
	case !organizationPattern.MatchString(cfg.Organization):
		errs = append(errs, fmt.Errorf(`"organization" %q is not an organization name (letters, digits, '-', '_', '.'; no slashes or URL)`, cfg.Organization))
	}
	if err := validateToken(cfg.Token); err != nil {
		errs = append(errs, err)
	}
	if err := validateEndpoint(cfg.Endpoint, cfg.AllowInsecureHTTP); err != nil {
		errs = append(errs, err)
	} else if err := validateProxy(cfg.Endpoint, cfg.HTTP.ProxyURL, cfg.AllowInsecureHTTP); err != nil {
		errs = append(errs, err)
	}
	// confighttp would fail at start with an error that quotes the URL,
	// password included.
	if cfg.HTTP.ProxyURL != "" {
		if p, err := url.ParseRequestURI(cfg.HTTP.ProxyURL); err != nil {
			errs = append(errs, errors.New(`"http::proxy_url" is not a valid URL (not shown: it may hold a password); percent-encode '%', '#', '/', '@' and spaces in its user information`))
		} else if !slices.Contains([]string{"http", "https", "socks5", "socks5h"}, p.Scheme) || p.Host == "" {
			// Without a scheme, "proxy:3128" parses as the scheme "proxy"
			// and no host: every request failed dialling ":0".
			errs = append(errs, errors.New(`"http::proxy_url" must be a URL with the scheme http, https or socks5 and a host, e.g. http://proxy.example:3128 (not shown: it may hold a password)`))
		}
	}
	for name, value := range cfg.HTTP.Headers.Iter {
		if !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(string(value)) {
			errs = append(errs, fmt.Errorf(`"http::headers" %q is not a valid HTTP header (name or value has white space or control characters)`, name))
		}
		if why, ok := reservedHeaders[http.CanonicalHeaderKey(name)]; ok {
			errs = append(errs, fmt.Errorf(`"http::headers" sets %q, %s`, name, why))
		}
	}
	// An authenticator also rewrites the Authorization header.
	if cfg.HTTP.Auth.HasValue() {
		errs = append(errs, fmt.Errorf(`"http::auth" (authenticator %q) would replace the Authorization header that carries "token"; remove "http::auth" and set the Hub token in "token"`, cfg.HTTP.Auth.Get().AuthenticatorID))
	}
	// Without a timeout a stalled connection holds a poll, and its slot, forever.
	if cfg.HTTP.Timeout <= 0 {
		errs = append(errs, fmt.Errorf(`"http::timeout" must be positive (got %s): with no timeout a stalled connection hangs the poll; the default is %s`, cfg.HTTP.Timeout, defaultHTTPTimeout))
	}
	if cfg.HTTP.Endpoint != "" {
		errs = append(errs, errors.New(`"http::endpoint" is not used: set the Hub's base URL with the top-level "endpoint" key`))
	}
	if cfg.PollInterval < minPollInterval {
		errs = append(errs, fmt.Errorf(`"poll_interval" must be at least %s (got %s); the Hub counts its rate limit over 5-minute windows, 5m is the default`, minPollInterval, cfg.PollInterval))
	}
	if strings.ContainsAny(cfg.Query, "\r\n") {
		errs = append(errs, errors.New(`"query" must be a single line of the Hub's audit-log search syntax, e.g. "type:repo.create"`))
	}
	if cfg.InitialLookback < 0 {
		errs = append(errs, fmt.Errorf(`"initial_lookback" must not be negative (got %s); 0 backfills everything the export holds`, cfg.InitialLookback))
	}
	if cfg.MaxResponseSize <= 0 {
		errs = append(errs, fmt.Errorf(`"max_response_size" must be a positive number of bytes (got %d)`, cfg.MaxResponseSize))
	}
	if cfg.BatchSize < 1 || cfg.BatchSize > maxBatchSize {
		errs = append(errs, fmt.Errorf(`"batch_size" must be between 1 and %d (got %d)`, maxBatchSize, cfg.BatchSize))
	}
	if cfg.MaxConcurrentPolls < 1 {
		errs = append(errs, fmt.Errorf(`"max_concurrent_polls" must be at least 1 (got %d); it is shared by every huggingfaceaudit receiver of the collector`, cfg.MaxConcurrentPolls))
	}
	if cfg.LateArrivalWindow < 0 {
		errs = append(errs, fmt.Errorf(`"late_arrival_window" must not be negative (got %s)`, cfg.LateArrivalWindow))
	}
	// With no initial interval the backoff stays at zero: a failing Hub
	// would be asked again without pause for max_elapsed_time.
	if cfg.RetryOnFailure.Enabled && cfg.RetryOnFailure.InitialInterval <= 0 {
		errs = append(errs, fmt.Errorf(`"retry_on_failure::initial_interval" must be positive (got %s): with none, retries follow each other without pause; to turn retries off set enabled: false`, cfg.RetryOnFailure.InitialInterval))
	}
	if err := cfg.RetryOnFailure.Validate(); err != nil {
		errs = append(errs, fmt.Errorf(`"retry_on_failure": %w`, err))
	}
	return errors.Join(errs...)
}

// token is the configured token without surrounding white space: a token
// read from a file (a Kubernetes secret, ${file:...}) often ends in a newline.
func (cfg *Config) token() string {
	return strings.TrimSpace(string(cfg.Token))
}

// validateToken accepts what can travel in an Authorization header: the
// Hub's tokens are printable ASCII without spaces. The token itself is never
// part of the message.
func validateToken(token configopaque.String) error {
	t := strings.TrimSpace(string(token))
	if t == "" {
		return errors.New(`"token" is required: an organization admin's Hugging Face token with read access to the organization, or a service account's token, e.g. token: ${env:HF_TOKEN}`)
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] >= 0x7f {
			return fmt.Errorf(`"token" has white space, a control character or a non-ASCII byte at position %d of %d; copy the token again (only surrounding white space is removed)`, i+1, len(t))
		}
	}
	return nil
}

func validateEndpoint(endpoint string, allowInsecureHTTP bool) error {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf(`"endpoint" %s must be the Hub's base URL with http or https, e.g. %s`, endpointForMessage(endpoint, u, err), defaultEndpoint)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf(`"endpoint" %s must not carry a query or fragment; use "query" for the search filter`, endpointForMessage(endpoint, u, err))
	}
	if u.User != nil {
		return fmt.Errorf(`"endpoint" must not carry user information; the token goes in "token"`)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) && !allowInsecureHTTP {
		return fmt.Errorf(`"endpoint" %q is plain http on a host that is not loopback: the token would travel unencrypted; use https, or set allow_insecure_http: true if the network is trusted`, endpoint)
	}
	return nil
}

// validateProxy: plain http to a loopback endpoint keeps the token on the
// host, unless http::proxy_url sends every request (loopback too) to a proxy
// elsewhere, which then reads it. The proxy URL may hold credentials: it is
// not shown.
func validateProxy(endpoint, proxyURL string, allowInsecureHTTP bool) error {
	if proxyURL == "" || allowInsecureHTTP {
		return nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "http" {
		return nil
	}
	if p, err := url.Parse(proxyURL); err == nil && isLoopback(p.Hostname()) {
		return nil
	}
	return errors.New(`"endpoint" is plain http and "http::proxy_url" is set: the proxy would read the token unencrypted; use https, or set allow_insecure_http: true if the network is trusted`)
}

// endpointForMessage quotes the endpoint for an error message without its
// user information, query and fragment, which may hold a password or a
// token. An endpoint with an '@' anywhere else (one that does not parse, or
// whose password holds a '#' or '?' that moved the '@' out of the user
// information) is not shown at all.
func endpointForMessage(endpoint string, u *url.URL, parseErr error) string {
	const notShown = "(not shown: it has an '@', maybe user information)"
	if strings.Contains(endpoint, "@") && (parseErr != nil || u.User == nil) {
		return notShown
	}
	var shown string
	if parseErr != nil {
		shown, _, _ = strings.Cut(endpoint, "?")
		shown, _, _ = strings.Cut(shown, "#")
	} else {
		redacted := *u
		redacted.User = nil
		redacted.RawQuery, redacted.ForceQuery, redacted.Fragment, redacted.RawFragment = "", false, "", ""
		shown = redacted.String()
	}
	if strings.Contains(shown, "@") {
		return notShown
	}
	return strconv.Quote(shown)
}

// isLoopback: "localhost" or a loopback IP address (no name resolution). A
// name under .localhost is not: Go resolves it through DNS, and
// HTTP_PROXY sends it to the proxy, so the token could leave the host.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
