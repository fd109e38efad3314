package huggingfaceauditreceiver

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPollLimiterBoundsConcurrency(t *testing.T) {
	l := newPollLimiter()
	a, b := &auditReceiver{}, &auditReceiver{}
	l.register(a, 3)
	l.register(b, 2) // the smallest registered limit applies
	var inside, peak atomic.Int32
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			slot := pollSlot{l: l}
			require.NoError(t, slot.acquire(context.Background()))
			require.NoError(t, slot.acquire(context.Background()), "acquiring a held slot again is a no-op")
			n := inside.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(5 * time.Millisecond)
			inside.Add(-1)
			slot.release()
			slot.release() // twice is harmless
		})
	}
	wg.Wait()
	assert.Equal(t, int32(2), peak.Load())
	assert.Equal(t, 0, l.inUse)

	// Unregistering the smaller limit raises it for those waiting.
	l.unregister(b)
	l.mu.Lock()
	assert.Equal(t, 3, l.limitLocked())
	l.mu.Unlock()
	l.unregister(a)
	l.mu.Lock()
	assert.Equal(t, defaultMaxConcurrentPolls, l.limitLocked(), "no receiver registered: the default")
	l.mu.Unlock()
}

func TestPollLimiterWaitEndsWithContext(t *testing.T) {
	l := newPollLimiter()
	r := &auditReceiver{}
	l.register(r, 1)
	held := pollSlot{l: l}
	require.NoError(t, held.acquire(context.Background()))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	waiting := pollSlot{l: l}
	assert.ErrorIs(t, waiting.acquire(ctx), context.DeadlineExceeded)
	assert.False(t, waiting.held)

	// A freed slot goes to the next waiter.
	got := make(chan error, 1)
	go func() { got <- waiting.acquire(context.Background()) }()
	time.Sleep(10 * time.Millisecond)
	held.release()
	select {
	case err := <-got:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter did not get the freed slot")
	}
	waiting.release()
	assert.Equal(t, 0, l.inUse)
}
