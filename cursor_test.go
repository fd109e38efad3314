package huggingfaceauditreceiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/metadatatest"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

// ids lists the seen set as strings, for comparisons.
func (s *seenSet) ids() map[string]int64 {
	m := map[string]int64{}
	for oid, ts := range s.oids {
		m[oid.String()] = ts
	}
	for id, ts := range s.other {
		m[id] = ts
	}
	return m
}

func TestCursorAdvanceAndPrune(t *testing.T) {
	base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).UnixNano()
	at := func(d time.Duration) int64 { return base + int64(d) }
	window := time.Hour
	c := newCursor(0)
	assert.True(t, c.isNew([]byte("a"), at(0), c.floor(window)), "an empty cursor takes everything")

	c.advance([]pendingEvent{{id: newEventID("a"), createdAt: at(0)}, {id: newEventID("b"), createdAt: at(0)}}, window, farFuture)
	assert.Equal(t, at(0), c.watermark)
	assert.False(t, c.isNew([]byte("a"), at(0), c.floor(window)))
	assert.True(t, c.isNew([]byte("c"), at(0), c.floor(window)), "a new ID on the watermark's millisecond")
	assert.True(t, c.isNew([]byte("late"), at(-30*time.Minute), c.floor(window)), "late within the window")
	assert.False(t, c.isNew([]byte("old"), at(-2*time.Hour), c.floor(window)), "below the floor")

	// Within the window nothing is pruned; past it, old IDs go.
	c.advance([]pendingEvent{{id: newEventID("d"), createdAt: at(30 * time.Minute)}}, window, farFuture)
	assert.Equal(t, 3, c.seen.len())
	c.advance([]pendingEvent{{id: newEventID("e"), createdAt: at(90 * time.Minute)}}, window, farFuture)
	assert.Equal(t, map[string]int64{"d": at(30 * time.Minute), "e": at(90 * time.Minute)}, c.seen.ids())
	assert.True(t, c.covers([]byte("a"), at(0)), "older than the watermark: covered even when pruned")

	// A late event below the new floor is pruned on the next move.
	c.advance([]pendingEvent{{id: newEventID("f"), createdAt: at(20 * time.Minute)}}, window, farFuture)
	c.advance([]pendingEvent{{id: newEventID("g"), createdAt: at(100 * time.Minute)}}, window, farFuture)
	assert.NotContains(t, c.seen.ids(), "f")
	assert.NotContains(t, c.seen.ids(), "d")
}

// A wider window never reaches below where seen is complete: the events
// there were emitted or deliberately left out, and the cursor can no longer
// tell which.
func TestCursorFloorNeverDropsBelowComplete(t *testing.T) {
	base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).UnixNano()
	at := func(d time.Duration) int64 { return base + int64(d) }
	c := newCursor(0)
	c.advance([]pendingEvent{{id: newEventID("a"), createdAt: at(-3 * time.Hour)}, {id: newEventID("b"), createdAt: at(0)}}, time.Hour, farFuture)
	assert.Equal(t, at(-time.Hour), c.complete)
	assert.Equal(t, at(-time.Hour), c.floor(24*time.Hour), "widened: the floor stays where seen is complete")
	assert.False(t, c.isNew([]byte("a"), at(-3*time.Hour), c.floor(24*time.Hour)), "pruned, and not new again")
	assert.Equal(t, at(-10*time.Minute), c.floor(10*time.Minute), "narrowed: the floor rises")
}

func TestObjectID(t *testing.T) {
	oid, ok := parseObjectID("6650a1b2c3d4e5f601234567")
	require.True(t, ok)
	assert.Equal(t, "6650a1b2c3d4e5f601234567", oid.String())
	for _, other := range []string{"6650A1B2C3D4E5F601234567", "6650a1b2c3d4e5f60123456", "6650a1b2c3d4e5f6012345678", "6650a1b2c3d4e5f60123456g", "", "evt-1"} {
		_, ok := parseObjectID(other)
		assert.False(t, ok, "%q is kept as a string: it must come back byte for byte", other)
	}
}

// farFuture is a "now" later than every event of these tests.
var farFuture = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

func TestCursorIgnoresFutureTimestampsForTheWatermark(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).UnixNano()
	c := newCursor(0)
	future := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	c.advance([]pendingEvent{{id: newEventID("bad-clock"), createdAt: future}}, time.Hour, now)
	assert.Equal(t, now, c.watermark)
	floor := c.floor(time.Hour)
	assert.True(t, c.isNew([]byte("next"), now+int64(time.Minute), floor), "events after it are still new")
	assert.False(t, c.isNew([]byte("bad-clock"), future, floor), "and it is not emitted twice")
}

func TestCheckpointRoundTrip(t *testing.T) {
	c := newCursor(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	batch := []pendingEvent{
		{id: newEventID("6650a1b2c3d4e5f601234567"), createdAt: time.Date(2026, 11, 20, 10, 0, 0, 123e6, time.UTC).UnixNano()},
		{id: newEventID("not-an-object-id"), createdAt: time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC).UnixNano()},
		{id: newEventID("6650A1B2C3D4E5F601234567"), createdAt: time.Date(2026, 11, 20, 9, 59, 0, 0, time.UTC).UnixNano()},
	}
	c.advance(batch, time.Hour, farFuture)
	check := func(back *cursor) {
		t.Helper()
		assert.Equal(t, c.watermark, back.watermark)
		assert.Equal(t, c.since, back.since)
		assert.Equal(t, c.complete, back.complete)
		assert.Equal(t, c.seen.ids(), back.seen.ids())
	}
	var s cursorStore
	base := c.marshalBase(7)
	back, err := s.decodeBase(base, time.Hour)
	require.NoError(t, err)
	check(back)
	assert.Equal(t, uint64(7), s.firstDelta, "deltas from 7 on apply to this base")
	// Header: magic, version, three times, seq, count; then per ID its
	// time (a varint) and its length, and 12 bytes for an ObjectId.
	assert.LessOrEqual(t, len(c.marshalBase(1)), 5+3*10+2+(10+1+12)+2*(10+1+24))

	back, _, err = applyDelta(nil, c.marshalDelta(1, batch))
	require.NoError(t, err)
	check(back)

	for _, bad := range [][]byte{base[:len(base)-1], append(slices.Clone(base), 0), []byte("HFCK\x04"), []byte("HFCK\x03"), []byte("HFCK\x02\x00"), []byte("junk")} {
		_, err := s.decodeBase(bad, time.Hour)
		assert.Error(t, err, "%q", bad)
	}
}

// Storage that changes a checkpoint (a flipped bit, a torn write) makes it
// unreadable, never a different cursor: a watermark flipped years ahead
// would stop emission in silence. Every single-bit flip and every byte
// overwritten is caught by the checksum.
func TestCheckpointCorruptionIsCaught(t *testing.T) {
	c := newCursor(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	batch := []pendingEvent{
		{id: newEventID("6650a1b2c3d4e5f601234567"), createdAt: time.Date(2026, 11, 20, 10, 0, 0, 123e6, time.UTC).UnixNano()},
		{id: newEventID("not-an-object-id"), createdAt: time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC).UnixNano()},
	}
	c.advance(batch, time.Hour, farFuture)
	for name, value := range map[string][]byte{"base": c.marshalBase(3), "delta": c.marshalDelta(3, batch)} {
		t.Run(name, func(t *testing.T) {
			_, err := decodeCheckpoint(value)
			require.NoError(t, err)
			for i := range value {
				for _, flip := range []byte{0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff, 0x5a} {
					bad := slices.Clone(value)
					bad[i] ^= flip
					var s cursorStore
					_, err := s.decodeBase(bad, time.Hour)
					require.Error(t, err, "byte %d ^ %#x", i, flip)
					_, _, err = applyDelta(nil, bad)
					require.Error(t, err, "byte %d ^ %#x", i, flip)
				}
			}
		})
	}
}

// A version 2 checkpoint (no checksum) is still read; one whose bounds lie
// ahead of the clock is taken for corrupt and the receiver starts over,
// saying so.
func TestCheckpointVersion2(t *testing.T) {
	v2 := func(c *cursor) []byte {
		b := c.marshalBase(1)
		b = b[:len(b)-4] // the checksum
		b[len(checkpointMagic)] = checkpointV2
		return b
	}
	c := newCursor(0)
	c.advance([]pendingEvent{{id: newEventID("6650a1b2c3d4e5f601234567"), createdAt: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).UnixNano()}}, time.Hour, farFuture)
	var s cursorStore
	back, err := s.decodeBase(v2(c), time.Hour)
	require.NoError(t, err)
	assert.Equal(t, c.watermark, back.watermark)
	assert.Equal(t, c.seen.ids(), back.seen.ids())

	ahead := newCursor(0)
	ahead.watermark = time.Now().Add(3 * 365 * 24 * time.Hour).UnixNano()
	_, err = s.decodeBase(v2(ahead), time.Hour)
	require.ErrorContains(t, err, "a time the clock rules out")

	ctx := context.Background()
	h := onSim(t, simulator.Options{InitialEvents: 5, NoSelfExport: true})
	r, stop := h.start()
	require.NoError(t, r.store.client.Set(ctx, r.store.key, v2(ahead)))
	stop()
	r2, _ := h.start()
	r2.poll(ctx)
	assert.Len(t, h.next.accepted(), 5, "started over")
	assert.Len(t, h.logs.FilterMessageSnippet("Stored checkpoint unreadable; starting over").All(), 1)
}

// A batch's save costs what the batch added, however large the seen set.
func TestCheckpointDeltaSizeIsTheBatchs(t *testing.T) {
	c := newCursor(0)
	ts := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).UnixNano()
	big := make([]pendingEvent, 100_000)
	for i := range big {
		big[i] = pendingEvent{id: newEventID(fmt.Sprintf("6650a1b2c3d4e5f6%08x", i)), createdAt: ts}
	}
	c.advance(big, time.Hour, farFuture)
	batch := []pendingEvent{{id: newEventID("6650a1b2c3d4e5f6ffffffff"), createdAt: ts + 1}}
	c.advance(batch, time.Hour, farFuture)
	assert.Less(t, len(c.marshalDelta(2, batch)), 64)
	assert.Less(t, len(c.marshalBase(3)), 100_001*20, "20 bytes an ID at most (12 of them the ID)")
}

// The model is awscloudwatch's logs_checkpoint_test: what each failure does
// to the stored cursor, and that a new receiver on the same storage resumes.
func TestCheckpoint(t *testing.T) {
	ctx := context.Background()
	errTemporary := errors.New("exporter queue is full")

	t.Run("backfill, steady state, growth", func(t *testing.T) {
		h := onSim(t, simulator.Options{InitialEvents: 250, NoSelfExport: true})
		r, _ := h.start(func(c *Config) { c.BatchSize = 100 })
		r.poll(ctx)
		assert.Equal(t, h.sim.EventIDs(), h.next.accepted(), "every event once, oldest first")
		assert.Equal(t, 3, h.next.calls, "250 events in batches of 100")
		r.poll(ctx)
		assert.Len(t, h.next.accepted(), 250, "a poll with nothing new emits nothing")
		added := h.sim.Add(7)
		r.poll(ctx)
		assert.Equal(t, added, h.next.accepted()[250:])
		metadatatest.AssertEqualReceiverHuggingfaceauditEventsEmitted(t, h.tel, points(257), ignoreTime)
		// Poll 1 filtered nothing, poll 2 all 250, poll 3 the 250 old ones.
		metadatatest.AssertEqualReceiverHuggingfaceauditEventsCovered(t, h.tel, points(500), ignoreTime)
		metadatatest.AssertEqualReceiverHuggingfaceauditEventsReceived(t, h.tel, points(250+250+257), ignoreTime)
		assert.Equal(t, int64(257), h.counted("otelcol_receiver_accepted_log_records"), "every send goes through the receiver's ObsReport")
	})

	t.Run("API failure keeps the cursor", func(t *testing.T) {
		h := onSim(t, simulator.Options{InitialEvents: 20, NoSelfExport: true})
		r, _ := h.start()
		r.poll(ctx)
		before := savedCursor(t, r)
		added := h.sim.Add(5)
		require.NoError(t, h.sim.SetFault(simulator.Fault503, 0))
		r.poll(ctx)
		assert.Len(t, h.next.accepted(), 20)
		assert.Equal(t, before, savedCursor(t, r))
		metadatatest.AssertEqualReceiverHuggingfaceauditFailedRequests(t, h.tel, points(int64(h.sim.Calls()-1), "error.type", classServer), ignoreTime)
		metadatatest.AssertEqualReceiverHuggingfaceauditPolls(t, h.tel,
			[]metricdata.DataPoint[int64]{point(1, "outcome", "success"), point(1, "outcome", "failure")}, ignoreTime)
		require.NoError(t, h.sim.SetFault(simulator.FaultNone, 0))
		r.poll(ctx)
		assert.Equal(t, added, h.next.accepted()[20:])
	})

	t.Run("partial success moves the cursor to what was accepted; restart resumes there", func(t *testing.T) {
		h := onSim(t, simulator.Options{InitialEvents: 25, NoSelfExport: true})
		r, stop := h.start(func(c *Config) { c.BatchSize = 10; c.RetryOnFailure.Enabled = false })
		h.next.fail(nil, errTemporary)
		r.poll(ctx)
		all := h.sim.EventIDs()
		require.Equal(t, all[:10], h.next.accepted())
		stored := savedCursor(t, r)
		require.NotNil(t, stored)
		assert.True(t, stored.seen.has([]byte(all[9])), "the last accepted event is at the boundary")
		assert.False(t, stored.seen.has([]byte(all[10])))
		stop()

		r2, _ := h.start()
		r2.poll(ctx)
		assert.Equal(t, all, h.next.accepted(), "the rest once, nothing twice")
	})

	t.Run("consumer failure keeps the cursor", func(t *testing.T) {
		h := onSim(t, simulator.Options{InitialEvents: 30, NoSelfExport: true})
		r, _ := h.start(func(c *Config) { c.RetryOnFailure.Enabled = false })
		h.next.fail(errTemporary)
		r.poll(ctx)
		assert.Empty(t, h.next.accepted())
		assertNothingSaved(t, r)
		r.poll(ctx)
		assert.Equal(t, h.sim.EventIDs(), h.next.accepted())
	})

	t.Run("initial_lookback limits the first run only", func(t *testing.T) {
		h := onFakeHub(t)
		now := time.Now().UTC()
		old := ev("6650a1b2c3d4e5f60000000a", now.Add(-3*time.Hour).Format(time.RFC3339Nano))
		recent := ev("6650a1b2c3d4e5f60000000b", now.Add(-30*time.Minute).Format(time.RFC3339Nano))
		h.hub.set(recent, old)
		r, stop := h.start(func(c *Config) { c.InitialLookback = time.Hour })
		r.poll(ctx)
		r.poll(ctx)
		stop()
		r2, _ := h.start() // no lookback now: the stored cursor rules
		r2.poll(ctx)
		assert.Equal(t, []string{"6650a1b2c3d4e5f60000000b"}, h.next.accepted())
		lag, err := h.tel.GetMetric("otelcol_receiver_huggingfaceaudit_lag")
		require.NoError(t, err)
		gauge, ok := lag.Data.(metricdata.Gauge[float64])
		require.True(t, ok, "lag is a float64 gauge")
		require.Len(t, gauge.DataPoints, 1)
		assert.InDelta(t, time.Since(now.Add(-30*time.Minute)).Seconds(), gauge.DataPoints[0].Value, 60, "seconds since the newest emitted event")
	})

	// initial_lookback counts from the first start, even when nothing was
	// emitted before a restart: an event created after that start must not
	// fall below a lookback counted again from the restart.
	t.Run("initial_lookback holds across a restart before the first event", func(t *testing.T) {
		first := "6650a1b2c3d4e5f60000000a"
		for _, tc := range []struct {
			name    string
			refused bool // the first run's pipeline refuses the first event
		}{{"an empty export", false}, {"a pipeline that refuses", true}} {
			t.Run(tc.name, func(t *testing.T) {
				const lookback = 2 * time.Second
				h := onFakeHub(t)
				var events, want []string
				if tc.refused {
					events = []string{ev(first, time.Now().UTC().Format(time.RFC3339Nano))}
					want = []string{first}
					h.next.refuse(errTemporary)
				}
				h.hub.set(events...)
				r, stop := h.start(func(c *Config) { c.InitialLookback = lookback })
				r.poll(ctx)
				assert.Empty(t, h.next.accepted())
				stop()
				h.next.refuse(nil)
				events = append(events, ev("6650a1b2c3d4e5f60000000b", time.Now().UTC().Format(time.RFC3339Nano)))
				want = append(want, "6650a1b2c3d4e5f60000000b")
				time.Sleep(lookback + 500*time.Millisecond) // the restart comes more than lookback later
				h.hub.set(events...)
				r2, _ := h.start(func(c *Config) { c.InitialLookback = lookback })
				r2.poll(ctx)
				assert.Equal(t, want, h.next.accepted(), "created after the first start's lookback began")
			})
		}
	})

	t.Run("an unreadable checkpoint starts over", func(t *testing.T) {
		h := onSim(t, simulator.Options{InitialEvents: 5, NoSelfExport: true})
		r, stop := h.start()
		require.NoError(t, r.store.client.Set(ctx, r.store.key, []byte("{not json")))
		stop()
		r2, _ := h.start()
		r2.poll(ctx)
		assert.Len(t, h.next.accepted(), 5)
		assert.Len(t, h.logs.FilterMessageSnippet("Stored checkpoint unreadable; starting over").All(), 1)
	})
}

func TestCursorKeyIsolatesStreams(t *testing.T) {
	assert.Equal(t, "cursor.acme", cursorKey("acme", ""))
	assert.NotEqual(t, cursorKey("acme", ""), cursorKey("acme", "type:repo.create"))
	assert.NotEqual(t, cursorKey("acme", "type:repo.create"), cursorKey("acme", "type:repo.delete"))
	assert.NotEqual(t, cursorKey("acme", ""), cursorKey("acme-labs", ""))
}

// Two instances on one file_storage directory keep their own cursors.
func TestInstancesDoNotShareCursors(t *testing.T) {
	ctx := context.Background()
	a := onSim(t, simulator.Options{InitialEvents: 7, NoSelfExport: true, Seed: 1})
	b := onSim(t, simulator.Options{InitialEvents: 9, NoSelfExport: true, Seed: 2})
	a.id = component.MustNewIDWithName("huggingfaceaudit", "org-a")
	b.id = component.MustNewIDWithName("huggingfaceaudit", "org-b")
	b.storageDir = a.storageDir
	run := func(h *harness) {
		r, stop := h.start()
		r.poll(ctx)
		stop()
	}
	run(a)
	run(b)
	a.sim.Add(2)
	b.sim.Add(3)
	run(a)
	run(b)
	assert.Len(t, a.next.accepted(), 9, "org-a: 7, then its 2 new ones")
	assert.Len(t, b.next.accepted(), 12, "org-b: 9, then its 3 new ones")
}

// ctxStorage is a storage extension whose client honours the context, as
// some do (file_storage does not).
type ctxStorage struct{ storage.Extension }

func (s ctxStorage) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := s.Extension.GetClient(ctx, kind, id, name)
	return ctxClient{c}, err
}

type ctxClient struct{ storage.Client }

func (c ctxClient) Set(ctx context.Context, key string, value []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.Client.Set(ctx, key, value)
}

// A shutdown that arrives while the pipeline accepts a batch still saves the
// cursor past that batch: after the restart it is not emitted again.
func TestCursorSavedWhenShutdownArrivesDuringABatch(t *testing.T) {
	ctx := context.Background()
	h := onFakeHub(t)
	h.hub.set(ev("6650a1b2c3d4e5f60000000a", "2026-11-20T10:00:00Z"), ev("6650a1b2c3d4e5f60000000b", "2026-11-20T10:00:01Z"))
	ext := ctxStorage{startFileStorage(t, h.storageDir).(storage.Extension)}
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(ctx)) })
	oneByOne := func(c *Config) { c.BatchSize = 1 }

	pollCtx, cancel := context.WithCancel(ctx)
	var first []string
	accepting, err := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error {
		first = append(first, recordIDs(ld)...)
		cancel() // the shutdown arrives as the batch is accepted
		return nil
	})
	require.NoError(t, err)
	r := h.newReceiver(accepting, oneByOne)
	require.NoError(t, r.setup(ctx, h.host(ext)))
	r.poll(pollCtx)
	require.NoError(t, r.Shutdown(ctx))
	require.Equal(t, []string{"6650a1b2c3d4e5f60000000a"}, first)

	r2 := h.newReceiver(h.next.consumer(t), oneByOne)
	require.NoError(t, r2.setup(ctx, h.host(ext)))
	defer func() { require.NoError(t, r2.Shutdown(ctx)) }()
	r2.poll(ctx)
	assert.Equal(t, []string{"6650a1b2c3d4e5f60000000b"}, h.next.accepted(), "the accepted batch is not emitted again")
}

// A restart with another late_arrival_window emits nothing twice: a wider
// window does not reach below where the stored seen set is complete, and a
// narrower one only raises the floor. A late event inside the window that
// applies is still emitted.
func TestChangingTheLateArrivalWindowDoesNotReEmit(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
	first := []string{
		ev("6650a1b2c3d4e5f60000000a", at(-10*time.Minute)),
		ev("6650a1b2c3d4e5f60000000b", at(-3*time.Hour)),
		ev("6650a1b2c3d4e5f60000000c", at(-5*time.Hour)),
	}
	late := ev("6650a1b2c3d4e5f60000000d", at(-40*time.Minute))
	window := func(d time.Duration) func(*Config) { return func(c *Config) { c.LateArrivalWindow = d } }

	t.Run("widened 1h to 24h", func(t *testing.T) {
		h := onFakeHub(t)
		h.hub.set(first...)
		r, stop := h.start(window(time.Hour))
		r.poll(ctx)
		stop()
		require.Len(t, h.next.accepted(), 3)

		r2, _ := h.start(window(24 * time.Hour))
		r2.poll(ctx)
		assert.Len(t, h.next.accepted(), 3, "the two events below the old floor are not emitted again")
		h.hub.set(append([]string{late}, first...)...)
		r2.poll(ctx)
		assert.Equal(t, "6650a1b2c3d4e5f60000000d", h.next.accepted()[3], "a late event within the window still is")
		assert.Len(t, h.next.accepted(), 4)
	})

	t.Run("narrowed 24h to 1h, then widened again", func(t *testing.T) {
		h := onFakeHub(t)
		h.hub.set(first...)
		r, stop := h.start(window(24 * time.Hour))
		r.poll(ctx)
		stop()
		require.Len(t, h.next.accepted(), 3)

		r2, stop2 := h.start(window(time.Hour))
		h.hub.set(append([]string{late}, first...)...)
		r2.poll(ctx) // emits the late one and forgets what fell below the new floor
		stop2()
		require.Len(t, h.next.accepted(), 4)

		r3, _ := h.start(window(24 * time.Hour))
		r3.poll(ctx)
		assert.Len(t, h.next.accepted(), 4, "forgotten under the narrow window, still not new under the wide one")
	})
}

// A checkpoint written before version 2 (one JSON value) is read, and
// rewritten in the current version by the next poll that emits.
func TestCheckpointVersion1IsMigrated(t *testing.T) {
	ctx := context.Background()
	h := onSim(t, simulator.Options{InitialEvents: 20, NoSelfExport: true})
	old := storedCursorV1{Version: 1}
	var watermark int64
	for _, raw := range h.sim.EventsJSON() {
		ev, err := eventDecoder{}.decode(raw)
		require.NoError(t, err)
		old.SeenIDs = append(old.SeenIDs, ev.id)
		old.SeenCreatedAt = append(old.SeenCreatedAt, ev.createdAt)
		watermark = max(watermark, ev.createdAt)
	}
	old.Watermark = formatNanos(watermark)
	b, err := json.Marshal(old)
	require.NoError(t, err)

	r, stop := h.start()
	require.NoError(t, r.store.client.Set(ctx, r.store.key, b))
	stop()
	r2, _ := h.start()
	r2.poll(ctx)
	assert.Empty(t, h.next.accepted(), "the 20 events of the old checkpoint are not emitted again")
	added := h.sim.Add(3)
	r2.poll(ctx)
	assert.Equal(t, added, h.next.accepted())

	stored, err := r2.store.client.Get(ctx, r2.store.key)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(stored, []byte(checkpointMagic+"\x03")), "rewritten as version 3")
	c := savedCursor(t, r2)
	assert.Equal(t, r2.cursor.seen.ids(), c.seen.ids())
	assert.Equal(t, r2.cursor.complete, c.complete)
}

// What a kill -9 in the middle of a pass leaves: the deltas of the batches
// accepted so far, which a restart applies (here before any base exists);
// the pass's end folds them into the base and deletes them.
func TestCheckpointDeltasCarryAPassCutShort(t *testing.T) {
	ctx := context.Background()
	h := onSim(t, simulator.Options{InitialEvents: 35, NoSelfExport: true, InitialSpan: time.Minute})
	ext := startFileStorage(t, h.storageDir)
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(ctx)) })
	var r *auditReceiver
	var atThirdBatch *cursor
	var baseAtThirdBatch []byte
	calls := 0
	next, err := consumer.NewLogs(func(context.Context, plog.Logs) error {
		if calls++; calls == 3 {
			atThirdBatch = savedCursor(t, r) // what a restart would read now
			baseAtThirdBatch, _ = r.store.client.Get(ctx, r.store.key)
		}
		return nil
	})
	require.NoError(t, err)
	r = h.newReceiver(next, func(c *Config) { c.BatchSize = 10 })
	require.NoError(t, r.setup(ctx, h.host(ext)))
	defer func() { require.NoError(t, r.Shutdown(ctx)) }()
	r.poll(ctx)

	all := h.sim.EventIDs()
	require.NotNil(t, atThirdBatch)
	base, err := decodeCheckpoint(baseAtThirdBatch)
	require.NoError(t, err)
	assert.Zero(t, base.count, "the base is the new cursor's, saved at start: the first pass is in deltas")
	assert.Equal(t, 20, atThirdBatch.seen.len(), "the two accepted batches")
	assert.True(t, atThirdBatch.seen.has([]byte(all[19])))
	assert.False(t, atThirdBatch.seen.has([]byte(all[20])))

	for seq := uint64(1); seq <= 4; seq++ {
		v, err := r.store.client.Get(ctx, r.store.deltaKey(seq))
		require.NoError(t, err)
		assert.Nil(t, v, "delta %d is folded into the base", seq)
	}
	c := savedCursor(t, r)
	assert.Equal(t, r.cursor.seen.ids(), c.seen.ids())
	assert.Equal(t, r.cursor.watermark, c.watermark)
	assert.Equal(t, r.cursor.complete, c.complete)
}

// A poll that finds a few new events writes their delta and leaves the base
// alone: rewriting every ID of the window for one event made each steady
// poll cost the whole seen set. The deltas are folded in once they hold a
// quarter of the base's IDs; a restart reads base and deltas either way.
func TestCheckpointSmallPassesWriteOnlyDeltas(t *testing.T) {
	ctx := context.Background()
	h := onSim(t, simulator.Options{InitialEvents: 40, NoSelfExport: true, InitialSpan: time.Minute})
	r, stop := h.start()
	r.poll(ctx)
	require.Len(t, h.next.accepted(), 40)
	base, err := r.store.client.Get(ctx, r.store.key)
	require.NoError(t, err)
	require.NotNil(t, base, "the first pass is folded into the base")

	for range 3 {
		h.sim.Add(2)
		r.poll(ctx)
	}
	require.Len(t, h.next.accepted(), 46)
	after, err := r.store.client.Get(ctx, r.store.key)
	require.NoError(t, err)
	assert.Equal(t, base, after, "three passes of 2 events (6 < 40/4) leave the base as it was")
	for seq := r.store.firstDelta; seq < r.store.nextDelta; seq++ {
		v, err := r.store.client.Get(ctx, r.store.deltaKey(seq))
		require.NoError(t, err)
		assert.NotNil(t, v, "delta %d", seq)
	}
	assert.Equal(t, uint64(3), r.store.nextDelta-r.store.firstDelta)

	// A restart reads the base and the three deltas: nothing is emitted again.
	stop()
	r2, stop2 := h.start()
	assert.Equal(t, r.cursor.seen.ids(), r2.cursor.seen.ids())
	r2.poll(ctx)
	assert.Len(t, h.next.accepted(), 46, "nothing emitted twice after the restart")

	// Ten more IDs make the deltas a quarter of the base: folded in.
	h.sim.Add(10)
	r2.poll(ctx)
	require.Len(t, h.next.accepted(), 56)
	after, err = r2.store.client.Get(ctx, r2.store.key)
	require.NoError(t, err)
	assert.NotEqual(t, base, after, "the deltas are folded into the base")
	assert.Equal(t, r2.store.firstDelta, r2.store.nextDelta)
	c := savedCursor(t, r2)
	assert.Equal(t, r2.cursor.seen.ids(), c.seen.ids())
	stop2()
}

// However small the deltas, no more than maxDeltas pile up: a restart
// reads each one.
func TestCheckpointCompactsAfterMaxDeltas(t *testing.T) {
	ctx := context.Background()
	ext := startFileStorage(t, t.TempDir())
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(ctx)) })
	client, err := ext.(storage.Extension).GetClient(ctx, component.KindReceiver, component.MustNewID("huggingfaceaudit"), "")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, client.Close(ctx)) })
	ts := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).UnixNano()
	event := func(i int) []pendingEvent {
		return []pendingEvent{{id: newEventID(fmt.Sprintf("6650a1b2c3d4e5f6%08x", i)), createdAt: ts + int64(i)}}
	}
	c := newCursor(0)
	var first []pendingEvent
	for i := range 10 * maxDeltas {
		first = append(first, event(i)...)
	}
	c.advance(first, time.Hour, farFuture)
	store := cursorStore{client: client, key: "cursor.test", firstDelta: 1, nextDelta: 1}
	require.NoError(t, store.saveBatch(ctx, c, first))
	require.NoError(t, store.compact(ctx, c))
	require.Equal(t, store.firstDelta, store.nextDelta, "a first pass is folded in")

	for i := range maxDeltas {
		batch := event(10*maxDeltas + i)
		c.advance(batch, time.Hour, farFuture)
		require.NoError(t, store.saveBatch(ctx, c, batch))
		require.NoError(t, store.compact(ctx, c))
		if i < maxDeltas-1 {
			require.Equal(t, uint64(i+1), store.nextDelta-store.firstDelta, "one-event passes leave their deltas")
		}
	}
	assert.Equal(t, store.firstDelta, store.nextDelta, "the %dth delta is folded in", maxDeltas)
	loaded := cursorStore{client: client, key: "cursor.test"}
	back, err := loaded.load(ctx, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, c.seen.ids(), back.seen.ids())
	assert.Equal(t, loaded.firstDelta, loaded.nextDelta, "no delta left to read")
}

// failSetOnce fails the next Set of its storage client once.
type failSetOnce struct {
	storage.Client
	armed bool
}

func (f *failSetOnce) Set(ctx context.Context, k string, v []byte) error {
	if f.armed {
		f.armed = false
		return errors.New("transient storage error")
	}
	return f.Client.Set(ctx, k, v)
}

// A batch delivered but whose delta could not be saved is not offered
// again, so only the base can record it: the next compaction writes it
// whatever the deltas' size. Without that, the next batch's delta took its
// slot and moved the bounds, and a restart emitted the batch again.
func TestCheckpointUnsavedDeltaIsCompacted(t *testing.T) {
	ctx := context.Background()
	h := onSim(t, simulator.Options{InitialEvents: 100, NoSelfExport: true, InitialSpan: time.Minute})
	r, stop := h.start()
	r.poll(ctx)
	require.Len(t, h.next.accepted(), 100)

	r.store.client = &failSetOnce{Client: r.store.client, armed: true}
	h.sim.Add(2)
	r.poll(ctx) // delivered, but its delta's Set fails
	require.Len(t, h.next.accepted(), 102)
	h.sim.Add(2)
	r.poll(ctx)
	require.Len(t, h.next.accepted(), 104)
	stop() // no compaction at shutdown: storage is as a kill -9 leaves it

	r2, stop2 := h.start()
	defer stop2()
	r2.poll(ctx)
	assert.Len(t, h.next.accepted(), 104, "a restart emitted again events that were not in flight")
}

// The pending events are sorted and deduplicated by their compact IDs: the
// order and the equality must be those of the ID strings, whatever mix of
// ObjectIds and other IDs a response holds.
func TestEventIDOrdersAsItsString(t *testing.T) {
	ids := []string{
		"6650a1b2c3d4e5f601234567", "6650a1b2c3d4e5f601234568", "ffffffffffffffffffffffff",
		"000000000000000000000000", "6650A1B2C3D4E5F601234567", "6650a1b2c3d4e5f60123456",
		"6650a1b2c3d4e5f6012345670", "6650a1b2c3d4e5f60123456g", "", "a", "z", "6650",
	}
	for _, a := range ids {
		for _, b := range ids {
			assert.Equal(t, strings.Compare(a, b), newEventID(a).compare(newEventID(b)), "%q vs %q", a, b)
		}
		assert.Equal(t, a, newEventID(a).String())
		assert.Equal(t, newEventID(a), newEventID([]byte(a)), "the same from bytes")
	}
	assert.Nil(t, newEventID(ids[0]).other, "an ObjectId costs no allocation")
}

// An unusable event that the scanner could key (found invalid only when
// its batch is built) is remembered, so it is reported once, but does not
// move the watermark: a later event within late_arrival_window of the
// newest emitted one is still delivered.
func TestUnusableEventDoesNotMoveTheWatermark(t *testing.T) {
	ctx := context.Background()
	h := onFakeHub(t)
	tA := time.Now().UTC().Truncate(time.Millisecond).Add(-3 * time.Hour)
	a := ev("6650a1b2c3d4e5f600000001", tA.Format(time.RFC3339Nano))
	noType := `{"_id":"6650a1b2c3d4e5f600000009","createdAt":"` + tA.Add(2*time.Hour).Format(time.RFC3339Nano) + `","message":"m"}`
	h.hub.set(a, noType)
	r, _ := h.start(func(c *Config) { c.LateArrivalWindow = time.Hour })
	r.poll(ctx)
	assert.Equal(t, []string{"6650a1b2c3d4e5f600000001"}, h.next.accepted())
	assert.Equal(t, tA.UnixNano(), r.cursor.watermark)

	late := ev("6650a1b2c3d4e5f600000002", tA.Add(30*time.Minute).Format(time.RFC3339Nano))
	h.hub.set(a, noType, late)
	r.poll(ctx)
	assert.Equal(t, []string{"6650a1b2c3d4e5f600000001", "6650a1b2c3d4e5f600000002"}, h.next.accepted())
	assert.Len(t, h.logs.FilterMessageSnippet("Skipping an invalid event").All(), 1, "reported once")
}

// A checkpoint whose times lie more than a day ahead of the clock (a
// corrupt digit in a version without a checksum, or a first start while
// the clock was years ahead) would hold back every event in silence: it is
// reported as unreadable and the receiver starts over. A watermark ahead
// of the clock in a checksummed checkpoint is kept: it comes from the
// Hub's createdAt, so the clock is behind, and starting over would emit
// the window again. So is a since before 1970 (initial_lookback of 60 years).
func TestCheckpointAheadOfTheClock(t *testing.T) {
	ctx := context.Background()
	ahead := time.Now().AddDate(5, 0, 0)
	v1, err := json.Marshal(storedCursorV1{Version: 1, Watermark: formatNanos(ahead.UnixNano()), SeenIDs: []string{}, SeenCreatedAt: []int64{}})
	require.NoError(t, err)
	for name, stored := range map[string][]byte{
		"version 1, its watermark ahead":                           v1,
		"version 3, since from a first start with the clock ahead": newCursor(ahead.Add(-time.Hour).UnixNano()).marshalBase(1),
	} {
		t.Run(name, func(t *testing.T) {
			h := onFakeHub(t)
			lookback := func(c *Config) { c.InitialLookback = time.Hour }
			r, stop := h.start(lookback)
			require.NoError(t, r.store.client.Set(ctx, r.store.key, stored))
			stop()
			recent := ev("6650a1b2c3d4e5f600000002", time.Now().UTC().Add(-time.Minute).Format(time.RFC3339Nano))
			h.hub.set(recent)
			r2, _ := h.start(lookback)
			r2.poll(ctx)
			assert.Equal(t, []string{"6650a1b2c3d4e5f600000002"}, h.next.accepted())
			assert.Len(t, h.logs.FilterMessageSnippet("Stored checkpoint unreadable; starting over").All(), 1)
		})
	}
	t.Run("version 3, its watermark ahead: the clock is behind", func(t *testing.T) {
		h := onFakeHub(t)
		id := "6650a1b2c3d4e5f600000002"
		created := time.Now().UTC().Add(-time.Minute)
		c := newCursor(0)
		c.advance([]pendingEvent{{id: newEventID(id), createdAt: created.UnixNano()}, {id: newEventID("6650a1b2c3d4e5f600000003"), createdAt: ahead.UnixNano()}}, time.Hour, ahead.UnixNano())
		r, stop := h.start()
		require.NoError(t, r.store.client.Set(ctx, r.store.key, c.marshalBase(1)))
		stop()
		h.hub.set(ev(id, created.Format(time.RFC3339Nano)))
		r2, _ := h.start()
		r2.poll(ctx)
		assert.Empty(t, h.next.accepted(), "nothing emitted again")
		assert.Empty(t, h.logs.FilterMessageSnippet("Stored checkpoint unreadable").All())
	})
	t.Run("initial_lookback of 60 years, across a restart", func(t *testing.T) {
		h := onFakeHub(t)
		lookback := func(c *Config) { c.InitialLookback = 60 * 365 * 24 * time.Hour }
		h.hub.set(ev("6650a1b2c3d4e5f600000001", time.Now().UTC().Add(-time.Minute).Format(time.RFC3339Nano)))
		r, stop := h.start(lookback)
		r.poll(ctx)
		stop()
		r2, _ := h.start(lookback)
		r2.poll(ctx)
		assert.Equal(t, []string{"6650a1b2c3d4e5f600000001"}, h.next.accepted(), "emitted once")
		assert.Empty(t, h.logs.FilterMessageSnippet("Stored checkpoint unreadable").All())
	})
}

// A save that failed is made again at the end of the next poll, whatever
// its outcome: a new cursor whose save at start failed, and whose first
// poll failed too, still holds initial_lookback from the first start
// after a restart. A base of an older version is rewritten in the current
// one by the first poll.
func TestCheckpointSavedAtTheEndOfEveryPoll(t *testing.T) {
	ctx := context.Background()
	t.Run("a failed save at start", func(t *testing.T) {
		h := onFakeHub(t)
		lookback := func(c *Config) { c.InitialLookback = 2 * time.Second }
		h.hub.set(ev("6650a1b2c3d4e5f600000001", time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)))
		faults := &faultSwitch{rng: rand.New(rand.NewPCG(1, 1)), on: true, always: true}
		ext := faults.storage(startFileStorage(t, h.storageDir))
		r := h.newReceiver(h.next.consumer(t), lookback)
		require.NoError(t, r.setup(ctx, h.host(ext)))
		require.Len(t, h.logs.FilterMessageSnippet("Saving the new checkpoint failed").All(), 1)
		faults.on = false
		h.hub.setStatus(http.StatusUnauthorized)
		r.poll(ctx)
		require.NoError(t, r.Shutdown(ctx))
		require.NoError(t, ext.Shutdown(ctx))

		time.Sleep(3 * time.Second) // the restart comes more than the lookback later
		h.hub.setStatus(0)
		r2, _ := h.start(lookback)
		r2.poll(ctx)
		assert.Equal(t, []string{"6650a1b2c3d4e5f600000001"}, h.next.accepted())
	})
	t.Run("a version 2 base", func(t *testing.T) {
		h := onFakeHub(t)
		c := newCursor(0)
		c.advance([]pendingEvent{{id: newEventID("6650a1b2c3d4e5f600000001"), createdAt: time.Now().Add(-time.Minute).UnixNano()}}, time.Hour, time.Now().UnixNano())
		v2 := c.marshalBase(1)
		v2 = v2[:len(v2)-4]
		v2[len(checkpointMagic)] = checkpointV2
		r, stop := h.start()
		require.NoError(t, r.store.client.Set(ctx, r.store.key, v2))
		stop()
		r2, _ := h.start()
		r2.poll(ctx)
		stored, err := r2.store.client.Get(ctx, r2.store.key)
		require.NoError(t, err)
		assert.Equal(t, byte(checkpointVersion), stored[len(checkpointMagic)], "rewritten by the first poll, which emitted nothing")
	})
}
