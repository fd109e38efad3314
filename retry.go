package huggingfaceauditreceiver // import "github.com/hfauditlog/huggingfaceauditreceiver"

import (
	"context"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"
)

// retrier repeats an operation within one poll, as retry_on_failure says:
// exponential backoff, never shorter than what the server asked for, and
// never past max_elapsed_time.
type retrier struct {
	cfg configretry.BackOffConfig
}

// do runs op until it succeeds or fails for good. classify tells whether an
// error is worth retrying and the least wait the server asked for. It gives
// up, returning the last error, when the next wait would end past the budget.
func (rt retrier) do(ctx context.Context, op func() error, classify func(error) (retry bool, minWait time.Duration), onRetry func(err error, wait time.Duration)) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = rt.cfg.InitialInterval
	bo.RandomizationFactor = rt.cfg.RandomizationFactor
	bo.Multiplier = rt.cfg.Multiplier
	bo.MaxInterval = rt.cfg.MaxInterval
	start := time.Now()
	for {
		err := op()
		if err == nil || !rt.cfg.Enabled {
			return err
		}
		retry, minWait := classify(err)
		if !retry {
			return err
		}
		wait := max(bo.NextBackOff(), minWait)
		if rt.cfg.MaxElapsedTime > 0 && time.Since(start)+wait > rt.cfg.MaxElapsedTime {
			return err
		}
		onRetry(err, wait)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}

// refusedError: the pipeline did not accept a batch, even after retries.
type refusedError struct {
	records int
	err     error
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("the pipeline did not accept %d records: %v", e.records, e.err)
}

func (e *refusedError) Unwrap() error { return e.err }

// consume hands one batch to the next consumer, retrying non-permanent
// errors (the collector's receiver contract) and giving up at once on
// permanent ones. Each attempt holds slot. A refused attempt gives it back
// while it waits, so a stuck pipeline does not hold up other receivers.
//
// The pipeline owns the logs it was given, also when it refuses them: a
// processor may have changed them in place, and with the
// pdata.useProtoPooling feature gate the collector frees them when the
// call returns. So a retry offers logs from rebuild, never the same logs
// again.
func (r *auditReceiver) consume(ctx context.Context, logs plog.Logs, rebuild func() plog.Logs, slot *pollSlot) error {
	n := logs.LogRecordCount()
	return r.retrier.do(ctx,
		func() error {
			if err := slot.acquire(ctx); err != nil {
				return err
			}
			obsCtx := r.obsrecv.StartLogsOp(ctx)
			err := r.next.ConsumeLogs(obsCtx, logs)
			r.obsrecv.EndLogsOp(obsCtx, dataFormat, n, err)
			return err
		},
		func(err error) (bool, time.Duration) {
			return ctx.Err() == nil && !consumererror.IsPermanent(err), 0
		},
		func(err error, wait time.Duration) {
			logs = rebuild()
			slot.release()
			r.set.Logger.Warn("Batch refused; retrying", zap.Int("records", n), zap.Duration("wait", wait), zap.Error(err))
		})
}
