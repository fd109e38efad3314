package huggingfaceauditreceiver // import "github.com/hfauditlog/huggingfaceauditreceiver"

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fastjson"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/extension/xextension/storage"
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

	// Set in Start, used by the poll goroutine only.
	host       component.Host
	httpClient *http.Client
	client     *exportClient
	store      cursorStore
	cursor     *cursor
	conv       converter
	parser     fastjson.Parser
	// invalid holds the keys of events without a readable _id or createdAt
	// already reported, so each is reported once while it stays in the window.
	// (Other invalid events are reported when emitted; the cursor then moves
	// past them.)
	invalid map[string]struct{}
	// notBefore defers the next poll after a rate limit outlasted a poll.
	notBefore time.Time
	status    componentstatus.Status

	cancel       context.CancelFunc
	done         chan struct{}
	shutdownOnce sync.Once
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
	return &auditReceiver{
		cfg:       cfg,
		set:       set,
		next:      next,
		obsrecv:   obsrecv,
		telemetry: tb,
		retrier:   retrier{cfg: cfg.RetryOnFailure},
		userAgent: userAgentProduct + "/" + version,
		invalid:   map[string]struct{}{},
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
	r.client = newExportClient(r.cfg, httpClient, r.userAgent)

	enricher, err := ipenrich.Open(r.cfg.IPEnrichment)
	if err != nil {
		return fmt.Errorf("ip_enrichment: %w", err)
	}
	r.conv = converter{
		organization: r.cfg.Organization,
		includeRaw:   r.cfg.IncludeRaw,
		enricher:     enricher,
		self:         selfIdentity{tokenLast4: last4(string(r.cfg.Token)), userAgent: r.userAgent},
	}

	r.store = cursorStore{key: cursorKey(r.cfg.Organization, r.cfg.Query), logger: r.set.Logger}
	if r.cfg.StorageID != nil {
		if r.store.client, err = storageClient(ctx, host, *r.cfg.StorageID, r.set.ID); err != nil {
			return err
		}
	}
	if r.cursor, err = r.store.load(ctx); err != nil {
		return err
	}
	if r.cursor == nil {
		var since int64
		if r.cfg.InitialLookback > 0 {
			since = time.Now().Add(-r.cfg.InitialLookback).UnixNano()
		}
		r.cursor = newCursor(since)
	} else {
		r.set.Logger.Info("Resuming from the stored checkpoint",
			zap.String("watermark", formatNanos(r.cursor.watermark)), zap.Int("ids_at_boundary", len(r.cursor.seen)))
	}
	return nil
}

// Shutdown stops the poll loop, waits for it, and releases the connections,
// the storage client and the IP databases. Safe before Start and twice.
func (r *auditReceiver) Shutdown(ctx context.Context) error {
	var errs []error
	r.shutdownOnce.Do(func() {
		if r.cancel != nil {
			r.cancel()
			select {
			case <-r.done:
			case <-ctx.Done():
				errs = append(errs, fmt.Errorf("waiting for the poll loop to stop: %w", ctx.Err()))
			}
		}
		if r.httpClient != nil {
			r.httpClient.CloseIdleConnections()
		}
		errs = append(errs, r.store.close(ctx))
		if r.conv.enricher != nil {
			errs = append(errs, r.conv.enricher.Close())
		}
		r.telemetry.Shutdown()
	})
	return errors.Join(errs...)
}

func storageClient(ctx context.Context, host component.Host, storageID, self component.ID) (storage.Client, error) {
	ext, ok := host.GetExtensions()[storageID]
	if !ok {
		return nil, fmt.Errorf("storage: extension %q is not configured; add it under extensions and service::extensions", storageID)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("storage: extension %q is not a storage extension (use file_storage, for example)", storageID)
	}
	client, err := se.GetClient(ctx, component.KindReceiver, self, "")
	if err != nil {
		return nil, fmt.Errorf("storage: getting a client from %q: %w", storageID, err)
	}
	return client, nil
}

func (r *auditReceiver) run(ctx context.Context) {
	defer close(r.done)
	// Best effort, and briefly: knowing the token's user sharpens self-export
	// detection, but must not hold up the first poll.
	whoamiCtx, cancel := context.WithTimeout(ctx, whoamiTimeout)
	r.conv.self.author = r.client.whoami(whoamiCtx, r.cfg.Endpoint)
	cancel()
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

// pendingEvent is a new event waiting to be emitted.
type pendingEvent struct {
	id        string
	createdAt int64
	raw       []byte
}

// errMissingKey marks an element whose _id or createdAt the scanner could
// not read; the slow path then says what is wrong.
var errMissingKey = errors.New("no _id or createdAt string")

// arena copies the kept events into large blocks: one allocation per
// megabyte instead of one per event.
type arena struct{ block []byte }

func (a *arena) copy(b []byte) []byte {
	if cap(a.block)-len(a.block) < len(b) {
		a.block = make([]byte, 0, max(1<<20, len(b)))
	}
	start := len(a.block)
	a.block = append(a.block, b...)
	return a.block[start:len(a.block):len(a.block)]
}

// poll runs one export-filter-emit cycle.
func (r *auditReceiver) poll(ctx context.Context) {
	if wait := time.Until(r.notBefore); wait > 0 {
		r.set.Logger.Info("Skipping this poll: the Hub's rate limit has not reset yet", zap.Duration("remaining", wait))
		return
	}
	fetchedAt := time.Now()
	pending, err := r.fetch(ctx)
	if err == nil {
		err = r.emit(ctx, pending, pcommon.NewTimestampFromTime(fetchedAt))
	}
	if ctx.Err() != nil {
		return
	}
	outcome := "success"
	if err != nil {
		outcome = "error"
		r.reportPollError(err)
	} else {
		r.reportStatus(componentstatus.NewEvent(componentstatus.StatusOK))
	}
	r.telemetry.ReceiverHuggingfaceauditPolls.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
	if r.cursor.watermark != 0 {
		lag := time.Since(time.Unix(0, r.cursor.watermark)).Seconds()
		r.telemetry.ReceiverHuggingfaceauditLag.Record(ctx, lag)
	}
}

func (r *auditReceiver) reportPollError(err error) {
	var fe *fetchError
	switch {
	case errors.As(err, &fe) && fe.permanent():
		r.set.Logger.Error("The Hub refused the audit-log export; polling continues, but nothing arrives until this is fixed", zap.Error(err))
		r.reportStatus(componentstatus.NewPermanentErrorEvent(err))
	case errors.As(err, &fe) && fe.class == classRateLimited && fe.wait > 0:
		r.notBefore = time.Now().Add(fe.wait)
		r.set.Logger.Warn("Rate limited by the Hub beyond this poll's retry budget; the next poll waits for the reset", zap.Error(err))
		r.reportStatus(componentstatus.NewRecoverableErrorEvent(err))
	default:
		r.set.Logger.Error("Poll failed; the cursor did not move and the same events are offered again on the next poll", zap.Error(err))
		r.reportStatus(componentstatus.NewRecoverableErrorEvent(err))
	}
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

// exportPass is what one read of the export found.
type exportPass struct {
	pending  []pendingEvent // new events, in body order
	kept     arena          // their bytes
	received int            // elements read
	old      int            // elements the cursor covers
	// overlap: the export still reaches back to what was emitted before.
	overlap bool
	// invalid: keys of the elements without a readable _id or createdAt.
	invalid map[string]struct{}
}

// fetch reads the export (retrying transient failures) and returns the
// events the cursor does not cover, unsorted.
func (r *auditReceiver) fetch(ctx context.Context) ([]pendingEvent, error) {
	var pass *exportPass
	floor := r.cursor.floor(r.cfg.LateArrivalWindow)
	err := r.retrier.do(ctx,
		func() error {
			pass = &exportPass{invalid: map[string]struct{}{}}
			err := r.client.export(ctx, func(raw, id, createdAt []byte) {
				r.sift(ctx, pass, floor, raw, id, createdAt)
			})
			var fe *fetchError
			if errors.As(err, &fe) {
				r.telemetry.ReceiverHuggingfaceauditHTTPErrors.Add(ctx, 1, metric.WithAttributes(attribute.String("class", fe.class)))
			}
			return err
		},
		func(err error) (bool, time.Duration) {
			var fe *fetchError
			if !errors.As(err, &fe) {
				return false, 0
			}
			return fe.retryable(), fe.wait
		},
		func(err error, wait time.Duration) {
			r.set.Logger.Warn("Export request failed; retrying", zap.Duration("wait", wait), zap.Error(err))
		})
	if err != nil {
		// Keep what was reported: the event is still in the window.
		for k := range pass.invalid {
			r.invalid[k] = struct{}{}
		}
		return nil, err
	}
	r.invalid = pass.invalid
	r.telemetry.ReceiverHuggingfaceauditEventsReceived.Add(ctx, int64(pass.received))
	r.telemetry.ReceiverHuggingfaceauditDuplicatesFiltered.Add(ctx, int64(pass.old))
	// A non-empty export with nothing the cursor covers: the events between
	// the last emitted one and the oldest in the export have left the Hub's
	// 100,000-event window.
	if r.cursor.watermark != 0 && pass.received > 0 && !pass.overlap {
		r.telemetry.ReceiverHuggingfaceauditGapEvents.Add(ctx, 1)
		r.set.Logger.Warn("Events were lost at the source: the export no longer reaches back to the newest event emitted, so events written in between have left the Hub's 100,000-event window (was the collector down too long?)",
			zap.String("newest_emitted", formatNanos(r.cursor.watermark)))
	}
	return pass.pending, nil
}

// sift decides for one element of the export: covered by the cursor, new
// (kept as is, decoded and validated when emitted), or unreadable.
func (r *auditReceiver) sift(ctx context.Context, pass *exportPass, floor int64, raw, id, createdAtRaw []byte) {
	pass.received++
	createdAt, err := int64(0), errMissingKey
	if len(id) > 0 && len(createdAtRaw) > 0 {
		var t time.Time
		if t, err = parseCreatedAt(createdAtRaw); err == nil {
			createdAt = t.UnixNano()
		}
	}
	if err != nil {
		// The scanner could not read the key: decode the element to say why.
		var v *fastjson.Value
		if v, err = r.parser.ParseBytes(raw); err == nil {
			id, createdAt, err = eventKey(v)
		}
		if err != nil {
			key := invalidKey(id, raw)
			pass.invalid[key] = struct{}{}
			if _, reported := r.invalid[key]; !reported {
				r.reportInvalid(ctx, id, err)
			}
			return
		}
	}
	if !pass.overlap && r.cursor.covers(id, createdAt) {
		pass.overlap = true
	}
	if !r.cursor.isNew(id, createdAt, floor) {
		pass.old++
		return
	}
	pass.pending = append(pass.pending, pendingEvent{id: string(id), createdAt: createdAt, raw: pass.kept.copy(raw)})
}

// reportInvalid logs and counts an event that violates the export schema;
// the events after it are still delivered.
func (r *auditReceiver) reportInvalid(ctx context.Context, id []byte, err error) {
	r.telemetry.ReceiverHuggingfaceauditEventsSkipped.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", "invalid")))
	fields := []zap.Field{zap.Error(err)}
	if len(id) > 0 {
		fields = append(fields, zap.ByteString("_id", id))
	}
	r.set.Logger.Warn("Skipping an event that does not match the export schema; the events after it are delivered", fields...)
}

// invalidKey names an event the cursor cannot hold (no readable _id or
// createdAt), so it is reported once while it stays in the window.
func invalidKey(id, raw []byte) string {
	if len(id) > 0 {
		return string(id)
	}
	h := fnv.New64a()
	_, _ = h.Write(raw)
	return "hash:" + strconv.FormatUint(h.Sum64(), 16)
}

// emit hands the new events to the pipeline oldest first, in batches, and
// moves the cursor after each batch the pipeline accepted or refused for good.
func (r *auditReceiver) emit(ctx context.Context, pending []pendingEvent, observed pcommon.Timestamp) error {
	slices.SortFunc(pending, func(a, b pendingEvent) int {
		return cmp.Or(cmp.Compare(a.createdAt, b.createdAt), cmp.Compare(a.id, b.id))
	})
	// The same event twice in one response sorts next to itself.
	pending = slices.CompactFunc(pending, func(a, b pendingEvent) bool { return a.id == b.id })
	for start := 0; start < len(pending); start += r.cfg.BatchSize {
		batch := pending[start:min(start+r.cfg.BatchSize, len(pending))]
		logs, dropped := r.buildLogs(ctx, batch, observed)
		if dropped > 0 {
			r.telemetry.ReceiverHuggingfaceauditEventsSkipped.Add(ctx, int64(dropped), metric.WithAttributes(attribute.String("reason", "self_export")))
		}
		if n := logs.LogRecordCount(); n > 0 {
			err := r.consume(ctx, logs)
			switch {
			case err == nil:
				r.telemetry.ReceiverHuggingfaceauditEventsEmitted.Add(ctx, int64(n))
			case consumererror.IsPermanent(err):
				r.telemetry.ReceiverHuggingfaceauditEventsSkipped.Add(ctx, int64(n), metric.WithAttributes(attribute.String("reason", "refused")))
				r.set.Logger.Error("The pipeline refused a batch permanently; it is dropped and the cursor moves past it",
					zap.Int("records", n), zap.String("first_id", batch[0].id), zap.String("last_id", batch[len(batch)-1].id), zap.Error(err))
			default:
				return fmt.Errorf("the pipeline did not accept %d records: %w", n, err)
			}
		}
		r.cursor.advance(batch, r.cfg.LateArrivalWindow, time.Now().UnixNano())
		for i := range batch {
			batch[i].raw = nil // let the body go as we move on
		}
		if err := r.store.save(ctx, r.cursor); err != nil {
			return err
		}
	}
	return nil
}

// buildLogs converts one batch. An event that violates the export schema is
// skipped (logged and counted; the cursor moves past it with its batch, so
// it is reported once); self exports are left out when configured.
func (r *auditReceiver) buildLogs(ctx context.Context, batch []pendingEvent, observed pcommon.Timestamp) (plog.Logs, int) {
	logs := plog.NewLogs()
	rl := logs.ResourceLogs().AppendEmpty()
	res := rl.Resource().Attributes()
	res.PutStr(resourceServiceName, serviceName)
	res.PutStr(resourceOrganization, r.cfg.Organization)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(metadata.ScopeName)
	sl.Scope().SetVersion(r.set.BuildInfo.Version)
	records := sl.LogRecords()
	records.EnsureCapacity(len(batch))
	dropped := 0
	for i := range batch {
		e := &batch[i]
		v, err := r.parser.ParseBytes(e.raw)
		var ev auditEvent
		if err == nil {
			ev, err = decodeEvent(v)
		}
		if err != nil {
			r.reportInvalid(ctx, []byte(e.id), err)
			continue
		}
		self := r.conv.self.matches(&ev)
		if self && r.cfg.DropSelfExports {
			dropped++
			continue
		}
		r.conv.appendRecord(records.AppendEmpty(), &ev, e.raw, observed, self)
	}
	return logs, dropped
}

func last4(token string) string {
	if len(token) < 4 {
		return ""
	}
	return token[len(token)-4:]
}
