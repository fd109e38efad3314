package huggingfaceauditreceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
