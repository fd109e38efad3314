package huggingfaceauditreceiver // import "github.com/hfauditlog/huggingfaceauditreceiver"

import (
	"context"
	"errors"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/valyala/fastjson"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric" // pendingEvent is a new event waiting to be emitted.
	"go.uber.org/zap"
)

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
