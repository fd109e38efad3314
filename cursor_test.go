package huggingfaceauditreceiver

import (
	"context"
	"errors"
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

func TestCursorAdvanceAndPrune(t *testing.T) {
	base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).UnixNano()
	at := func(d time.Duration) int64 { return base + int64(d) }
	window := time.Hour
	c := newCursor(0)
	assert.True(t, c.isNew([]byte("a"), at(0), c.floor(window)), "an empty cursor takes everything")

	c.advance([]pendingEvent{{id: "a", createdAt: at(0)}, {id: "b", createdAt: at(0)}}, window, farFuture)
	assert.Equal(t, at(0), c.watermark)
	assert.False(t, c.isNew([]byte("a"), at(0), c.floor(window)))
	assert.True(t, c.isNew([]byte("c"), at(0), c.floor(window)), "a new ID on the watermark's millisecond")
	assert.True(t, c.isNew([]byte("late"), at(-30*time.Minute), c.floor(window)), "late within the window")
	assert.False(t, c.isNew([]byte("old"), at(-2*time.Hour), c.floor(window)), "below the floor")

	// Within the window nothing is pruned; past it, old IDs go.
	c.advance([]pendingEvent{{id: "d", createdAt: at(30 * time.Minute)}}, window, farFuture)
	assert.Len(t, c.seen, 3)
	c.advance([]pendingEvent{{id: "e", createdAt: at(90 * time.Minute)}}, window, farFuture)
	assert.Equal(t, map[string]int64{"d": at(30 * time.Minute), "e": at(90 * time.Minute)}, c.seen)
	assert.True(t, c.covers([]byte("a"), at(0)), "older than the watermark: covered even when pruned")

	// A late event below the new floor is pruned on the next move.
	c.advance([]pendingEvent{{id: "f", createdAt: at(20 * time.Minute)}}, window, farFuture)
	c.advance([]pendingEvent{{id: "g", createdAt: at(100 * time.Minute)}}, window, farFuture)
	assert.NotContains(t, c.seen, "f")
	assert.NotContains(t, c.seen, "d")
}

// farFuture is a "now" later than every event of these tests.
var farFuture = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

func TestCursorIgnoresFutureTimestampsForTheWatermark(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).UnixNano()
	c := newCursor(0)
	future := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	c.advance([]pendingEvent{{id: "bad-clock", createdAt: future}}, time.Hour, now)
	assert.Equal(t, now, c.watermark)
	floor := c.floor(time.Hour)
	assert.True(t, c.isNew([]byte("next"), now+int64(time.Minute), floor), "events after it are still new")
	assert.False(t, c.isNew([]byte("bad-clock"), future, floor), "and it is not emitted twice")
}

func TestCursorRoundTrip(t *testing.T) {
	c := newCursor(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	c.advance([]pendingEvent{{id: "6650a1b2c3d4e5f601234567", createdAt: time.Date(2026, 11, 20, 10, 0, 0, 123e6, time.UTC).UnixNano()}}, time.Hour, farFuture)
	b, err := c.marshal()
	require.NoError(t, err)
	assert.JSONEq(t, `{"version":1,"watermark":"2026-11-20T10:00:00.123Z","since":"2026-11-01T00:00:00Z","seen_ids":["6650a1b2c3d4e5f601234567"],"seen_created_at":[1795168800123000000]}`, string(b))
	back, err := unmarshalCursor(b)
	require.NoError(t, err)
	assert.Equal(t, c.watermark, back.watermark)
	assert.Equal(t, c.since, back.since)
	assert.Equal(t, c.seen, back.seen)

	for _, bad := range []string{`{`, `{"version":2}`, `{"version":1,"watermark":"yesterday"}`, `{"version":1,"seen_ids":["a"],"seen_created_at":[]}`} {
		_, err := unmarshalCursor([]byte(bad))
		assert.Error(t, err, bad)
	}
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
		assert.Contains(t, stored.seen, all[9], "the last accepted event is at the boundary")
		assert.NotContains(t, stored.seen, all[10])
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
		assert.Nil(t, savedCursor(t, r), "nothing saved")
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
