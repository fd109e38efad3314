package huggingfaceauditreceiver // import "github.com/hfauditlog/huggingfaceauditreceiver"

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
) // rateLimitedError is a 429: how long the Hub asked us to wait goes with it.
func rateLimitedError(h http.Header, detail string) *fetchError {
	wait := rateLimitWait(h, time.Now())
	return &fetchError{class: classRateLimited, wait: wait, msg: fmt.Sprintf("429 from the Hub: rate limited, waiting %s before the next request%s", wait, detail)}
}

// rateLimitWait returns the longer of the IETF RateLimit header's reset (t=)
// and Retry-After (seconds or an HTTP date), or 0 when neither is present.
func rateLimitWait(h http.Header, now time.Time) time.Duration {
	var wait time.Duration
	for _, item := range strings.Split(h.Get("RateLimit"), ",") {
		for _, param := range strings.Split(item, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(param), "=")
			if !ok || k != "t" {
				continue
			}
			if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
				wait = max(wait, time.Duration(secs)*time.Second)
			}
		}
	}
	if ra := strings.TrimSpace(h.Get("Retry-After")); ra != "" {
		if secs, err := strconv.Atoi(ra); err == nil && secs >= 0 {
			wait = max(wait, time.Duration(secs)*time.Second)
		} else if at, err := http.ParseTime(ra); err == nil {
			wait = max(wait, at.Sub(now))
		}
	}
	return wait
}

// deferPolls holds back the polls until a rate-limit window that outlasted
// a poll's retries has reset.
func (r *auditReceiver) deferPolls(wait time.Duration) {
	r.notBefore = time.Now().Add(wait)
}

// deferredByRateLimit tells (and logs) whether this poll must be skipped.
func (r *auditReceiver) deferredByRateLimit() bool {
	wait := time.Until(r.notBefore)
	if wait <= 0 {
		return false
	}
	r.set.Logger.Info("Skipping this poll: the Hub's rate limit has not reset yet", zap.Duration("remaining", wait))
	return true
}
