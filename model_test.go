package huggingfaceauditreceiver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// The cursor against a model, over random histories: events arriving in
// any order, late (within the window), twice in one response, or unusable;
// batch sizes changed across restarts; pipelines that refuse; storage that
// fails writes. Whatever happens, every usable event is delivered once the
// pipeline and storage work again, and nothing is delivered twice unless a
// storage write failed (then the batch whose save failed may come again,
// as the README says).
func TestCursorModel(t *testing.T) {
	const (
		seeds  = 24
		steps  = 60
		window = time.Hour
	)
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0x5eed))
			storageFaults := seed%3 == 2
			ctx := context.Background()
			h := onFakeHub(t)
			faults := &faultSwitch{rng: rng}
			var events []string       // the export, in the Hub's order
			want := map[string]bool{} // usable events: _id
			clock := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
			newest := clock // the newest createdAt so far
			nextID := 0
			add := func(createdAt time.Time) {
				nextID++
				id := fmt.Sprintf("6650a1b2c3d4e5f6%08x", nextID)
				if rng.IntN(10) == 0 {
					id = fmt.Sprintf("custom-id-%d", nextID) // not an ObjectId
				}
				e := ev(id, createdAt.Format(time.RFC3339Nano))
				events = append(events, e)
				want[id] = true
				if rng.IntN(20) == 0 {
					events = append(events, e) // twice in one response
				}
				newest = maxTime(newest, createdAt)
			}

			var r *auditReceiver
			var stop func()
			start := func() {
				batch := 1 + rng.IntN(7)
				ext := faults.storage(startFileStorage(t, h.storageDir))
				r = h.newReceiver(h.next.consumer(t), func(c *Config) {
					c.BatchSize = batch
					c.LateArrivalWindow = window
					c.RetryOnFailure.Enabled = false
				})
				require.NoError(t, r.setup(ctx, h.host(ext)))
				stop = func() {
					require.NoError(t, r.Shutdown(ctx))
					require.NoError(t, ext.Shutdown(ctx))
				}
			}
			start()

			for range steps {
				switch step := rng.IntN(10); {
				case step < 4: // new events, some out of order, some late
					for range rng.IntN(12) {
						switch rng.IntN(4) {
						case 0: // late, well within the window
							add(newest.Add(-time.Duration(rng.Int64N(int64(window / 2)))))
						case 1: // the same millisecond as the newest
							add(newest)
						default:
							clock = clock.Add(time.Duration(rng.Int64N(int64(time.Minute))))
							add(clock)
						}
					}
					if rng.IntN(8) == 0 { // unusable: never delivered
						nextID++
						events = append(events, fmt.Sprintf(`{"_id":"bad-%d","createdAt":"yesterday","type":"repo.create"}`, nextID))
					}
				case step < 7:
					rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
					h.hub.set(events...)
					r.poll(ctx)
				case step < 8:
					stop()
					start()
				case step < 9:
					if rng.IntN(2) == 0 {
						h.next.refuse(errors.New("queue full"))
					} else {
						h.next.refuse(nil)
					}
				default:
					faults.on = storageFaults && !faults.on
				}
			}

			// The pipeline and storage work again: one restart, one poll.
			h.next.refuse(nil)
			faults.on = false
			stop()
			start()
			h.hub.set(events...)
			r.poll(ctx)
			stop()

			got := h.next.accepted()
			delivered := map[string]int{}
			for _, id := range got {
				delivered[id]++
			}
			for id := range want {
				assert.Positive(t, delivered[id], "%s was never delivered", id)
			}
			for id, n := range delivered {
				assert.True(t, want[id], "%s is not a usable event", id)
				if !storageFaults {
					assert.Equal(t, 1, n, "%s delivered %d times", id, n)
				}
			}
			// With faults, a failed write re-sends at most its batch.
			assert.LessOrEqual(t, len(got)-len(want), faults.failed*7)
		})
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// faultSwitch makes storage writes fail at random while on, counting them.
type faultSwitch struct {
	rng *rand.Rand
	on  bool
	// always: every write fails while on, not one in three.
	always bool
	failed int
}

// storage wraps a storage extension so that its clients' writes obey f.
func (f *faultSwitch) storage(ext component.Component) storage.Extension {
	return wrappedStorage{Extension: ext.(storage.Extension), wrap: func(c storage.Client) storage.Client {
		return &faultyClient{Client: c, f: f}
	}}
}

type faultyClient struct {
	storage.Client
	f *faultSwitch
}

var errStorageFault = errors.New("injected storage fault")

func (c *faultyClient) fail() bool {
	if c.f.on && (c.f.always || c.f.rng.IntN(3) == 0) {
		c.f.failed++
		return true
	}
	return false
}

func (c *faultyClient) Set(ctx context.Context, key string, value []byte) error {
	if c.fail() {
		return errStorageFault
	}
	return c.Client.Set(ctx, key, value)
}

func (c *faultyClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	if c.fail() {
		return errStorageFault
	}
	return c.Client.Batch(ctx, ops...)
}
