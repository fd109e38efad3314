package huggingfaceauditreceiver

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

func newSim(t *testing.T, opts simulator.Options) (*simulator.Server, string) {
	t.Helper()
	opts.Token = testToken
	if opts.Seed == 0 {
		opts.Seed = 7
	}
	sim, err := simulator.New(opts)
	require.NoError(t, err)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	return sim, srv.URL
}

// storedCursorOf reads the checkpoint the receiver saved, as a restart would.
func storedCursorOf(t *testing.T, r *auditReceiver) *cursor {
	t.Helper()
	c, err := r.store.load(context.Background())
	require.NoError(t, err)
	return c
}

// The model is awscloudwatch's logs_checkpoint_test: what each failure does
// to the stored cursor, and that a new receiver on the same storage resumes.
func TestCheckpoint(t *testing.T) {
	ctx := context.Background()
	errTemporary := errors.New("exporter queue is full")

	t.Run("backfill, steady state, growth", func(t *testing.T) {
		sim, url := newSim(t, simulator.Options{InitialEvents: 250, NoSelfExport: true})
		h := newHarness(t)
		cfg := testConfig(url)
		cfg.BatchSize = 100
		r, _ := h.start(cfg)
		r.poll(ctx)
		assert.Equal(t, sim.EventIDs(), h.next.accepted(), "every event once, oldest first")
		assert.Equal(t, 3, h.next.calls, "250 events in batches of 100")
		r.poll(ctx)
		assert.Len(t, h.next.accepted(), 250, "a poll with nothing new emits nothing")
		added := sim.Add(7)
		r.poll(ctx)
		assert.Equal(t, added, h.next.accepted()[250:])
		assert.Equal(t, int64(257), h.counter("events_emitted"))
		// Poll 1 filtered nothing, poll 2 all 250, poll 3 the 250 old ones.
		assert.Equal(t, int64(500), h.counter("duplicates_filtered"))
	})

	t.Run("API failure keeps the cursor", func(t *testing.T) {
		sim, url := newSim(t, simulator.Options{InitialEvents: 20, NoSelfExport: true})
		h := newHarness(t)
		r, _ := h.start(testConfig(url))
		r.poll(ctx)
		before := storedCursorOf(t, r)
		added := sim.Add(5)
		require.NoError(t, sim.SetFault(simulator.Fault503, 0))
		r.poll(ctx)
		assert.Len(t, h.next.accepted(), 20)
		assert.Equal(t, before, storedCursorOf(t, r))
		assert.Positive(t, h.counter("http_errors", "class", "server"))
		assert.Equal(t, int64(1), h.counter("polls", "outcome", "error"))
		require.NoError(t, sim.SetFault(simulator.FaultNone, 0))
		r.poll(ctx)
		assert.Equal(t, added, h.next.accepted()[20:])
	})

	t.Run("partial success moves the cursor to what was accepted; restart resumes there", func(t *testing.T) {
		sim, url := newSim(t, simulator.Options{InitialEvents: 25, NoSelfExport: true})
		h := newHarness(t)
		cfg := testConfig(url)
		cfg.BatchSize = 10
		cfg.RetryOnFailure.Enabled = false
		r, stop := h.start(cfg)
		h.next.fail(nil, errTemporary)
		r.poll(ctx)
		all := sim.EventIDs()
		require.Equal(t, all[:10], h.next.accepted())
		stored := storedCursorOf(t, r)
		require.NotNil(t, stored)
		assert.Contains(t, stored.seen, all[9], "the last accepted event is at the boundary")
		assert.NotContains(t, stored.seen, all[10])
		stop()

		r2, _ := h.start(testConfig(url))
		r2.poll(ctx)
		assert.Equal(t, all, h.next.accepted(), "the rest once, nothing twice")
	})

	t.Run("consumer failure keeps the cursor", func(t *testing.T) {
		sim, url := newSim(t, simulator.Options{InitialEvents: 30, NoSelfExport: true})
		h := newHarness(t)
		cfg := testConfig(url)
		cfg.RetryOnFailure.Enabled = false
		r, _ := h.start(cfg)
		h.next.fail(errTemporary)
		r.poll(ctx)
		assert.Empty(t, h.next.accepted())
		assert.Nil(t, storedCursorOf(t, r), "nothing saved")
		r.poll(ctx)
		assert.Equal(t, sim.EventIDs(), h.next.accepted())
	})

	t.Run("non-permanent errors are retried within the poll", func(t *testing.T) {
		sim, url := newSim(t, simulator.Options{InitialEvents: 30, NoSelfExport: true})
		h := newHarness(t)
		r, _ := h.start(testConfig(url))
		h.next.fail(errTemporary, errTemporary)
		r.poll(ctx)
		assert.Equal(t, sim.EventIDs(), h.next.accepted())
		assert.Equal(t, 3, h.next.calls)
	})

	t.Run("permanent error drops the batch and moves on", func(t *testing.T) {
		sim, url := newSim(t, simulator.Options{InitialEvents: 25, NoSelfExport: true})
		h := newHarness(t)
		cfg := testConfig(url)
		cfg.BatchSize = 10
		r, _ := h.start(cfg)
		h.next.fail(nil, consumererror.NewPermanent(errors.New("schema mismatch")))
		r.poll(ctx)
		all := sim.EventIDs()
		want := append(slices.Clone(all[:10]), all[20:]...)
		assert.Equal(t, want, h.next.accepted())
		assert.Equal(t, int64(10), h.counter("events_skipped", "reason", "refused"))
		r.poll(ctx)
		assert.Equal(t, want, h.next.accepted(), "refused data is never offered again")
		assert.Contains(t, storedCursorOf(t, r).seen, all[24])
	})

	t.Run("every order of the array", func(t *testing.T) {
		for _, order := range []string{simulator.OrderNewestFirst, simulator.OrderOldestFirst, simulator.OrderRandom} {
			t.Run(order, func(t *testing.T) {
				sim, url := newSim(t, simulator.Options{InitialEvents: 300, BurstSize: 4, Order: order, NoSelfExport: true})
				h := newHarness(t)
				cfg := testConfig(url)
				cfg.BatchSize = 64
				r, stop := h.start(cfg)
				r.poll(ctx)
				sim.Add(40)
				r.poll(ctx)
				stop()
				r2, _ := h.start(testConfig(url))
				sim.Add(40)
				r2.poll(ctx)
				assert.Equal(t, sim.EventIDs(), h.next.accepted(), "each event once, oldest first, across polls and a restart")
			})
		}
	})

	t.Run("ties on one millisecond straddle polls; late arrivals within the window", func(t *testing.T) {
		hub, url := newFakeHub(t)
		h := newHarness(t)
		r, stop := h.start(testConfig(url))
		const tMs = "2026-11-20T10:00:00.123Z"
		a, b, c := ev("6650a1b2c3d4e5f60000000a", tMs), ev("6650a1b2c3d4e5f60000000b", tMs), ev("6650a1b2c3d4e5f60000000c", tMs)
		hub.set(b, a)
		r.poll(ctx)
		assert.Equal(t, []string{"6650a1b2c3d4e5f60000000a", "6650a1b2c3d4e5f60000000b"}, h.next.accepted())
		hub.set(c, b, a)
		r.poll(ctx)
		assert.Equal(t, "6650a1b2c3d4e5f60000000c", h.next.accepted()[2], "a third event of the same millisecond, in the next poll")
		late := ev("6650a1b2c3d4e5f60000000d", "2026-11-20T09:59:30.000Z")
		tooLate := ev("6650a1b2c3d4e5f60000000e", "2026-11-20T08:00:00.000Z")
		hub.set(c, b, a, late, tooLate)
		r.poll(ctx)
		assert.Equal(t, []string{"6650a1b2c3d4e5f60000000d"}, h.next.accepted()[3:], "late by 30s: emitted; late by 2h (> late_arrival_window): not")
		stop()
		r2, _ := h.start(testConfig(url))
		r2.poll(ctx)
		assert.Len(t, h.next.accepted(), 4, "a restart emits none of them again")
	})

	t.Run("an event stamped in the future does not hide the events after it", func(t *testing.T) {
		hub, url := newFakeHub(t)
		h := newHarness(t)
		r, _ := h.start(testConfig(url))
		now := time.Now().UTC()
		future := ev("6650a1b2c3d4e5f60000000f", "2099-01-01T00:00:00Z")
		a := ev("6650a1b2c3d4e5f60000000a", now.Add(-time.Minute).Format(time.RFC3339Nano))
		hub.set(future, a)
		r.poll(ctx)
		b := ev("6650a1b2c3d4e5f60000000b", time.Now().UTC().Format(time.RFC3339Nano))
		hub.set(b, future, a)
		r.poll(ctx)
		assert.Equal(t, []string{"6650a1b2c3d4e5f60000000a", "6650a1b2c3d4e5f60000000f", "6650a1b2c3d4e5f60000000b"}, h.next.accepted())
	})

	t.Run("duplicate IDs within one response are emitted once", func(t *testing.T) {
		hub, url := newFakeHub(t)
		h := newHarness(t)
		r, _ := h.start(testConfig(url))
		a := ev("6650a1b2c3d4e5f60000000a", "2026-11-20T10:00:00Z")
		hub.set(a, a)
		r.poll(ctx)
		assert.Len(t, h.next.accepted(), 1)
	})

	t.Run("an empty array moves nothing and is not a gap", func(t *testing.T) {
		hub, url := newFakeHub(t)
		h := newHarness(t)
		r, _ := h.start(testConfig(url))
		a, b := ev("6650a1b2c3d4e5f60000000a", "2026-11-20T10:00:00Z"), ev("6650a1b2c3d4e5f60000000b", "2026-11-20T10:00:01Z")
		hub.set(a)
		r.poll(ctx)
		before := storedCursorOf(t, r)
		hub.set()
		r.poll(ctx)
		assert.Equal(t, before, storedCursorOf(t, r))
		assert.Zero(t, h.counter("gap_events"))
		hub.set(b, a)
		r.poll(ctx)
		assert.Len(t, h.next.accepted(), 2)
		assert.Zero(t, h.counter("gap_events"))
	})

	t.Run("a cursor that fell out of the window is reported as a gap", func(t *testing.T) {
		sim, url := newSim(t, simulator.Options{InitialEvents: 50, MaxEvents: 100, NoSelfExport: true})
		h := newHarness(t)
		r, stop := h.start(testConfig(url))
		r.poll(ctx)
		stop()
		sim.Add(150) // while "down": 50 events fall off unseen
		r2, _ := h.start(testConfig(url))
		r2.poll(ctx)
		assert.Equal(t, int64(1), h.counter("gap_events"))
		assert.Len(t, h.logs.FilterMessageSnippet("Events were lost at the source").All(), 1)
		assert.Len(t, h.next.accepted(), 150, "50 before + the 100 still in the window")
	})

	t.Run("initial_lookback limits the first run only", func(t *testing.T) {
		hub, url := newFakeHub(t)
		h := newHarness(t)
		cfg := testConfig(url)
		cfg.InitialLookback = time.Hour
		now := time.Now().UTC()
		old := ev("6650a1b2c3d4e5f60000000a", now.Add(-3*time.Hour).Format(time.RFC3339Nano))
		recent := ev("6650a1b2c3d4e5f60000000b", now.Add(-30*time.Minute).Format(time.RFC3339Nano))
		hub.set(recent, old)
		r, stop := h.start(cfg)
		r.poll(ctx)
		r.poll(ctx)
		stop()
		r2, _ := h.start(testConfig(url)) // no lookback now: the stored cursor rules
		r2.poll(ctx)
		assert.Equal(t, []string{"6650a1b2c3d4e5f60000000b"}, h.next.accepted())
	})

	t.Run("an invalid event is skipped, logged with its _id and counted once", func(t *testing.T) {
		sim, url := newSim(t, simulator.Options{InitialEvents: 20, NoSelfExport: true})
		h := newHarness(t)
		r, _ := h.start(testConfig(url))
		require.NoError(t, sim.SetFault(simulator.FaultInvalidEvent, 0))
		r.poll(ctx)
		r.poll(ctx)
		all := sim.EventIDs()
		assert.Equal(t, all[:19], h.next.accepted(), "the others are delivered")
		assert.Equal(t, int64(1), h.counter("events_skipped", "reason", "invalid"))
		skipped := h.logs.FilterMessageSnippet("does not match the export schema").All()
		require.Len(t, skipped, 1)
		assert.Equal(t, all[19], skipped[0].ContextMap()["_id"])
	})

	t.Run("self exports are marked, or dropped when configured", func(t *testing.T) {
		for _, drop := range []bool{false, true} {
			sim, url := newSim(t, simulator.Options{InitialEvents: 5, InitialSpan: time.Minute})
			h := newHarness(t)
			cfg := testConfig(url)
			cfg.DropSelfExports = drop
			r, _ := h.start(cfg)
			r.conv.self.author = r.client.whoami(ctx, cfg.Endpoint) // as run() does
			require.Equal(t, simulator.DefaultTokenOwner, r.conv.self.author)
			r.poll(ctx)
			r.poll(ctx) // sees the export event of the first poll
			if drop {
				assert.Len(t, h.next.accepted(), 5)
				assert.Equal(t, int64(1), h.counter("events_skipped", "reason", "self_export"))
			} else {
				assert.Len(t, h.next.accepted(), 6)
				assert.Zero(t, h.counter("events_skipped", "reason", "self_export"))
			}
			assert.Contains(t, storedCursorOf(t, r).seen, sim.EventIDs()[5], "a dropped self export still moves the cursor")
		}
	})
}
