package huggingfaceauditreceiver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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

// Receivers of one process share max_concurrent_polls: never more exports
// in flight than that, however many receivers poll at once.
func TestMaxConcurrentPollsAcrossReceivers(t *testing.T) {
	var inFlight, peak atomic.Int32
	body := "[" + ev("6650a1b2c3d4e5f60000000a", "2026-11-20T10:00:00.123Z") + "]"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/whoami-v2") {
			http.NotFound(w, r) // not an export
			return
		}
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(30 * time.Millisecond)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)

	var receivers []*auditReceiver
	var harnesses []*harness
	var stops []func()
	for range 6 {
		h := newHarness(t, srv.URL)
		r, stop := h.start(func(c *Config) { c.MaxConcurrentPolls = 2 })
		receivers = append(receivers, r)
		harnesses = append(harnesses, h)
		stops = append(stops, stop)
	}
	var wg sync.WaitGroup
	for _, r := range receivers {
		wg.Go(func() { r.poll(context.Background()) })
	}
	wg.Wait()
	assert.Equal(t, int32(2), peak.Load(), "at most max_concurrent_polls exports at once, and that many")
	for _, h := range harnesses {
		assert.Equal(t, []string{"6650a1b2c3d4e5f60000000a"}, h.next.accepted())
	}
	assert.Equal(t, 0, polls.inUse)

	// A receiver that shut down no longer holds the others to its limit.
	for _, stop := range stops {
		stop()
	}
	polls.mu.Lock()
	defer polls.mu.Unlock()
	for i, r := range receivers {
		_, registered := polls.limits[r]
		assert.False(t, registered, "receiver %d is unregistered at Shutdown", i)
	}
	assert.Equal(t, defaultMaxConcurrentPolls, polls.limitLocked())
}

// A poll waiting to retry (here on 503s) holds no slot: with one slot, another
// receiver polls in the meantime.
func TestSlotFreeWhileRetrying(t *testing.T) {
	failing := onFakeHub(t)
	failing.hub.setStatus(http.StatusServiceUnavailable)
	a, _ := failing.start(func(c *Config) {
		c.MaxConcurrentPolls = 1
		c.RetryOnFailure.InitialInterval = 300 * time.Millisecond
		c.RetryOnFailure.MaxInterval = 300 * time.Millisecond
		c.RetryOnFailure.RandomizationFactor = 0
		c.RetryOnFailure.MaxElapsedTime = time.Second
	})
	healthy := onFakeHub(t)
	healthy.hub.set(ev("6650a1b2c3d4e5f60000000b", "2026-11-20T10:00:00.123Z"))
	b, _ := healthy.start(func(c *Config) { c.MaxConcurrentPolls = 1 })

	aDone := pollsMeanwhile(t, a, b, func() bool { return failing.hub.callCount() >= 1 })
	assert.Equal(t, []string{"6650a1b2c3d4e5f60000000b"}, healthy.next.accepted())
	<-aDone
	assert.GreaterOrEqual(t, failing.hub.callCount(), 3, "the failing poll kept retrying")
}

// A poll whose pipeline refuses its batch holds no slot while it waits to
// offer it again: with one slot, another receiver polls in the meantime.
func TestSlotFreeWhileConsumeRetries(t *testing.T) {
	stuck := onFakeHub(t)
	stuck.hub.set(ev("6650a1b2c3d4e5f60000000a", "2026-11-20T10:00:00.123Z"))
	stuck.next.refuse(errors.New("exporter queue is full"))
	a, _ := stuck.start(func(c *Config) {
		c.MaxConcurrentPolls = 1
		c.RetryOnFailure.InitialInterval = 300 * time.Millisecond
		c.RetryOnFailure.MaxInterval = 300 * time.Millisecond
		c.RetryOnFailure.RandomizationFactor = 0
		c.RetryOnFailure.MaxElapsedTime = time.Second
	})
	healthy := onFakeHub(t)
	healthy.hub.set(ev("6650a1b2c3d4e5f60000000b", "2026-11-20T10:00:00.123Z"))
	b, _ := healthy.start(func(c *Config) { c.MaxConcurrentPolls = 1 })

	aDone := pollsMeanwhile(t, a, b, func() bool {
		stuck.next.mu.Lock()
		defer stuck.next.mu.Unlock()
		return stuck.next.calls >= 1
	})
	assert.Equal(t, []string{"6650a1b2c3d4e5f60000000b"}, healthy.next.accepted())
	<-aDone
	stuck.next.mu.Lock()
	assert.GreaterOrEqual(t, stuck.next.calls, 3, "the refused batch was offered again")
	stuck.next.mu.Unlock()
	assert.Empty(t, stuck.next.accepted())
	assert.Equal(t, 0, polls.inUse, "every slot given back")
}

// A poll that asks whoami again after its export (the first ask failed)
// holds no slot while the Hub is slow to answer: with one slot, another
// receiver polls in the meantime.
func TestSlotFreeWhileWhoamiIsAskedAgain(t *testing.T) {
	var asks atomic.Int32
	answer := make(chan struct{})
	slow := onHubWithWhoamiHandler(t, func(w http.ResponseWriter, r *http.Request) {
		if asks.Add(1) == 1 {
			http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
			return
		}
		select { // the second ask hangs until the test lets it answer
		case <-answer:
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, `{"type":"user","name":"audit-bot"}`)
	})
	slow.hub.set(ev("6650a1b2c3d4e5f60000000a", "2026-11-20T10:00:00.123Z"))
	a, _ := slow.start(func(c *Config) { c.MaxConcurrentPolls = 1 })
	healthy := onFakeHub(t)
	healthy.hub.set(ev("6650a1b2c3d4e5f60000000b", "2026-11-20T10:00:00.123Z"))
	b, _ := healthy.start(func(c *Config) { c.MaxConcurrentPolls = 1 })

	aDone := pollsMeanwhile(t, a, b, func() bool { return asks.Load() >= 2 })
	assert.Equal(t, []string{"6650a1b2c3d4e5f60000000b"}, healthy.next.accepted())
	close(answer)
	<-aDone
	assert.Equal(t, []string{"6650a1b2c3d4e5f60000000a"}, slow.next.accepted())
	assert.Equal(t, "audit-bot", a.conv.self.author.Name)
	assert.Equal(t, 0, polls.inUse, "every slot given back")
}

// pollsMeanwhile starts a's poll, waits until waiting says it is waiting
// (on a retry, on whoami), then polls b, which must finish while a's poll
// is still under way: a holds no slot meanwhile. It returns a's done
// channel.
func pollsMeanwhile(t *testing.T, a, b *auditReceiver, waiting func() bool) <-chan struct{} {
	t.Helper()
	aDone := make(chan struct{})
	go func() {
		defer close(aDone)
		a.poll(context.Background())
	}()
	require.Eventually(t, waiting, 5*time.Second, time.Millisecond)
	bDone := make(chan struct{})
	go func() {
		defer close(bDone)
		b.poll(context.Background())
	}()
	select {
	case <-bDone:
	case <-aDone:
		t.Fatal("the other receiver waited for the whole poll")
	case <-time.After(5 * time.Second):
		t.Fatal("the other receiver is still waiting for the slot")
	}
	return aDone
}
