package huggingfaceauditreceiver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/metadatatest"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

// What one pass over the export keeps: every event once, in any order of
// the array, across polls and restarts.
func TestExportPass(t *testing.T) {
	ctx := context.Background()

	t.Run("every order of the array", func(t *testing.T) {
		for _, order := range []string{simulator.OrderNewestFirst, simulator.OrderOldestFirst, simulator.OrderRandom} {
			t.Run(order, func(t *testing.T) {
				h := onSim(t, simulator.Options{InitialEvents: 300, BurstSize: 4, Order: order, NoSelfExport: true})
				r, stop := h.start(func(c *Config) { c.BatchSize = 64 })
				r.poll(ctx)
				h.sim.Add(40)
				r.poll(ctx)
				stop()
				r2, _ := h.start()
				h.sim.Add(40)
				r2.poll(ctx)
				assert.Equal(t, h.sim.EventIDs(), h.next.accepted(), "each event once, oldest first, across polls and a restart")
			})
		}
	})

	t.Run("ties on one millisecond straddle polls; late arrivals within the window", func(t *testing.T) {
		h := onFakeHub(t)
		r, stop := h.start()
		const tMs = "2026-11-20T10:00:00.123Z"
		a, b, c := ev("6650a1b2c3d4e5f60000000a", tMs), ev("6650a1b2c3d4e5f60000000b", tMs), ev("6650a1b2c3d4e5f60000000c", tMs)
		h.hub.set(b, a)
		r.poll(ctx)
		assert.Equal(t, []string{"6650a1b2c3d4e5f60000000a", "6650a1b2c3d4e5f60000000b"}, h.next.accepted())
		h.hub.set(c, b, a)
		r.poll(ctx)
		assert.Equal(t, "6650a1b2c3d4e5f60000000c", h.next.accepted()[2], "a third event of the same millisecond, in the next poll")
		late := ev("6650a1b2c3d4e5f60000000d", "2026-11-20T09:59:30.000Z")
		tooLate := ev("6650a1b2c3d4e5f60000000e", "2026-11-20T08:00:00.000Z")
		h.hub.set(c, b, a, late, tooLate)
		r.poll(ctx)
		assert.Equal(t, []string{"6650a1b2c3d4e5f60000000d"}, h.next.accepted()[3:], "late by 30s: emitted; late by 2h (> late_arrival_window): not")
		stop()
		r2, _ := h.start()
		r2.poll(ctx)
		assert.Len(t, h.next.accepted(), 4, "a restart emits none of them again")
	})

	t.Run("an event stamped in the future does not hide the events after it", func(t *testing.T) {
		h := onFakeHub(t)
		r, _ := h.start()
		now := time.Now().UTC()
		future := ev("6650a1b2c3d4e5f60000000f", "2099-01-01T00:00:00Z")
		a := ev("6650a1b2c3d4e5f60000000a", now.Add(-time.Minute).Format(time.RFC3339Nano))
		h.hub.set(future, a)
		r.poll(ctx)
		b := ev("6650a1b2c3d4e5f60000000b", time.Now().UTC().Format(time.RFC3339Nano))
		h.hub.set(b, future, a)
		r.poll(ctx)
		assert.Equal(t, []string{"6650a1b2c3d4e5f60000000a", "6650a1b2c3d4e5f60000000f", "6650a1b2c3d4e5f60000000b"}, h.next.accepted())
	})

	t.Run("duplicate IDs within one response are emitted once", func(t *testing.T) {
		h := onFakeHub(t)
		r, _ := h.start()
		a := ev("6650a1b2c3d4e5f60000000a", "2026-11-20T10:00:00Z")
		h.hub.set(a, a)
		r.poll(ctx)
		assert.Len(t, h.next.accepted(), 1)
	})

	t.Run("an empty array moves nothing and is not a gap", func(t *testing.T) {
		h := onFakeHub(t)
		r, _ := h.start()
		a, b := ev("6650a1b2c3d4e5f60000000a", "2026-11-20T10:00:00Z"), ev("6650a1b2c3d4e5f60000000b", "2026-11-20T10:00:01Z")
		h.hub.set(a)
		r.poll(ctx)
		before := savedCursor(t, r)
		h.hub.set()
		r.poll(ctx)
		assert.Equal(t, before, savedCursor(t, r))
		h.hub.set(b, a)
		r.poll(ctx)
		assert.Len(t, h.next.accepted(), 2)
		h.assertNoMetric("gaps")
	})

	t.Run("a cursor that fell out of the window is reported as a gap", func(t *testing.T) {
		h := onSim(t, simulator.Options{InitialEvents: 50, MaxEvents: 100, NoSelfExport: true})
		r, stop := h.start()
		r.poll(ctx)
		stop()
		h.sim.Add(150) // while "down": 50 events fall off unseen
		r2, _ := h.start()
		r2.poll(ctx)
		metadatatest.AssertEqualReceiverHuggingfaceauditGaps(t, h.tel, points(1), ignoreTime)
		assert.Len(t, h.logs.FilterMessageSnippet("Events lost at the source").All(), 1)
		assert.Len(t, h.next.accepted(), 150, "50 before + the 100 still in the window")
	})

	t.Run("an invalid event is counted once across a cut-body retry and a refused batch", func(t *testing.T) {
		h := onFakeHub(t)
		// One element whose key cannot be read (found while reading the
		// body), one whose key can but whose type is an array (found when
		// its batch is built), and two good ones.
		noKey := `{"_id":5,"createdAt":"2026-11-20T10:00:00Z","type":"repo.create"}`
		badType := `{"_id":"6650a1b2c3d4e5f60000000b","createdAt":"2026-11-20T10:00:01Z","type":["repo.create"]}`
		a, b := ev("6650a1b2c3d4e5f60000000a", "2026-11-20T10:00:02Z"), ev("6650a1b2c3d4e5f60000000c", "2026-11-20T10:00:03Z")
		h.hub.set(noKey, badType, a, b)
		h.hub.cutAt = len("["+noKey+","+badType+",") + 10 // cut inside a, after both invalid ones
		r, _ := h.start()
		h.next.refuse(errors.New("exporter queue is full"))
		r.poll(ctx) // read twice (cut, then whole); the batch is refused until the budget is spent
		require.Equal(t, 2, h.hub.callCount())
		require.Empty(t, h.next.accepted())
		h.next.refuse(nil)
		r.poll(ctx) // the same batch, offered again, is accepted
		r.poll(ctx) // nothing new
		assert.Equal(t, []string{"6650a1b2c3d4e5f60000000a", "6650a1b2c3d4e5f60000000c"}, h.next.accepted())
		metadatatest.AssertEqualReceiverHuggingfaceauditFailedRequests(t, h.tel, points(1, "error.type", classTruncated), ignoreTime)
		metadatatest.AssertEqualReceiverHuggingfaceauditEventsSkipped(t, h.tel, points(2, "reason", "invalid"), ignoreTime)
		assert.Len(t, h.logs.FilterMessage("Skipping an invalid event").All(), 2)

		h.hub.set(a, b) // the invalid events leave the window
		r.poll(ctx)
		assert.Empty(t, r.reported, "forgotten once they left the export: the memory stays bounded")
	})

	t.Run("an invalid event is skipped, logged with its _id and counted once", func(t *testing.T) {
		h := onSim(t, simulator.Options{InitialEvents: 20, NoSelfExport: true})
		r, _ := h.start()
		require.NoError(t, h.sim.SetFault(simulator.FaultInvalidEvent, 0))
		r.poll(ctx)
		r.poll(ctx)
		all := h.sim.EventIDs()
		assert.Equal(t, all[:19], h.next.accepted(), "the others are delivered")
		metadatatest.AssertEqualReceiverHuggingfaceauditEventsSkipped(t, h.tel, points(1, "reason", "invalid"), ignoreTime)
		skipped := h.logs.FilterMessageSnippet("Skipping an invalid event").All()
		require.Len(t, skipped, 1)
		assert.Equal(t, all[19], skipped[0].ContextMap()["_id"])
	})
}

// A steady poll steps over the runs of the window the poll before saw
// covered or emitted (runs.go), and still finds what is new anywhere in it:
// late arrivals in the middle, new events at either end, and events the
// pipeline refused.
func TestSteadyPollStepsOverRuns(t *testing.T) {
	ctx := context.Background()
	for _, order := range []string{simulator.OrderNewestFirst, simulator.OrderOldestFirst} {
		t.Run(order, func(t *testing.T) {
			h := onSim(t, simulator.Options{InitialEvents: 3000, Order: order, NoSelfExport: true})
			r, stop := h.start()
			r.poll(ctx) // the backfill: its runs count once it is emitted
			fetch := func() *exportPass {
				slot := pollSlot{l: polls}
				defer slot.release()
				pass, err := r.fetch(ctx, &slot)
				require.NoError(t, err)
				pass.spool.close()
				return pass
			}
			pass := fetch()
			assert.Equal(t, 3000, pass.received)
			assert.Equal(t, 3000, pass.old)
			assert.Empty(t, pass.pending)
			assert.Equal(t, 2999, pass.skipped, "all but the first element stepped over")

			want := append(h.sim.AddLate(3, 10*time.Minute), h.sim.Add(2)...)
			pass = fetch()
			assert.Equal(t, 3005, pass.received)
			got := make([]string, 0, len(pass.pending))
			for _, e := range pass.pending {
				got = append(got, e.id.String())
			}
			assert.ElementsMatch(t, want, got, "the late and the new events, wherever they are")
			assert.Greater(t, pass.skipped, 2000, "the unchanged runs are stepped over")

			h.next.refuse(errors.New("pipeline down"))
			r.poll(ctx)
			pass = fetch()
			assert.Len(t, pass.pending, 5, "refused: found again")
			assert.Greater(t, pass.skipped, 2000)

			h.next.refuse(nil)
			r.poll(ctx)
			pass = fetch()
			assert.Empty(t, pass.pending)
			assert.Equal(t, 3004, pass.skipped, "emitted: all but the first element stepped over")
			stop()
			accepted := h.next.accepted()
			assert.ElementsMatch(t, h.sim.EventIDs(), accepted, "every event once")
			assert.Len(t, accepted, 3005)
		})
	}
}

// An invalid event is logged so that someone can find it: with a short
// excerpt of the event (the only clue when it has no _id), and never with
// the whole of a huge value, which would flood the log.
func TestInvalidEventLogIsShortAndFindable(t *testing.T) {
	huge := strings.Repeat("9", 1<<20)
	h := onFakeHub(t)
	h.hub.set(
		ev("6650a1b2c3d4e5f600000001", "2026-11-20T10:00:00Z"),
		`{"createdAt":"2026-11-20T10:00:01Z","type":"repo.create","message":"no id here"}`,
		`{"_id":"6650a1b2c3d4e5f600000002","createdAt":"`+huge+`","type":"repo.create","message":"m"}`,
		`{"_id":"`+huge+`","createdAt":"2026-11-20T10:00:02Z","message":"no type"}`,
		// RFC 3339 puts no bound on the fraction: a valid time, out of range.
		`{"_id":"6650a1b2c3d4e5f600000004","createdAt":"2300-01-01T00:00:00.`+huge+`Z","type":"repo.create","message":"m"}`,
		ev("6650a1b2c3d4e5f600000003", "2026-11-20T10:00:03Z"),
	)
	r, _ := h.start()
	r.poll(context.Background())
	assert.Equal(t, []string{"6650a1b2c3d4e5f600000001", "6650a1b2c3d4e5f600000003"}, h.next.accepted())
	logged := h.logs.FilterMessage("Skipping an invalid event").All()
	require.Len(t, logged, 4)
	for i, l := range logged {
		fields := l.ContextMap()
		assert.Less(t, len(fmt.Sprint(fields)), 2000, "line %d: a huge value is cut", i)
		_, ok := fields["event"]
		assert.True(t, ok, "line %d: an excerpt of the event", i)
	}
	excerpt, _ := logged[0].ContextMap()["event"].(string)
	assert.Contains(t, excerpt, `"message":"no id here"`)
}
