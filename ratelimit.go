package huggingfaceauditreceiver // import "github.com/hfauditlog/huggingfaceauditreceiver"

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component/componentstatus"
	"go.uber.org/zap"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/retryafter"
)

// Everything about the Hub's rate limit: reading the RateLimit and
// Retry-After headers, deciding how long to wait, and holding back the next
// poll until the window resets.
//
// The Hub counts requests over 5-minute fixed windows and describes them with
// the IETF RateLimit header, one item per policy, e.g.
// `"api";r=0;t=55, "resolvers";r=812;t=55`: r is what is left, t the seconds
// until the window resets.

// exportPolicy is the Hub's policy that counts the export endpoint: its
// "Hub APIs" bucket. The others (resolvers, pages) do not govern it.
const exportPolicy = "api"

// minWaitCap is the least a server-given wait may be capped to; a longer
// poll_interval raises the cap.
const minWaitCap = 15 * time.Minute

// rateLimit is what a RateLimit header says of the export policy.
type rateLimit struct {
	// exhausted: the policy has nothing left (r=0).
	exhausted bool
	// reset is how long until the policy's window resets; 0 if not given.
	reset time.Duration
}

// parseRateLimit reads the item of the export policy and ignores the rest.
// A header sent as several lines is one list (RFC 9110, section 5.3).
func parseRateLimit(h http.Header) rateLimit {
	var rl rateLimit
	for _, item := range strings.Split(strings.Join(h.Values("RateLimit"), ","), ",") {
		params := strings.Split(item, ";")
		if strings.Trim(strings.TrimSpace(params[0]), `"`) != exportPolicy {
			continue
		}
		for _, param := range params[1:] {
			k, v, ok := strings.Cut(strings.TrimSpace(param), "=")
			if !ok {
				continue
			}
			n, ok := retryafter.ParseSeconds(v)
			if !ok {
				continue
			}
			switch k {
			case "r":
				rl.exhausted = rl.exhausted || n == 0
			case "t":
				rl.reset = max(rl.reset, retryafter.Seconds(n))
			}
		}
	}
	return rl
}

// serverErrorWait is how long a 5xx asks us to wait: its Retry-After, or
// the export policy's reset when the response shows it used up (a quota
// that is left says nothing about when the Hub is back); 0 otherwise.
func serverErrorWait(h http.Header, now time.Time) time.Duration {
	return max(quotaReset(h), retryafter.Parse(h, now))
}

// rateLimitWait is how long a 429 asks us to wait: the longer of the export
// policy's reset and Retry-After; 0 when the headers say nothing.
func rateLimitWait(h http.Header, now time.Time) time.Duration {
	return max(parseRateLimit(h).reset, retryafter.Parse(h, now))
}

// quotaReset reads a successful response: when its RateLimit header shows
// the export policy used up, how long until it resets; 0 otherwise.
func quotaReset(h http.Header) time.Duration {
	if rl := parseRateLimit(h); rl.exhausted {
		return rl.reset
	}
	return 0
}

// rateLimitedError is a 429: how long the Hub asked us to wait goes with it.
func rateLimitedError(h http.Header, detail string) *fetchError {
	wait := rateLimitWait(h, time.Now())
	if wait == 0 {
		return &fetchError{class: classRateLimited, msg: "429 from the Hub: rate limited, backing off (the Hub sent no RateLimit or Retry-After)" + detail}
	}
	return &fetchError{class: classRateLimited, wait: wait, msg: fmt.Sprintf("429 from the Hub: rate limited for %s%s", wait, detail)}
}

// waitCap is the longest wait the receiver takes from the Hub's headers:
// max(poll_interval, 15m). A longer one would stop collection in silence.
func (r *auditReceiver) waitCap() time.Duration {
	return max(r.cfg.PollInterval, minWaitCap)
}

// deferPolls holds back the next poll for wait, capped, and logs it once
// with its reason. A wait longer than poll_interval is reported as a
// recoverable status until a later poll succeeds.
func (r *auditReceiver) deferPolls(wait time.Duration, reason string) {
	fields := []zap.Field{zap.String("reason", reason)}
	if capped := r.waitCap(); wait > capped {
		fields = append(fields, zap.Duration("asked", wait))
		wait = capped
	}
	r.notBefore = time.Now().Add(wait)
	r.set.Logger.Warn("Deferring the next poll", append(fields, zap.Duration("wait", wait))...)
}

// deferredStatus is the status to report after a poll: a recoverable error
// while the next poll is deferred longer than poll_interval, else nil.
func (r *auditReceiver) deferredStatus() *componentstatus.Event {
	wait := time.Until(r.notBefore)
	if wait <= r.cfg.PollInterval {
		return nil
	}
	return componentstatus.NewRecoverableErrorEvent(fmt.Errorf(
		"the Hub's rate limit defers the next poll by %s, longer than poll_interval (%s)", wait.Round(time.Second), r.cfg.PollInterval))
}

// waitForRateLimit holds the poll until the window that the last response
// showed used up has reset. False when ctx ended first.
func (r *auditReceiver) waitForRateLimit(ctx context.Context) bool {
	wait := time.Until(r.notBefore)
	if wait <= 0 {
		return true
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
