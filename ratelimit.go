package huggingfaceauditreceiver // import "github.com/hfauditlog/huggingfaceauditreceiver"

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Everything about the Hub's rate limit: reading the RateLimit and
// Retry-After headers, deciding how long to wait, and holding back the next
// poll until the window resets.
//
// The Hub counts requests over 5-minute fixed windows and describes them with
// the IETF RateLimit header, one item per policy, e.g.
// `"api";r=0;t=55, "resolvers";r=812;t=55`: r is what is left, t the seconds
// until the window resets.

// rateLimit is what a RateLimit header says.
type rateLimit struct {
	// exhausted: some policy has nothing left (r=0).
	exhausted bool
	// reset is when the exhausted policies reset (the latest of them); when
	// none is exhausted, the latest reset of any policy.
	reset time.Duration
}

func parseRateLimit(h http.Header) rateLimit {
	var rl rateLimit
	var latestExhausted, latestAny time.Duration
	for _, item := range strings.Split(h.Get("RateLimit"), ",") {
		remaining, reset := -1, -1
		for _, param := range strings.Split(item, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(param), "=")
			if !ok {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				continue
			}
			switch k {
			case "r":
				remaining = n
			case "t":
				reset = n
			}
		}
		if reset < 0 {
			continue
		}
		t := time.Duration(reset) * time.Second
		latestAny = max(latestAny, t)
		if remaining == 0 {
			rl.exhausted = true
			latestExhausted = max(latestExhausted, t)
		}
	}
	rl.reset = latestAny
	if rl.exhausted {
		rl.reset = latestExhausted
	}
	return rl
}

// retryAfter reads Retry-After (seconds or an HTTP date); 0 when absent.
func retryAfter(h http.Header, now time.Time) time.Duration {
	ra := strings.TrimSpace(h.Get("Retry-After"))
	if ra == "" {
		return 0
	}
	if secs, err := strconv.Atoi(ra); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if at, err := http.ParseTime(ra); err == nil {
		return max(0, at.Sub(now))
	}
	return 0
}

// rateLimitWait is how long a 429 asks us to wait: the longer of the
// exhausted policy's reset and Retry-After; 0 when the headers say nothing.
func rateLimitWait(h http.Header, now time.Time) time.Duration {
	return max(parseRateLimit(h).reset, retryAfter(h, now))
}

// quotaReset reads a successful response: when its RateLimit header shows a
// policy used up, how long until it resets; 0 otherwise.
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

// deferPolls holds back the next poll until a rate-limit window resets.
func (r *auditReceiver) deferPolls(wait time.Duration) {
	r.notBefore = time.Now().Add(wait)
}

// waitForRateLimit holds the poll until the window that the last response
// showed used up has reset. False when ctx ended first.
func (r *auditReceiver) waitForRateLimit(ctx context.Context) bool {
	wait := time.Until(r.notBefore)
	if wait <= 0 {
		return true
	}
	r.set.Logger.Info("Waiting for the rate limit to reset", zap.Duration("wait", wait))
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
