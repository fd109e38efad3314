package huggingfaceauditreceiver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/featuregate"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/xpdata/pref"

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

	// A consumer owns the logs it was given, also when it fails: a processor
	// may have changed them before an exporter refused them (here as the
	// attributes processor's hash action does).
	t.Run("a retry offers the records as built, not as a processor left them", func(t *testing.T) {
		h := onSim(t, simulator.Options{InitialEvents: 30, NoSelfExport: true})
		var offered []plog.Logs
		next, err := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error {
			offered = append(offered, copyLogs(ld))
			forEachRecord(ld, func(lr plog.LogRecord) {
				if v, ok := lr.Attributes().Get(attrUserName); ok {
					sum := sha256.Sum256([]byte(v.Str()))
					v.SetStr(hex.EncodeToString(sum[:]))
				}
			})
			if len(offered) == 1 {
				return errTemporary
			}
			return nil
		})
		require.NoError(t, err)
		r := startWith(t, h, next)
		r.poll(ctx)
		require.Len(t, offered, 2)
		require.NoError(t, plogtest.CompareLogs(offered[0], offered[1]), "the retry must offer the records unchanged")
		assert.Equal(t, h.sim.EventIDs(), recordIDs(offered[1]))
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

// With pdata.useProtoPooling, the collector frees the logs a processor or
// exporter was given as soon as its call returns, failed or not (the
// service wraps each of them so: pref.MarkPipelineOwnedLogs, then
// pref.UnrefLogs). A retry of the same logs would offer freed memory: no
// records, and the cursor would move past the batch.
func TestConsumeRetryWithPooledPdata(t *testing.T) {
	require.NoError(t, featuregate.GlobalRegistry().Set("pdata.useProtoPooling", true))
	t.Cleanup(func() { require.NoError(t, featuregate.GlobalRegistry().Set("pdata.useProtoPooling", false)) })
	h := onSim(t, simulator.Options{InitialEvents: 30, NoSelfExport: true})
	var counts []int
	var kept plog.Logs
	next, err := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error {
		if pref.MarkPipelineOwnedLogs(ld) {
			defer pref.UnrefLogs(ld)
		}
		counts = append(counts, ld.LogRecordCount())
		if len(counts) == 1 {
			return errors.New("exporter queue is full")
		}
		kept = copyLogs(ld)
		return nil
	})
	require.NoError(t, err)
	r := startWith(t, h, next)
	r.poll(t.Context())
	assert.Equal(t, []int{30, 30}, counts)
	assert.Equal(t, h.sim.EventIDs(), recordIDs(kept))
}

func copyLogs(ld plog.Logs) plog.Logs {
	out := plog.NewLogs()
	ld.CopyTo(out)
	return out
}
