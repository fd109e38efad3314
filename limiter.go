package huggingfaceauditreceiver // import "github.com/hfauditlog/huggingfaceauditreceiver"

import (
	"context"
	"sync"
)

// defaultMaxConcurrentPolls bounds, by default, how many receivers of the
// collector read an export and emit its new events at the same time.
const defaultMaxConcurrentPolls = 4

// pollLimiter is shared by every huggingfaceaudit receiver of the process:
// a poll holds a slot while it reads the export and emits what is new, so
// the memory of concurrent backfills (each a bounded index, a spool buffer
// and a batch in flight) stays bounded however many organizations start at
// once. Each receiver registers its max_concurrent_polls; the smallest
// registered value applies to all.
type pollLimiter struct {
	mu     sync.Mutex
	inUse  int
	limits map[*auditReceiver]int
	wake   chan struct{} // closed and replaced when a slot frees up or the limit changes
}

var polls = newPollLimiter()

func newPollLimiter() *pollLimiter {
	return &pollLimiter{limits: map[*auditReceiver]int{}, wake: make(chan struct{})}
}

func (l *pollLimiter) register(r *auditReceiver, limit int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.limits[r] = limit
	l.broadcastLocked()
}

func (l *pollLimiter) unregister(r *auditReceiver) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.limits, r)
	l.broadcastLocked()
}

func (l *pollLimiter) limitLocked() int {
	limit := 0
	for _, n := range l.limits {
		if limit == 0 || n < limit {
			limit = n
		}
	}
	if limit == 0 {
		return defaultMaxConcurrentPolls
	}
	return limit
}

func (l *pollLimiter) broadcastLocked() {
	close(l.wake)
	l.wake = make(chan struct{})
}

func (l *pollLimiter) acquire(ctx context.Context) error {
	for {
		l.mu.Lock()
		if l.inUse < l.limitLocked() {
			l.inUse++
			l.mu.Unlock()
			return nil
		}
		wake := l.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (l *pollLimiter) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inUse--
	l.broadcastLocked()
}

// pollSlot is one poll's hold on the limiter. It is taken before each
// attempt to read the export or to hand a batch to the pipeline. It is given
// back while a retry waits and while whoami is asked (identify), so a
// rate-limit window, a stuck pipeline or a slow Hub holds nothing, and when
// the poll ends.
type pollSlot struct {
	l    *pollLimiter
	held bool
}

func (s *pollSlot) acquire(ctx context.Context) error {
	if s.held {
		return nil
	}
	if err := s.l.acquire(ctx); err != nil {
		return err
	}
	s.held = true
	return nil
}

func (s *pollSlot) release() {
	if s.held {
		s.held = false
		s.l.release()
	}
}
