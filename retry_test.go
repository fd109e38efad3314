package huggingfaceauditreceiver

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/metadatatest"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

// What the pipeline's answers do: a non-permanent error is retried, a
// permanent one drops the batch for good.
func TestConsumeRetry(t *testing.T) {
	ctx := context.Background()
	errTemporary := errors.New("exporter queue is full")

	t.Run("non-permanent errors are retried within the poll", func(t *testing.T) {
		h := onSim(t, simulator.Options{InitialEvents: 30, NoSelfExport: true})
		r, _ := h.start()
		h.next.fail(errTemporary, errTemporary)
		r.poll(ctx)
		assert.Equal(t, h.sim.EventIDs(), h.next.accepted())
		assert.Equal(t, 3, h.next.calls)
	})

	t.Run("permanent error drops the batch and moves on", func(t *testing.T) {
		h := onSim(t, simulator.Options{InitialEvents: 25, NoSelfExport: true})
		r, _ := h.start(func(c *Config) { c.BatchSize = 10 })
		h.next.fail(nil, consumererror.NewPermanent(errors.New("schema mismatch")))
		r.poll(ctx)
		all := h.sim.EventIDs()
		want := append(slices.Clone(all[:10]), all[20:]...)
		assert.Equal(t, want, h.next.accepted())
		metadatatest.AssertEqualReceiverHuggingfaceauditEventsSkipped(t, h.tel, points(10, "reason", "refused"), ignoreTime)
		r.poll(ctx)
		assert.Equal(t, want, h.next.accepted(), "refused data is never offered again")
		assert.True(t, savedCursor(t, r).seen.has([]byte(all[24])))
	})
}
