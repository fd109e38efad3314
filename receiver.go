package huggingfaceauditreceiver // import "github.com/hfauditlog/huggingfaceauditreceiver"

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/ipenrich"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/metadata"
)

const (
	whoamiTimeout    = 10 * time.Second
	dataFormat       = "hf_audit_json"
	userAgentProduct = "otelcol-huggingfaceaudit"
)

// auditReceiver polls the export, filters what was emitted before through
// the cursor, and hands the new events to the pipeline oldest first.
type auditReceiver struct {
	cfg       *Config
	set       receiver.Settings
	next      consumer.Logs
	obsrecv   *receiverhelper.ObsReport
	telemetry *metadata.TelemetryBuilder
	retrier   retrier
	userAgent string
	// resource is the records' resource, as resource_attributes allows.
	resource pcommon.Resource

	// Set in Start, used by the poll goroutine only.
	host       component.Host
	httpClient *http.Client
	client     *exportClient
	store      cursorStore
	cursor     *cursor
	conv       converter
	// reported holds the keys of the invalid events already reported that
	// are still in the export window, so each is logged and counted once,
	// however often a retried request or a re-offered batch reads it again.
	reported map[string]struct{}
	// runs: the runs of covered elements the last read of the export saw.
	runs *runMemo
	// notBefore holds back the next poll until a rate-limit window resets.
	notBefore time.Time
	// spoolInMemory: no spool file could be written; keep new events in memory.
	spoolInMemory bool
	// whoamiFailed: the failure to learn the token's user was logged.
	whoamiFailed bool
	status       componentstatus.Status

	cancel       context.CancelFunc
	done         chan struct{}
	releaseLater sync.Once
	releaseOnce  sync.Once
	releaseErr   error
}

func newAuditReceiver(cfg *Config, set receiver.Settings, next consumer.Logs) (*auditReceiver, error) {
	obsrecv, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              "http",
		ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	version := set.BuildInfo.Version
	if version == "" {
		version = "dev"
	}
	if cfg.token() != string(cfg.Token) {
		set.Logger.Info("Token trimmed of surrounding white space")
	}
	rb := metadata.NewResourceBuilder(cfg.ResourceAttributes)
	rb.SetServiceName(serviceName)
	rb.SetHuggingfaceOrganization(cfg.Organization)
	return &auditReceiver{
		cfg:       cfg,
		set:       set,
		next:      next,
		obsrecv:   obsrecv,
		telemetry: tb,
		retrier:   retrier{cfg: cfg.RetryOnFailure},
		userAgent: userAgentProduct + "/" + version,
		resource:  rb.Emit(),
		reported:  map[string]struct{}{},
		runs:      newRunMemo(),
	}, nil
}

// Start prepares the receiver, then polls in the background: the first poll
// runs at once, on the loop's own context (not Start's).
func (r *auditReceiver) Start(ctx context.Context, host component.Host) error {
	if err := r.setup(ctx, host); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.done = make(chan struct{})
	go r.run(runCtx)
	return nil
}

// setup builds the HTTP client, loads the IP databases and the cursor.
func (r *auditReceiver) setup(ctx context.Context, host component.Host) error {
	r.host = host
	httpClient, err := r.cfg.HTTP.ToClient(ctx, host.GetExtensions(), r.set.TelemetrySettings)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	r.httpClient = httpClient
	r.client = newExportClient(r.cfg, httpClient, r.cfg.token(), r.userAgent)

	enricher, err := ipenrich.Open(r.cfg.IPEnrichment)
	if err != nil {
		return fmt.Errorf("ip_enrichment: %w", err)
	}
	r.conv = converter{
		organization: r.cfg.Organization,
		includeRaw:   r.cfg.IncludeRaw,
		enricher:     enricher,
		self:         selfIdentity{tokenLast4: last4(r.cfg.token()), userAgent: r.userAgent},
	}

	r.store, r.cursor, err = openCursor(ctx, host, r.cfg, r.set.ID, r.set.Logger)
	if err != nil {
		return err
	}
	polls.register(r, r.cfg.MaxConcurrentPolls)
	return nil
}

// Shutdown stops the poll loop, waits for it, and releases the connections,
// the storage client and the IP databases. If ctx ends first, the poll in
// flight still uses them: they are released when it returns, and Shutdown
// reports the timeout. Safe before Start and twice.
func (r *auditReceiver) Shutdown(ctx context.Context) error {
	if r.cancel != nil {
		r.cancel()
		select {
		case <-r.done:
		case <-ctx.Done():
			r.releaseLater.Do(func() {
				go func() {
					<-r.done
					if err := r.release(context.Background()); err != nil {
						r.set.Logger.Warn("Release after shutdown failed", zap.Error(err))
					}
				}()
			})
			return fmt.Errorf("the poll in flight did not stop before the shutdown deadline; its resources are released when it does: %w", ctx.Err())
		}
	}
	return r.release(ctx)
}

// release closes what the poll loop used, once; call it only when the loop
// has stopped (or never started).
func (r *auditReceiver) release(ctx context.Context) error {
	r.releaseOnce.Do(func() {
		var errs []error
		polls.unregister(r)
		if r.httpClient != nil {
			r.httpClient.CloseIdleConnections()
		}
		errs = append(errs, r.store.close(ctx))
		if r.conv.enricher != nil {
			errs = append(errs, r.conv.enricher.Close())
		}
		r.telemetry.Shutdown()
		r.releaseErr = errors.Join(errs...)
	})
	return r.releaseErr
}

func (r *auditReceiver) run(ctx context.Context) {
	defer close(r.done)
	r.poll(ctx)
	ticker := time.NewTicker(r.cfg.PollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			r.poll(ctx)
		}
	}
}

// poll runs one export-filter-emit cycle.
func (r *auditReceiver) poll(ctx context.Context) {
	if !r.waitForRateLimit(ctx) {
		return
	}
	// The poll holds one of the collector's max_concurrent_polls slots
	// while it reads the export and emits what is new.
	slot := pollSlot{l: polls}
	defer slot.release()
	r.identify(ctx, &slot)
	fetchedAt := time.Now()
	pass, err := r.fetch(ctx, &slot)
	if err == nil {
		// The Hub answered the export: if whoami failed just before (the Hub
		// was coming back), ask again so this pass can mark our exports.
		r.identify(ctx, &slot)
		err = r.emit(ctx, pass.pending, pass.spool, pcommon.NewTimestampFromTime(fetchedAt), &slot)
		pass.spool.close()
		// Once emitted, the new events are covered too.
		r.runs.remember(pass.runs, err == nil)
	}
	// At the end of every poll, the batches' deltas are folded into one
	// checkpoint value when they are worth it (see compact), also when the
	// pass failed half way; a save that failed before (at start, or a
	// batch's) is made again, whatever this poll's outcome.
	if cerr := r.store.compact(context.WithoutCancel(ctx), r.cursor); cerr != nil {
		r.set.Logger.Warn("Checkpoint compaction failed; retrying after the next poll", zap.Error(cerr))
	}
	slot.release()
	if ctx.Err() != nil {
		return
	}
	outcome := "success"
	switch deferred := r.deferredStatus(); {
	case err != nil:
		outcome = "failure"
		if errors.As(err, new(*refusedError)) {
			outcome = "refused"
		}
		r.reportPollError(err)
	case deferred != nil:
		r.reportStatus(deferred)
	default:
		r.reportStatus(componentstatus.NewEvent(componentstatus.StatusOK))
	}
	r.telemetry.ReceiverHuggingfaceauditPolls.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
	if r.cursor.watermark != 0 {
		lag := time.Since(time.Unix(0, r.cursor.watermark)).Seconds()
		r.telemetry.ReceiverHuggingfaceauditLag.Record(ctx, lag)
	}
}

// identify asks the Hub for the token's user, before each poll until it is
// known. Until then no export event is taken for the receiver's own. The
// ask can take whoamiTimeout, so it gives the poll's slot back first (emit
// takes it again): other organizations poll meanwhile.
func (r *auditReceiver) identify(ctx context.Context, slot *pollSlot) {
	if r.conv.self.author.Name != "" {
		return
	}
	slot.release()
	whoamiCtx, cancel := context.WithTimeout(ctx, whoamiTimeout)
	defer cancel()
	author, err := r.client.whoami(whoamiCtx, r.cfg.Endpoint)
	switch {
	case err == nil:
		r.conv.self.author = author
		r.set.Logger.Info("Token owner known; marking the receiver's own exports", zap.String("user", author.Name), zap.String("user_id", author.ID))
	case !r.whoamiFailed:
		r.whoamiFailed = true
		r.set.Logger.Warn("Token owner unknown; no export is marked as the receiver's own until it is", zap.Error(err))
	}
}

// reportPollError logs a failed poll and sets the status. Only a request
// that can never succeed is a permanent error: the collector treats that
// status as final. Everything else (a refused token, a Hub outage) can be
// fixed while the receiver keeps polling. The next good poll sets OK.
func (r *auditReceiver) reportPollError(err error) {
	var fe *fetchError
	isFetch := errors.As(err, &fe)
	switch {
	case isFetch && fe.permanent():
		r.set.Logger.Error("Export request cannot be sent", zap.String(attrErrorType, fe.class), zap.Error(err))
		r.reportStatus(componentstatus.NewPermanentErrorEvent(err))
		return
	case isFetch && fe.needsAction():
		r.set.Logger.Error("Export refused", zap.String(attrErrorType, fe.class), zap.Error(err))
	case isFetch && fe.wait > 0:
		r.deferPolls(fe.wait, fe.Error())
	case isFetch:
		r.set.Logger.Error("Poll failed", zap.String(attrErrorType, fe.class), zap.Error(err))
	default:
		r.set.Logger.Error("Poll failed", zap.Error(err))
	}
	r.reportStatus(componentstatus.NewRecoverableErrorEvent(err))
}

// reportStatus reports status changes only. A permanent error is final for
// the collector's status model, so nothing is reported after it.
func (r *auditReceiver) reportStatus(ev *componentstatus.Event) {
	if r.status == ev.Status() || r.status == componentstatus.StatusPermanentError {
		return
	}
	r.status = ev.Status()
	componentstatus.ReportStatus(r.host, ev)
}

// emit hands the new events to the pipeline oldest first, in batches, and
// moves the cursor after each batch the pipeline accepted or refused for good.
// The bytes of spooled events are read back one batch at a time. slot is
// the poll's hold on max_concurrent_polls.
func (r *auditReceiver) emit(ctx context.Context, pending []pendingEvent, sp *spool, observed pcommon.Timestamp, slot *pollSlot) error {
	slices.SortFunc(pending, func(a, b pendingEvent) int {
		return cmp.Or(cmp.Compare(a.createdAt, b.createdAt), a.id.compare(b.id))
	})
	// The same _id twice in one response: its first copy, the oldest, only
	// (the copies sort apart when their createdAt differ).
	firsts := newSeenSet(len(pending))
	pending = slices.DeleteFunc(pending, func(e pendingEvent) bool { return !firsts.add(e.id, e.createdAt) })
	raws := make([][]byte, min(r.cfg.BatchSize, len(pending)))
	for start := 0; start < len(pending); start += r.cfg.BatchSize {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := pending[start:min(start+r.cfg.BatchSize, len(pending))]
		if err := sp.load(batch, raws); err != nil {
			return err
		}
		logs, stats, err := r.buildLogs(ctx, batch, raws, observed)
		if err != nil {
			// Nothing of this batch is offered: the cursor stays before it.
			r.countFailedRequest(ctx, classMalformed)
			return err
		}
		if n := logs.LogRecordCount(); n > 0 {
			err = r.consume(ctx, logs, func() plog.Logs {
				again, _, _ := r.buildLogs(ctx, batch, raws, observed)
				return again
			}, slot)
			switch {
			case err == nil:
				r.telemetry.ReceiverHuggingfaceauditEventsEmitted.Add(ctx, int64(n))
				// The self exports it carries are on record now.
				r.conv.self.settle()
				r.countDroppedFields(ctx, stats.fields, batch[0].id)
			case consumererror.IsPermanent(err):
				r.telemetry.ReceiverHuggingfaceauditEventsSkipped.Add(ctx, int64(n), metric.WithAttributes(attribute.String("reason", "refused")))
				r.set.Logger.Error("Batch refused permanently; dropped",
					zap.Int("records", n), zap.Stringer("first_id", batch[0].id), zap.Stringer("last_id", batch[len(batch)-1].id), zap.Error(err))
			default:
				return &refusedError{records: n, err: err}
			}
		}
		// Counted once the batch is settled: a batch offered again after a
		// non-permanent refusal would count them twice.
		if stats.selfExports > 0 {
			r.telemetry.ReceiverHuggingfaceauditEventsSkipped.Add(ctx, int64(stats.selfExports), metric.WithAttributes(attribute.String("reason", "self_export")))
		}
		r.cursor.advance(batch, r.cfg.LateArrivalWindow, time.Now().UnixNano())
		clear(raws) // let the body go as we move on
		// Saved even when a shutdown cancelled ctx during the batch: the
		// consumer has it, so an unsaved cursor would emit it again.
		if err := r.store.saveBatch(context.WithoutCancel(ctx), r.cursor, batch); err != nil {
			return err
		}
	}
	return nil
}

// countDroppedFields counts and logs, once per batch, the fields that
// records of an accepted batch left out for an unexpected JSON type.
func (r *auditReceiver) countDroppedFields(ctx context.Context, fields map[string]int, firstID eventID) {
	if len(fields) == 0 {
		return
	}
	for field, n := range fields {
		r.telemetry.ReceiverHuggingfaceauditFieldsDropped.Add(ctx, int64(n), metric.WithAttributes(attribute.String("field", field)))
	}
	r.set.Logger.Warn("Event fields of an unexpected type left out of records",
		zap.Any("fields", fields), zap.Stringer("batch_first_id", firstID))
}
