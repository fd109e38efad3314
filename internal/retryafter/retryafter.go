// Package retryafter reads the waits a server asks for, for the receiver
// (the Hub's Retry-After and RateLimit) and for hfauditdetect's channels.
package retryafter // import "github.com/hfauditlog/huggingfaceauditreceiver/internal/retryafter"

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Parse reads Retry-After (seconds or an HTTP date); 0 when absent or
// unreadable. A wait too long for a Duration is the longest one: the
// caller caps it.
func Parse(h http.Header, now time.Time) time.Duration {
	ra := strings.TrimSpace(h.Get("Retry-After"))
	if ra == "" {
		return 0
	}
	if secs, ok := ParseSeconds(ra); ok {
		return Seconds(secs)
	}
	if at, err := http.ParseTime(ra); err == nil {
		return max(0, at.Sub(now))
	}
	return 0
}

// ParseSeconds reads a delay in seconds (digits only). One too large for
// an int is the largest: a wait that long is capped, not ignored.
func ParseSeconds(v string) (int, bool) {
	n, err := strconv.ParseUint(v, 10, 63)
	if errors.Is(err, strconv.ErrRange) {
		return math.MaxInt64, true
	}
	return int(n), err == nil
}

// Seconds converts n seconds to a Duration, saturating instead of
// overflowing.
func Seconds(n int) time.Duration {
	if n > math.MaxInt64/int(time.Second) {
		return math.MaxInt64
	}
	return time.Duration(n) * time.Second
}
