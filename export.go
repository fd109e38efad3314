package huggingfaceauditreceiver // import "github.com/hfauditlog/huggingfaceauditreceiver"

import (
	"context"
	"errors"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
)

// pendingEvent is a new event waiting to be emitted. Its size bytes are at
// off in the pass's spool file, or in the spool's memory when inMemory.
// A backfill holds one per new event, so it is kept small.
type pendingEvent struct {
	createdAt int64
	off       int64
	id        eventID
	size      int32
	inMemory  bool
	// unusable: found invalid when its batch was built. The cursor
	// remembers it (it is reported once) but it does not move the
	// watermark: it was never emitted.
	unusable bool
}

// errMissingKey marks an element whose _id or createdAt the scanner could
// not read; the slow path then says what is wrong.
var errMissingKey = errors.New("no _id or createdAt string")

// arena copies the kept events into blocks of spoolMemory bytes (a pass
// that spools holds one): one allocation per block instead of one per
// event. A copy is known by its block and offset, packed in one int64.
type arena struct{ blocks [][]byte }

func (a *arena) copy(b []byte) (at int64) {
	n := len(a.blocks)
	if n == 0 || cap(a.blocks[n-1])-len(a.blocks[n-1]) < len(b) {
		a.blocks = append(a.blocks, make([]byte, 0, max(spoolMemory, len(b))))
		n++
	}
	block := &a.blocks[n-1]
	at = int64(n-1)<<32 | int64(len(*block))
	*block = append(*block, b...)
	return at
}

// bytes returns the size bytes copied at at.
func (a *arena) bytes(at int64, size int32) []byte {
	block, start := a.blocks[at>>32], int(at&math.MaxUint32)
	end := start + int(size)
	return block[start:end:end]
}

// exportPass is what one read of the export found.
type exportPass struct {
	pending []pendingEvent // new events, in body order (see collect)
	// chunks hold the new events while the body is read: appending to one
	// slice copied the whole index at every doubling, a tenth of a
	// backfill's CPU.
	chunks   [][]pendingEvent
	spool    *spool // their bytes
	received int    // elements read
	old      int    // elements the cursor covers
	skipped  int    // of them, stepped over in runs (see runs.go)
	// runs: the runs this read saw; the memo's once the pass is emitted.
	runs *coveredRuns
	// overlap: the export still reaches back to what was emitted before.
	overlap bool
	// reported: the keys of the invalid events already reported that this
	// read saw again (they are still in the window).
	reported map[string]struct{}
	// quotaReset: the response showed the rate limit used up until then.
	quotaReset time.Duration
	// malformed: an element is not JSON, so the response is broken.
	malformed error
}

// fetch reads the export (retrying transient failures) and returns the
// events the cursor does not cover, unsorted, with their spool (the caller
// closes it). Each attempt holds slot while it reads; a failed one gives it
// back before waiting to retry.
func (r *auditReceiver) fetch(ctx context.Context, slot *pollSlot) (*exportPass, error) {
	var pass *exportPass
	floor := r.cursor.floor(r.cfg.LateArrivalWindow)
	err := r.retrier.do(ctx,
		func() error {
			if err := slot.acquire(ctx); err != nil {
				return err
			}
			pass = &exportPass{reported: map[string]struct{}{}, spool: r.newSpool()}
			var err error
			var read exportRead
			read, err = r.client.export(ctx, r.runs, func(raw, id, createdAt []byte) verdict {
				return r.sift(ctx, pass, floor, raw, id, createdAt)
			})
			pass.quotaReset = read.quotaReset
			pass.received += read.skipped
			pass.old += read.skipped
			pass.skipped = read.skipped
			pass.runs = read.runs
			pass.overlap = pass.overlap || read.skippedCovers
			if err == nil {
				err = pass.malformed
			}
			if err == nil {
				err = r.checkSpool(pass.spool)
			}
			if err != nil {
				pass.spool.close()
				slot.release()
			}
			var fe *fetchError
			if errors.As(err, &fe) {
				r.countFailedRequest(ctx, fe.class)
			}
			return err
		},
		func(err error) (bool, time.Duration) {
			var fe *fetchError
			if !errors.As(err, &fe) {
				return false, 0
			}
			return fe.retryable(), min(fe.wait, r.waitCap())
		},
		func(err error, wait time.Duration) {
			var fe *fetchError
			errors.As(err, &fe)
			r.set.Logger.Warn("Export request failed; retrying", zap.String(attrErrorType, fe.class), zap.Duration("wait", wait), zap.Error(err))
			// A wait longer than poll_interval is not silent.
			if wait > r.cfg.PollInterval {
				r.reportStatus(componentstatus.NewRecoverableErrorEvent(err))
			}
		})
	if err != nil {
		return nil, err
	}
	pass.collect()
	// Forget the reported events that have left the window (or that the
	// cursor has moved past).
	r.reported = pass.reported
	if pass.quotaReset > 0 {
		r.deferPolls(pass.quotaReset, "rate limit used up")
	}
	r.telemetry.ReceiverHuggingfaceauditEventsReceived.Add(ctx, int64(pass.received))
	r.telemetry.ReceiverHuggingfaceauditEventsCovered.Add(ctx, int64(pass.old))
	// A non-empty export with nothing the cursor covers: the events between
	// the last emitted one and the oldest in the export have left the Hub's
	// 100,000-event window.
	if r.cursor.watermark != 0 && pass.received > 0 && !pass.overlap {
		r.telemetry.ReceiverHuggingfaceauditGaps.Add(ctx, 1)
		r.set.Logger.Warn("Events lost at the source", zap.String("newest_emitted", formatNanos(r.cursor.watermark)))
	}
	return pass, nil
}

// sift decides for one element of the export: covered by the cursor, new
// (kept as is, decoded and validated when emitted), or unreadable.
func (r *auditReceiver) sift(ctx context.Context, pass *exportPass, floor int64, raw, id, createdAtRaw []byte) verdict {
	pass.received++
	createdAt, err := int64(0), errMissingKey
	if len(id) > 0 && len(createdAtRaw) > 0 {
		createdAt, err = parseCreatedAt(createdAtRaw)
	}
	if err != nil {
		// The scanner could not read the key: decode the element to say why.
		var ev auditEvent
		ev, err = eventDecoder{}.decode(raw)
		id, createdAt = []byte(ev.id), ev.createdAt
		if isSyntaxError(err) {
			if pass.malformed == nil {
				pass.malformed = r.malformedEvent(id, err)
			}
			return verdictInvalid
		}
		if err != nil {
			key := invalidKey(id, raw)
			pass.reported[key] = struct{}{}
			r.reportInvalid(ctx, key, id, raw, err)
			return verdictInvalid
		}
	}
	if !r.cursor.isNew(id, createdAt, floor) {
		pass.old++
		if r.cursor.covers(id, createdAt) {
			pass.overlap = true
			return verdictCovers
		}
		return verdictCovered
	}
	if !pass.overlap && r.cursor.covers(id, createdAt) {
		pass.overlap = true
	}
	if _, ok := r.reported[string(id)]; ok {
		pass.reported[string(id)] = struct{}{} // found invalid when emitted
	}
	if n := len(pass.chunks); n == 0 || len(pass.chunks[n-1]) == cap(pass.chunks[n-1]) {
		pass.chunks = append(pass.chunks, make([]pendingEvent, 0, pendingChunk))
	}
	chunk := &pass.chunks[len(pass.chunks)-1]
	*chunk = append(*chunk, pendingEvent{id: newEventID(id), createdAt: createdAt})
	pass.spool.add(raw, &(*chunk)[len(*chunk)-1])
	return verdictNew
}

// pendingChunk is how many new events one chunk of exportPass holds.
const pendingChunk = 1024

// collect puts the chunks into pending, in one slice of the exact size.
func (pass *exportPass) collect() {
	n := 0
	for _, c := range pass.chunks {
		n += len(c)
	}
	pass.pending = make([]pendingEvent, 0, n)
	for i, c := range pass.chunks {
		pass.pending = append(pass.pending, c...)
		pass.chunks[i] = nil // the copy and the chunks are not all live at once
	}
	pass.chunks = nil
}

// countFailedRequest counts an export request that failed, or whose
// answer turned out broken, by its error.type.
func (r *auditReceiver) countFailedRequest(ctx context.Context, class string) {
	r.telemetry.ReceiverHuggingfaceauditFailedRequests.Add(ctx, 1, metric.WithAttributes(attribute.String(attrErrorType, class)))
}

// reportInvalid logs and counts an event that violates the export schema,
// once while it stays in the window; the events after it are delivered.
// The log shows the start of the event, to find it by (it may have no
// _id), and never the whole of a huge value.
func (r *auditReceiver) reportInvalid(ctx context.Context, key string, id, raw []byte, err error) {
	if _, done := r.reported[key]; done {
		return
	}
	r.reported[key] = struct{}{}
	r.telemetry.ReceiverHuggingfaceauditEventsSkipped.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", "invalid")))
	fields := []zap.Field{zap.Error(err)}
	if len(id) > 0 {
		fields = append(fields, zap.String("_id", abbreviate(id, 128)))
	}
	fields = append(fields, zap.String("event", abbreviate(raw, 256)))
	r.set.Logger.Warn("Skipping an invalid event", fields...)
}

// abbreviate cuts s to its first n bytes (whole UTF-8 sequences) and says
// how long it was. Only what is shown is copied.
func abbreviate[T string | []byte](s T, n int) string {
	if len(s) <= n {
		return string(s)
	}
	return strings.ToValidUTF8(string(s[:n]), "") + "... (" + strconv.Itoa(len(s)) + " bytes)"
}

// malformedEvent: an element of the export is not JSON. The Hub writes
// JSON, so the response is broken (a proxy, a cut-and-retried transfer):
// like a body that is not JSON it is retried, and nothing from that
// event on is emitted until a response holds it whole.
func (r *auditReceiver) malformedEvent(id []byte, err error) *fetchError {
	at := ""
	if len(id) > 0 {
		at = " (_id " + strconv.Quote(abbreviate(id, 128)) + ")"
	}
	return &fetchError{class: classMalformed, msg: "the export of " + r.cfg.Organization + " has an event that is not valid JSON" + at, err: err}
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
