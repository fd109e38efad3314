package huggingfaceauditreceiver

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/metadatatest"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

func TestRateLimitIsHonoured(t *testing.T) {
	ctx := context.Background()

	t.Run("waits the longer of RateLimit t= and Retry-After, then succeeds", func(t *testing.T) {
		h := onSim(t, simulator.Options{InitialEvents: 10, NoSelfExport: true, RateLimitReset: time.Second, RetryAfter: 2 * time.Second})
		r, _ := h.start(func(c *Config) { c.RetryOnFailure.MaxElapsedTime = 10 * time.Second })
		require.NoError(t, h.sim.SetFault(simulator.Fault429, 1))
		start := time.Now()
		r.poll(ctx)
		assert.GreaterOrEqual(t, time.Since(start), 2*time.Second, "never sooner than Retry-After")
		assert.Equal(t, 2, h.sim.Calls())
		assert.Len(t, h.next.accepted(), 10)
		metadatatest.AssertEqualReceiverHuggingfaceauditHTTPErrors(t, h.tel, points(1, "class", classRateLimited), ignoreTime)
	})

	t.Run("a reset beyond the retry budget defers the next poll", func(t *testing.T) {
		h := onSim(t, simulator.Options{InitialEvents: 10, NoSelfExport: true, RateLimitReset: 300 * time.Second, RetryAfter: -1})
		r, _ := h.start()
		require.NoError(t, h.sim.SetFault(simulator.Fault429, 1))
		r.poll(ctx)
		assert.Equal(t, 1, h.sim.Calls())
		r.poll(ctx)
		assert.Equal(t, 1, h.sim.Calls(), "no request before the window resets")
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
