package huggingfaceauditreceiver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/metadata"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

func TestSpool(t *testing.T) {
	dir := t.TempDir()
	s := newSpool(100, dir)
	var raws [][]byte
	pending := make([]pendingEvent, 60)
	for i := range pending {
		raw := []byte(fmt.Sprintf(`{"_id":"%024d","n":%d}`, i, i*i))
		raws = append(raws, raw)
		pending[i].id = newEventID(fmt.Sprint(i))
		s.add(raw, &pending[i])
	}
	require.NoError(t, s.err)
	require.True(t, s.spooled())
	inMemory := 0
	for _, e := range pending {
		if e.inMemory {
			inMemory++
		}
	}
	assert.Equal(t, 100/len(raws[0]), inMemory, "the first events up to the limit stay in memory")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "the spool file is unlinked while open: nothing is left behind after a crash")

	check := func(batch []pendingEvent, loaded [][]byte) {
		t.Helper()
		for k, e := range batch {
			var i int
			_, _ = fmt.Sscan(e.id.String(), &i)
			assert.Equal(t, string(raws[i]), string(loaded[k]))
		}
	}
	// Contiguous batches (the export sorted either way), read newest first.
	// A batch's bytes stay as they are when the next batch is read: the
	// records built from them point into them.
	var previous []pendingEvent
	var previousRaws [][]byte
	for end := len(pending); end > 0; end -= 16 {
		batch := pending[max(0, end-16):end]
		loaded := make([][]byte, len(batch))
		require.NoError(t, s.load(batch, loaded))
		check(batch, loaded)
		check(previous, previousRaws)
		previous, previousRaws = batch, loaded
	}
	// Scattered batches (a shuffled export).
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(pending), func(i, j int) { pending[i], pending[j] = pending[j], pending[i] })
	for start := 0; start < len(pending); start += 7 {
		batch := pending[start:min(start+7, len(pending))]
		loaded := make([][]byte, len(batch))
		require.NoError(t, s.load(batch, loaded))
		check(batch, loaded)
	}
	s.close()
	s.close()
}

func TestSpoolInMemory(t *testing.T) {
	s := newSpool(-1, t.TempDir())
	var e pendingEvent
	s.add(make([]byte, 10<<20), &e)
	assert.False(t, s.spooled())
	loaded := make([][]byte, 1)
	require.NoError(t, s.load([]pendingEvent{e}, loaded))
	assert.Len(t, loaded[0], 10<<20)
	s.close()

	// No directory to spool to: kept in memory, the reason kept for the log.
	s = newSpool(10, filepath.Join(t.TempDir(), "missing"))
	s.add([]byte(`{"a":"0123456789"}`), &e)
	assert.False(t, s.spooled())
	assert.Error(t, s.openErr)
	assert.NoError(t, s.err)
	require.NoError(t, s.load([]pendingEvent{e}, loaded))
	assert.Equal(t, `{"a":"0123456789"}`, string(loaded[0]))
	s.close()
}

// A backfill larger than spoolMemory goes through the spool file and comes
// out whole, oldest first, in every order of the array; with no writable
// temporary directory it falls back to memory, says so once, and still
// delivers everything.
func TestBackfillThroughSpool(t *testing.T) {
	ctx := context.Background()
	const events = 4000 // about 2.5 MB: most of it spooled
	for _, order := range []string{simulator.OrderNewestFirst, simulator.OrderOldestFirst, simulator.OrderRandom} {
		t.Run(order, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			h := onSim(t, simulator.Options{InitialEvents: events, BurstSize: 3, Order: order, NoSelfExport: true})
			r, _ := h.start(func(c *Config) { c.BatchSize = 300 })
			r.poll(ctx)
			assert.Equal(t, h.sim.EventIDs(), h.next.accepted(), "each event once, oldest first")
			h.sim.Add(20)
			r.poll(ctx)
			assert.Equal(t, h.sim.EventIDs(), h.next.accepted())
			assert.False(t, r.spoolInMemory)
			assert.Equal(t, 1, h.logs.FilterMessageSnippet("Spooled the new events").Len(), "the backfill went through the file, the next poll did not")
			entries, err := os.ReadDir(tmp)
			require.NoError(t, err)
			assert.Empty(t, entries, "no spool file left")
		})
	}
	t.Run("no writable temporary directory", func(t *testing.T) {
		t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
		h := onSim(t, simulator.Options{InitialEvents: events, NoSelfExport: true})
		r, _ := h.start()
		r.poll(ctx)
		assert.Equal(t, h.sim.EventIDs(), h.next.accepted())
		assert.True(t, r.spoolInMemory)
		h.sim.Add(events)
		r.poll(ctx)
		assert.Equal(t, h.sim.EventIDs(), h.next.accepted())
		assert.Equal(t, 1, h.logs.FilterMessageSnippet("Cannot spool the export").Len(), "said once")
	})
}

// The spool's write buffer is flushed when the pass ends: a write that only
// fails then (a full disk under a spool smaller than the buffer) fails that
// pass and switches to memory, instead of failing every poll at read-back.
func TestSpoolFlushFailsThePass(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	r := &auditReceiver{set: receivertest.NewNopSettings(metadata.Type)}
	r.set.Logger = zap.New(core)
	s := newSpool(0, t.TempDir())
	var e pendingEvent
	s.add([]byte(`{"_id":"a"}`), &e)
	require.True(t, s.spooled())
	require.NoError(t, s.err, "still in the write buffer")
	require.NoError(t, s.file.Close()) // the disk refuses the write
	require.Error(t, r.checkSpool(s), "the pass fails: its spooled events are lost")
	assert.True(t, r.spoolInMemory, "the next pass keeps new events in memory")
	assert.Equal(t, 1, logs.FilterMessage("Cannot spool the export; keeping new events in memory").Len())
	s.close()
}

// A spool file shorter than its index (a read that comes up short) is an
// error, never another event's bytes.
func TestSpoolShortRead(t *testing.T) {
	s := newSpool(0, t.TempDir())
	defer s.close()
	batch := make([]pendingEvent, 2)
	s.add([]byte(`{"_id":"a"}`), &batch[0])
	s.add([]byte(`{"_id":"b"}`), &batch[1])
	loaded := make([][]byte, 1)
	require.NoError(t, s.load(batch[:1], loaded))
	assert.Equal(t, `{"_id":"a"}`, string(loaded[0]))
	require.NoError(t, s.file.Truncate(batch[1].off+1))
	err := s.load(batch[1:], loaded)
	require.Error(t, err, "got %q", loaded[0])
}
