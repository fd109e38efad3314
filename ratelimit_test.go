package huggingfaceauditreceiver

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/metadatatest"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

func rateLimitHeaders(rateLimit, retryAfter string) http.Header {
	h := http.Header{}
	if rateLimit != "" {
		h.Set("RateLimit", rateLimit)
	}
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	return h
}

// How long a 429 makes us wait.
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
		{"Retry-After as a past date", "", now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"several policies: the exhausted one, not the longest", `"api";r=0;t=30, "resolvers";r=10;t=200`, "", 30 * time.Second},
		{"several policies: the exhausted one listed last", `"resolvers";r=10;t=200, "api";r=0;t=30`, "", 30 * time.Second},
		{"only the api policy governs the export", `"api";r=0;t=30, "pages";r=0;t=90, "resolvers";r=10;t=200`, "", 30 * time.Second},
		{"the api policy's reset, r missing", `"api";t=30, "resolvers";r=10;t=200`, "", 30 * time.Second},
		{"another policy exhausted, no api item", `"resolvers";r=0;t=200`, "", 0},
		{"an unquoted name", `api;r=0;t=20`, "", 20 * time.Second},
		{"a reset too large for a Duration saturates", `"api";r=0;t=99999999999999`, "", time.Duration(math.MaxInt64)},
		{"white space and other parameters", ` "api" ; r=0 ; t=12 ; pk=:abc=: `, "", 12 * time.Second},
		{"garbage", `"api";r=x;t=soon`, "later", 0},
		{"negative", `"api";r=0;t=-5`, "-5", 0},
		{"a Retry-After too large for an int is the longest wait, not none", "", "99999999999999999999", time.Duration(math.MaxInt64)},
		{"a reset too large for an int is the longest wait, not none", `"api";r=0;t=99999999999999999999`, "", time.Duration(math.MaxInt64)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, rateLimitWait(rateLimitHeaders(tt.rateLimit, tt.retry), now))
		})
	}
}

// A RateLimit header sent as several lines is one list: the api item on
// the second line counts.
func TestRateLimitOnSeveralLines(t *testing.T) {
	h := http.Header{}
	h.Add("RateLimit", `"resolvers";r=900;t=280`)
	h.Add("RateLimit", `"api";r=0;t=40`)
	assert.Equal(t, 40*time.Second, quotaReset(h))
	assert.Equal(t, 40*time.Second, rateLimitWait(h, time.Now()))
}

// How long a 5xx makes us wait: Retry-After, or the reset of a used-up
// quota; a quota that is left is no reason to wait.
func TestServerErrorWait(t *testing.T) {
	now := time.Now()
	assert.Equal(t, 9*time.Second, serverErrorWait(rateLimitHeaders(`"api";r=0;t=9`, ""), now))
	assert.Zero(t, serverErrorWait(rateLimitHeaders(`"api";r=500;t=200`, ""), now))
	assert.Equal(t, 3*time.Second, serverErrorWait(rateLimitHeaders(`"api";r=500;t=200`, "3"), now))
	assert.Zero(t, serverErrorWait(rateLimitHeaders("", ""), now))
}

// How long a successful response makes the next poll wait.
func TestQuotaReset(t *testing.T) {
	for _, tt := range []struct {
		name      string
		rateLimit string
		want      time.Duration
	}{
		{"no header", "", 0},
		{"quota left", `"api";r=120;t=40`, 0},
		{"quota used up", `"api";r=0;t=40`, 40 * time.Second},
		{"one of several policies used up", `"api";r=0;t=40, "resolvers";r=900;t=280`, 40 * time.Second},
		{"r without t", `"api";r=0`, 0},
		{"another policy used up", `"resolvers";r=0;t=280, "api";r=5;t=280`, 0},
		{"only another policy", `"pages";r=0;t=40`, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, quotaReset(rateLimitHeaders(tt.rateLimit, "")))
		})
	}
}

// What a 429 says in the log.
func TestRateLimitedError(t *testing.T) {
	for _, tt := range []struct {
		name, rateLimit, retry string
		want                   string
		wantWait               time.Duration
	}{
		{name: "no headers", want: "429 from the Hub: rate limited, backing off (the Hub sent no RateLimit or Retry-After)"},
		{name: "RateLimit", rateLimit: `"api";r=0;t=55`, want: "429 from the Hub: rate limited for 55s", wantWait: 55 * time.Second},
		{name: "Retry-After", retry: "3", want: "429 from the Hub: rate limited for 3s", wantWait: 3 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := rateLimitedError(rateLimitHeaders(tt.rateLimit, tt.retry), "")
			assert.Equal(t, tt.want, err.Error())
			assert.Equal(t, tt.wantWait, err.wait)
			assert.NotContains(t, err.Error(), " 0s")
		})
	}
}

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
		metadatatest.AssertEqualReceiverHuggingfaceauditFailedRequests(t, h.tel, points(1, "error.type", classRateLimited), ignoreTime)
	})

	t.Run("a reset beyond the retry budget holds the next poll until it", func(t *testing.T) {
		h := onSim(t, simulator.Options{InitialEvents: 10, NoSelfExport: true, RateLimitReset: 2 * time.Second, RetryAfter: -1})
		r, _ := h.start() // retry budget 200ms
		require.NoError(t, h.sim.SetFault(simulator.Fault429, 1))
		r.poll(ctx)
		limited := time.Now()
		assert.Equal(t, 1, h.sim.Calls())
		assert.Equal(t, componentstatus.StatusRecoverableError, h.lastStatus().Status())
		assert.Len(t, h.logs.FilterMessage("Deferring the next poll").All(), 1)
		r.poll(ctx)
		assert.GreaterOrEqual(t, time.Since(limited), 1500*time.Millisecond, "no request before the window resets")
		assert.Equal(t, 2, h.sim.Calls())
		assert.Len(t, h.next.accepted(), 10)
		assert.Equal(t, componentstatus.StatusOK, h.lastStatus().Status())
	})

	t.Run("a 200 showing the quota used up holds the next poll until the reset", func(t *testing.T) {
		h := onFakeHub(t)
		h.hub.set(ev("6650a1b2c3d4e5f60000000a", "2026-11-20T10:00:00Z"))
		h.hub.setHeader("RateLimit", `"api";r=0;t=2, "resolvers";r=900;t=280`)
		r, _ := h.start()
		r.poll(ctx)
		done := time.Now()
		assert.Len(t, h.next.accepted(), 1)
		h.hub.setHeader("RateLimit", `"api";r=999;t=300`)
		r.poll(ctx)
		assert.GreaterOrEqual(t, time.Since(done), 1500*time.Millisecond, "waited for the exhausted policy's reset")
		assert.Less(t, time.Since(done), 60*time.Second, "not for the other policy's")
		assert.Equal(t, 2, h.hub.callCount(), "no request spent on a 429")
		assert.Len(t, h.logs.FilterMessage("Deferring the next poll").All(), 1, "logged once")
		assert.Equal(t, []componentstatus.Status{componentstatus.StatusOK}, h.statusSequence())
	})

	t.Run("a 503 with Retry-After is retried no sooner than it asks", func(t *testing.T) {
		h := onFakeHub(t)
		h.hub.set(ev("6650a1b2c3d4e5f60000000a", "2026-11-20T10:00:00Z"))
		h.hub.setStatus(http.StatusServiceUnavailable)
		h.hub.setHeader("Retry-After", "2")
		r, _ := h.start(func(c *Config) { c.RetryOnFailure.MaxElapsedTime = 10 * time.Second })
		go func() {
			require.Eventually(t, func() bool { return h.hub.callCount() > 0 }, 5*time.Second, time.Millisecond)
			h.hub.setStatus(0)
		}()
		start := time.Now()
		r.poll(ctx)
		assert.GreaterOrEqual(t, time.Since(start), 2*time.Second, "never sooner than Retry-After")
		assert.Equal(t, 2, h.hub.callCount())
		assert.Len(t, h.next.accepted(), 1)
		assert.Contains(t, h.logText(), "503 from the Hub: server error, the Hub asks to retry in 2s")
	})

	t.Run("Shutdown ends the wait", func(t *testing.T) {
		h := onFakeHub(t)
		r, _ := h.start()
		r.deferPolls(time.Hour, "test")
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		start := time.Now()
		r.poll(cctx)
		assert.Less(t, time.Since(start), time.Second)
		assert.Zero(t, h.hub.callCount())
	})
}

// No silent stall: a wait the Hub asks for is capped at max(poll_interval,
// 15m), logged once with its reason, and a wait longer than poll_interval
// shows as a recoverable status until a poll succeeds after it.
func TestNoSilentStall(t *testing.T) {
	ctx := context.Background()
	deferredBy := func(r *auditReceiver) time.Duration { return time.Until(r.notBefore) }

	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		asked      time.Duration
	}{
		{"Retry-After of 30 days on a 429", http.StatusTooManyRequests, "2592000", 720 * time.Hour},
		{"Retry-After too large for an int on a 503", http.StatusServiceUnavailable, "99999999999999999999", math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := onFakeHub(t)
			h.hub.setStatus(tc.status)
			h.hub.setHeader("Retry-After", tc.retryAfter)
			r, _ := h.start(func(c *Config) { c.PollInterval = 5 * time.Minute })
			r.poll(ctx)
			assert.Equal(t, 1, h.hub.callCount(), "not retried within the poll: the wait is beyond the retry budget")
			wait := deferredBy(r)
			assert.LessOrEqual(t, wait, 15*time.Minute, "capped at max(poll_interval, 15m)")
			assert.Greater(t, wait, 14*time.Minute)
			logged := h.logs.FilterMessage("Deferring the next poll").All()
			require.Len(t, logged, 1)
			assert.Equal(t, tc.asked, logged[0].ContextMap()["asked"])
			assert.Contains(t, logged[0].ContextMap()["reason"], fmt.Sprintf("%d from the Hub", tc.status))
			assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, h.statusSequence())
		})
	}

	t.Run("RateLimit t of 31 years on a 200", func(t *testing.T) {
		h := onFakeHub(t)
		h.hub.set(ev("6650a1b2c3d4e5f60000000a", "2026-11-20T10:00:00Z"))
		h.hub.setHeader("RateLimit", `"api";r=0;t=999999999`)
		r, _ := h.start(func(c *Config) { c.PollInterval = time.Hour })
		r.poll(ctx)
		assert.Len(t, h.next.accepted(), 1, "the poll itself delivers")
		wait := deferredBy(r)
		assert.LessOrEqual(t, wait, time.Hour, "capped at max(poll_interval, 15m)")
		assert.Greater(t, wait, 59*time.Minute)
		logged := h.logs.FilterMessage("Deferring the next poll").All()
		require.Len(t, logged, 1)
		assert.Equal(t, "rate limit used up", logged[0].ContextMap()["reason"])
		// A deferral up to poll_interval is not a problem: status stays OK.
		assert.Equal(t, []componentstatus.Status{componentstatus.StatusOK}, h.statusSequence())
	})

	t.Run("a deferral longer than poll_interval is a recoverable status until the next good poll", func(t *testing.T) {
		h := onFakeHub(t)
		h.hub.set(ev("6650a1b2c3d4e5f60000000a", "2026-11-20T10:00:00Z"))
		h.hub.setHeader("RateLimit", `"api";r=0;t=2`)
		r, _ := h.start(func(c *Config) { c.PollInterval = time.Second })
		r.poll(ctx)
		assert.Len(t, h.next.accepted(), 1)
		require.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, h.statusSequence())
		assert.Contains(t, h.lastStatus().Err().Error(), "longer than poll_interval (1s)")

		h.hub.setHeader("RateLimit", `"api";r=999;t=300`)
		r.poll(ctx)
		assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, h.statusSequence())
	})

	t.Run("a used-up policy that does not govern the export defers nothing", func(t *testing.T) {
		h := onFakeHub(t)
		h.hub.set(ev("6650a1b2c3d4e5f60000000a", "2026-11-20T10:00:00Z"))
		h.hub.setHeader("RateLimit", `"resolvers";r=0;t=200, "api";r=10;t=200`)
		r, _ := h.start()
		r.poll(ctx)
		assert.LessOrEqual(t, deferredBy(r), time.Duration(0))
		assert.Empty(t, h.logs.FilterMessage("Deferring the next poll").All())
	})

	t.Run("a long wait within the poll is not silent", func(t *testing.T) {
		h := onFakeHub(t)
		h.hub.setStatus(http.StatusTooManyRequests)
		h.hub.setHeader("RateLimit", `"api";r=0;t=2`)
		r, _ := h.start(func(c *Config) {
			c.PollInterval = time.Second
			c.RetryOnFailure.MaxElapsedTime = 0 // retry for ever
		})
		done := make(chan struct{})
		go func() {
			defer close(done)
			r.poll(ctx)
		}()
		require.Eventually(t, func() bool {
			seq := h.statusSequence()
			return len(seq) == 1 && seq[0] == componentstatus.StatusRecoverableError
		}, 5*time.Second, 5*time.Millisecond, "reported while the retry waits")
		h.hub.setHeader("RateLimit", `"api";r=5;t=2`)
		h.hub.setStatus(0)
		<-done
		assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, h.statusSequence())
	})
}
