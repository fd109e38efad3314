package huggingfaceauditreceiver

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

// Every failure mode of the Hub, served by the simulator: what the receiver
// logs, counts and reports, that the cursor holds, and that the token never
// shows up in a log line.
func TestHTTPErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		opts        simulator.Options
		fault       string
		faultTimes  int
		mutate      func(*Config)
		wantClass   string
		wantLog     string
		wantStatus  componentstatus.Status
		wantCalls   int // export calls in the poll (retries included); 0: not checked
		recoverable bool
	}{
		{name: "401 invalid token", mutate: func(c *Config) { c.Token = "hf_wrong_secret_token_Pq3r" },
			wantClass: classUnauthorized, wantLog: "401 from the Hub: the token is missing, invalid or expired", wantStatus: componentstatus.StatusPermanentError, wantCalls: 1},
		{name: "403 missing permission", opts: simulator.Options{Forbidden: true},
			wantClass: classForbidden, wantLog: "403 from the Hub: the token needs the org.auditLog.write permission on demo-org", wantStatus: componentstatus.StatusPermanentError, wantCalls: 1},
		{name: "404 unknown organization", mutate: func(c *Config) { c.Organization = "no-such-org" },
			wantClass: classNotFound, wantLog: `404 from the Hub: no organization "no-such-org"`, wantStatus: componentstatus.StatusPermanentError, wantCalls: 1},
		{name: "500 retried within the poll", fault: simulator.Fault500, faultTimes: 2,
			wantClass: classServer, wantStatus: componentstatus.StatusOK, wantCalls: 3, recoverable: true},
		{name: "502 until the budget is spent", fault: simulator.Fault502,
			wantClass: classServer, wantLog: "502 from the Hub", wantStatus: componentstatus.StatusRecoverableError},
		{name: "cut body retried", fault: simulator.FaultCut, faultTimes: 1,
			wantClass: classTruncated, wantStatus: componentstatus.StatusOK, wantCalls: 2, recoverable: true},
		{name: "malformed body fails the poll, not retried", fault: simulator.FaultMalformed,
			wantClass: classMalformed, wantLog: "is not valid JSON", wantStatus: componentstatus.StatusRecoverableError, wantCalls: 1},
		{name: "not an array", fault: simulator.FaultWrongType,
			wantClass: classMalformed, wantLog: "is not a JSON array", wantStatus: componentstatus.StatusRecoverableError, wantCalls: 1},
		{name: "slow answer times out and is retried", fault: simulator.FaultSlow, faultTimes: 1,
			opts:      simulator.Options{SlowDelay: 2 * time.Second},
			mutate:    func(c *Config) { c.HTTP.Timeout = 100 * time.Millisecond },
			wantClass: classTimeout, wantStatus: componentstatus.StatusOK, wantCalls: 2, recoverable: true},
		{name: "body over max_response_size", mutate: func(c *Config) { c.MaxResponseSize = 1000 },
			wantClass: classTooLarge, wantLog: "larger than max_response_size (1000 bytes)", wantStatus: componentstatus.StatusRecoverableError, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.InitialEvents = 10
			tt.opts.NoSelfExport = true
			sim, url := newSim(t, tt.opts)
			h := newHarness(t)
			cfg := testConfig(url)
			if tt.mutate != nil {
				tt.mutate(cfg)
			}
			r, _ := h.start(cfg)
			if tt.fault != "" {
				require.NoError(t, sim.SetFault(tt.fault, tt.faultTimes))
			}
			r.poll(ctx)

			assert.Positive(t, h.counter("http_errors", "class", tt.wantClass))
			if tt.wantCalls > 0 {
				assert.Equal(t, tt.wantCalls, sim.Calls())
			}
			require.NotNil(t, h.lastStatus())
			assert.Equal(t, tt.wantStatus, h.lastStatus().Status())
			if tt.wantLog != "" {
				assert.Contains(t, h.logText(), tt.wantLog)
			}
			if tt.recoverable {
				assert.Equal(t, sim.EventIDs(), h.next.accepted(), "a retried failure still delivers the poll")
			} else {
				assert.Empty(t, h.next.accepted())
				assert.Nil(t, storedCursorOf(t, r), "the cursor stays where it was")
			}
			assert.NotContains(t, h.logText(), string(cfg.Token), "the token never appears in a log line")
			assert.NotContains(t, h.logText(), testToken)
		})
	}
}

func TestRateLimitIsHonoured(t *testing.T) {
	ctx := context.Background()

	t.Run("waits the longer of RateLimit t= and Retry-After, then succeeds", func(t *testing.T) {
		sim, url := newSim(t, simulator.Options{InitialEvents: 10, NoSelfExport: true, RateLimitReset: time.Second, RetryAfter: 2 * time.Second})
		h := newHarness(t)
		cfg := testConfig(url)
		cfg.RetryOnFailure.MaxElapsedTime = 10 * time.Second
		r, _ := h.start(cfg)
		require.NoError(t, sim.SetFault(simulator.Fault429, 1))
		start := time.Now()
		r.poll(ctx)
		assert.GreaterOrEqual(t, time.Since(start), 2*time.Second, "never sooner than Retry-After")
		assert.Equal(t, 2, sim.Calls())
		assert.Len(t, h.next.accepted(), 10)
		assert.Equal(t, int64(1), h.counter("http_errors", "class", classRateLimited))
	})

	t.Run("a reset beyond the retry budget defers the next poll", func(t *testing.T) {
		sim, url := newSim(t, simulator.Options{InitialEvents: 10, NoSelfExport: true, RateLimitReset: 300 * time.Second, RetryAfter: -1})
		h := newHarness(t)
		r, _ := h.start(testConfig(url))
		require.NoError(t, sim.SetFault(simulator.Fault429, 1))
		r.poll(ctx)
		assert.Equal(t, 1, sim.Calls())
		r.poll(ctx)
		assert.Equal(t, 1, sim.Calls(), "no request before the window resets")
		assert.Equal(t, componentstatus.StatusRecoverableError, h.lastStatus().Status())
		r.notBefore = time.Time{} // the window has reset
		r.poll(ctx)
		assert.Len(t, h.next.accepted(), 10)
		assert.Equal(t, componentstatus.StatusOK, h.lastStatus().Status())
	})
}

func TestRateLimitWait(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name      string
		rateLimit string
		retry     string
		want      time.Duration
	}{
		{"none", "", "", 0},
		{"RateLimit only", `"api";r=0;t=55`, "", 55 * time.Second},
		{"Retry-After only", "", "7", 7 * time.Second},
		{"the longer wins (RateLimit)", `"api";r=0;t=55`, "7", 55 * time.Second},
		{"the longer wins (Retry-After)", `"api";r=0;t=5`, "70", 70 * time.Second},
		{"Retry-After as a date", "", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"several policies", `"api";r=0;t=30, "resolvers";r=10;t=200`, "", 200 * time.Second},
		{"garbage", `"api";r=x;t=soon`, "later", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.rateLimit != "" {
				h.Set("RateLimit", tt.rateLimit)
			}
			if tt.retry != "" {
				h.Set("Retry-After", tt.retry)
			}
			assert.Equal(t, tt.want, rateLimitWait(h, now))
		})
	}
}
