package huggingfaceauditreceiver

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/metadata"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

const benchEvents = 100_000

var (
	benchBodyOnce sync.Once
	benchBody     []byte
)

// fullWindow is a 100,000-event export body from the simulator (mixed
// optional fields, newest first, as the Hub answers).
func fullWindow(b *testing.B) []byte {
	benchBodyOnce.Do(func() {
		sim, err := simulator.New(simulator.Options{InitialEvents: benchEvents, Seed: 5, NoSelfExport: true, BurstSize: 3})
		require.NoError(b, err)
		defer sim.Close()
		events := sim.EventsJSON()
		var buf bytes.Buffer
		buf.WriteByte('[')
		for i := len(events) - 1; i >= 0; i-- {
			buf.Write(events[i])
			if i > 0 {
				buf.WriteByte(',')
			}
		}
		buf.WriteByte(']')
		benchBody = buf.Bytes()
	})
	return benchBody
}

var (
	benchGzipOnce sync.Once
	benchGzip     []byte
)

// fullWindowGzip is fullWindow gzip-compressed at the default level, as a
// web server would send it.
func fullWindowGzip(b *testing.B) []byte {
	body := fullWindow(b)
	benchGzipOnce.Do(func() {
		var buf bytes.Buffer
		zw := stdgzip.NewWriter(&buf)
		_, err := zw.Write(body)
		require.NoError(b, err)
		require.NoError(b, zw.Close())
		benchGzip = buf.Bytes()
	})
	return benchGzip
}

// decompressors are the gzip implementations the gzip benchmarks compare.
var decompressors = []struct {
	name   string
	gunzip func(io.Reader) (io.ReadCloser, error)
}{
	{"stdlib", func(r io.Reader) (io.ReadCloser, error) { return stdgzip.NewReader(r) }},
	{"klauspost", gunzip},
}

// withGunzip runs f with the receiver's decompressor set to g.
func withGunzip(g func(io.Reader) (io.ReadCloser, error), f func()) {
	saved := gunzip
	gunzip = g
	defer func() { gunzip = saved }()
	f()
}

// exportEvent is the export schema as plain encoding/json structs: the floor.
type exportEvent struct {
	ID        string          `json:"_id"`
	CreatedAt time.Time       `json:"createdAt"`
	Type      string          `json:"type"`
	Message   string          `json:"message"`
	Data      json.RawMessage `json:"data"`
	IP        *string         `json:"ip"`
	UserAgent *string         `json:"userAgent"`
	Author    struct {
		ID        string `json:"_id"`
		User      string `json:"user"`
		AvatarURL string `json:"avatarUrl"`
		Type      string `json:"type"`
		Deleted   *bool  `json:"deleted"`
	} `json:"author"`
	Location *struct {
		Formatted string `json:"formatted"`
		Country   string `json:"country"`
		City      string `json:"city"`
	} `json:"location"`
	Token *struct {
		Type    string `json:"type"`
		ID      string `json:"id"`
		Role    string `json:"role"`
		Last4   string `json:"last4"`
		Deleted bool   `json:"deleted"`
	} `json:"token"`
	OAuth *struct {
		ClientID string `json:"clientId"`
		Name     string `json:"name"`
	} `json:"oauth"`
}

// heapPeaks samples the heap while f runs and returns the highest growth
// over what was there before f (the benchmark's own copy of the body): of
// the whole heap, dead objects not yet collected included (what GOGC lets
// grow), and of the live heap as measured at the end of each GC.
type heapPeaks struct{ heap, live uint64 }

func peakHeap(f func()) heapPeaks {
	runtime.GC()
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(samples)
	baseHeap, baseLive := samples[0].Value.Uint64(), samples[1].Value.Uint64()
	var peak heapPeaks
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			metrics.Read(samples)
			peak.heap = max(peak.heap, samples[0].Value.Uint64()-min(baseHeap, samples[0].Value.Uint64()))
			peak.live = max(peak.live, samples[1].Value.Uint64()-min(baseLive, samples[1].Value.Uint64()))
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	<-done
	return peak
}

func (p heapPeaks) max(o heapPeaks) heapPeaks {
	return heapPeaks{max(p.heap, o.heap), max(p.live, o.live)}
}

// cpuTime is the process's user+system CPU time: a poll also keeps the GC
// busy on the other core, which wall time alone hides.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measurement accumulates, over a benchmark's iterations, the process CPU
// time and the highest heap growth of the measured work.
type measurement struct {
	cpu  time.Duration
	peak heapPeaks
}

func (m *measurement) measure(f func()) {
	start := cpuTime()
	m.peak = m.peak.max(peakHeap(f))
	m.cpu += cpuTime() - start
}

func (m *measurement) report(b *testing.B, events int, body []byte) {
	b.ReportMetric(float64(m.cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(m.peak.heap)/float64(len(body)), "peak-heap/body")
	b.ReportMetric(float64(m.peak.live)/float64(len(body)), "peak-live/body")
	b.ReportMetric(float64(len(body))/(1<<20), "body-MiB")
}

// BenchmarkDecodeFloor: plain encoding/json decoding of the body into structs.
func BenchmarkDecodeFloor(b *testing.B) {
	body := fullWindow(b)
	var m measurement
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		m.measure(func() {
			var events []exportEvent
			require.NoError(b, json.NewDecoder(bytes.NewReader(body)).Decode(&events))
			require.Len(b, events, benchEvents)
		})
	}
	m.report(b, benchEvents, body)
}

// benchReceiver serves body over HTTP to a receiver whose pipeline counts
// and drops the records. With gz, a client that accepts gzip gets gz
// instead (body compressed).
func benchReceiver(b *testing.B, body, gz []byte) (*auditReceiver, *atomic.Int64) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/whoami-v2") {
			_, _ = w.Write([]byte(`{"type":"user","name":"bench"}`))
			return
		}
		if gz != nil && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(gz)
			return
		}
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	var count atomic.Int64
	sink, err := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error {
		count.Add(int64(ld.LogRecordCount()))
		return nil
	})
	require.NoError(b, err)
	cfg := testConfig(srv.URL)
	cfg.StorageID = &storageID // the cursor in file_storage, as in a collector
	r, err := newAuditReceiver(cfg, receivertest.NewNopSettings(metadata.Type), sink)
	require.NoError(b, err)
	ext := startFileStorage(b, b.TempDir())
	host := storagetest.NewStorageHost().WithExtension(storageID, ext)
	require.NoError(b, r.setup(context.Background(), host))
	b.Cleanup(func() {
		require.NoError(b, r.Shutdown(context.Background()))
		require.NoError(b, ext.Shutdown(context.Background()))
	})
	return r, &count
}

// BenchmarkBackfill: a first poll of a full window, from the HTTP body to a
// sink consumer: decode, cursor, sort, convert, emit.
func BenchmarkBackfill(b *testing.B) {
	benchBackfill(b, fullWindow(b), nil)
}

// BenchmarkBackfillGzip: the same, the body sent gzip-compressed, with each
// decompressor.
func BenchmarkBackfillGzip(b *testing.B) {
	for _, d := range decompressors {
		b.Run(d.name, func(b *testing.B) {
			withGunzip(d.gunzip, func() { benchBackfill(b, fullWindow(b), fullWindowGzip(b)) })
		})
	}
}

func benchBackfill(b *testing.B, body, gz []byte) {
	var m measurement
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		r, count := benchReceiver(b, body, gz)
		b.StartTimer()
		m.measure(func() { r.poll(context.Background()) })
		require.Equal(b, int64(benchEvents), count.Load())
	}
	m.report(b, benchEvents, body)
}

// BenchmarkSteadyState: a poll of the same full window with nothing new.
func BenchmarkSteadyState(b *testing.B) {
	benchSteadyState(b, fullWindow(b), nil)
}

// BenchmarkSteadyStateGzip: the same, the body sent gzip-compressed, with
// each decompressor. Decompressing is most of such a poll.
func BenchmarkSteadyStateGzip(b *testing.B) {
	for _, d := range decompressors {
		b.Run(d.name, func(b *testing.B) {
			withGunzip(d.gunzip, func() { benchSteadyState(b, fullWindow(b), fullWindowGzip(b)) })
		})
	}
}

func benchSteadyState(b *testing.B, body, gz []byte) {
	r, count := benchReceiver(b, body, gz)
	r.poll(context.Background())
	require.Equal(b, int64(benchEvents), count.Load())
	var m measurement
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		m.measure(func() { r.poll(context.Background()) })
	}
	require.Equal(b, int64(benchEvents), count.Load(), "nothing new is emitted")
	m.report(b, benchEvents, body)
}

// BenchmarkGunzip: decompressing the gzipped window from memory into
// io.Discard, with each decompressor.
func BenchmarkGunzip(b *testing.B) {
	body, gz := fullWindow(b), fullWindowGzip(b)
	for _, d := range decompressors {
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for range b.N {
				zr, err := d.gunzip(bytes.NewReader(gz))
				require.NoError(b, err)
				n, err := io.Copy(io.Discard, zr)
				require.NoError(b, err)
				require.Equal(b, int64(len(body)), n)
				require.NoError(b, zr.Close())
			}
			b.ReportMetric(float64(len(gz))/(1<<20), "gzip-MiB")
		})
	}
}

// BenchmarkTransferOnly: the same body over the same loopback HTTP into
// io.Discard, read 256 KB at a time as the receiver's scanner reads it.
// The I/O floor of any poll, however fast its parsing.
func BenchmarkTransferOnly(b *testing.B) {
	body := fullWindow(b)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	defer srv.Close()
	var m measurement
	buf := make([]byte, 256<<10)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		m.measure(func() {
			resp, err := http.Get(srv.URL)
			require.NoError(b, err)
			// Not io.Copy: io.Discard's ReadFrom reads 8 KB at a time.
			_, err = io.CopyBuffer(struct{ io.Writer }{io.Discard}, resp.Body, buf)
			require.NoError(b, err)
			resp.Body.Close()
		})
	}
	m.report(b, benchEvents, body)
}

// BenchmarkScan: the array scanner alone over the body in memory, the part
// of a steady-state poll that is not I/O.
func BenchmarkScan(b *testing.B) {
	body := fullWindow(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s := newArrayScanner(bytes.NewReader(body))
		n := 0
		for {
			_, _, _, err := s.next()
			if err == io.EOF {
				break
			}
			// Not require.NoError: its b.Helper() walks the stack on
			// every call, a sixth of the scan's own time.
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		require.Equal(b, benchEvents, n)
	}
}

// BenchmarkBuild: decoding and converting the 100,000 events of a window
// from memory, in batches of 1,000 as emit does (no HTTP, no cursor).
func BenchmarkBuild(b *testing.B) {
	body := fullWindow(b)
	pending, raws := windowEvents(b, body)
	r, _ := benchReceiver(b, body, nil)
	var m measurement
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		m.measure(func() {
			n := 0
			buildBatches(r, pending, raws, func(logs plog.Logs) { n += logs.LogRecordCount() })
			require.Equal(b, benchEvents, n)
		})
	}
	m.report(b, benchEvents, body)
}

// BenchmarkRecordsCopy: pdata's own deep copy of the 100,000 records that
// Build makes, in the same batches: what allocating these records costs
// any receiver, without reading a byte of JSON. Build against it is what
// decoding and converting add to the records' own cost.
func BenchmarkRecordsCopy(b *testing.B) {
	body := fullWindow(b)
	pending, raws := windowEvents(b, body)
	r, _ := benchReceiver(b, body, nil)
	var built []plog.Logs
	buildBatches(r, pending, raws, func(logs plog.Logs) { built = append(built, logs) })
	var m measurement
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		m.measure(func() {
			n := 0
			for _, logs := range built {
				c := plog.NewLogs()
				logs.CopyTo(c)
				n += c.LogRecordCount()
			}
			require.Equal(b, benchEvents, n)
		})
	}
	m.report(b, benchEvents, body)
}

// buildBatches converts the events in batches of 1,000, as emit does, and
// hands each batch's records to f.
func buildBatches(r *auditReceiver, pending []pendingEvent, raws [][]byte, f func(plog.Logs)) {
	for start := 0; start < len(pending); start += 1000 {
		end := min(start+1000, len(pending))
		logs, _, err := r.buildLogs(context.Background(), pending[start:end], raws[start:end], 0)
		if err != nil {
			panic(err) // the window is valid JSON
		}
		f(logs)
	}
}

// windowEvents splits body into its events, each in its own buffer.
func windowEvents(b *testing.B, body []byte) ([]pendingEvent, [][]byte) {
	var pending []pendingEvent
	var raws [][]byte
	s := newArrayScanner(bytes.NewReader(body))
	for {
		raw, id, createdAt, err := s.next()
		if err == io.EOF {
			return pending, raws
		}
		require.NoError(b, err)
		at, err := parseCreatedAt(createdAt) // as sift does
		require.NoError(b, err)
		pending = append(pending, pendingEvent{id: newEventID(id), createdAt: at})
		raws = append(raws, bytes.Clone(raw))
	}
}

// BenchmarkCheckpoint: saving the cursor in file_storage when the seen set
// holds 100,000 IDs: the delta of one 1,000-event batch (after every
// batch), and the compaction into one value (once the deltas hold a
// quarter of the base's IDs, or 256 deltas have piled up).
func BenchmarkCheckpoint(b *testing.B) {
	ctx := context.Background()
	ext := startFileStorage(b, b.TempDir())
	defer func() { require.NoError(b, ext.Shutdown(ctx)) }()
	client, err := ext.(storage.Extension).GetClient(ctx, component.KindReceiver, component.MustNewID("huggingfaceaudit"), "")
	require.NoError(b, err)
	defer func() { require.NoError(b, client.Close(ctx)) }()
	ts := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).UnixNano()
	batch := func(from int) []pendingEvent {
		out := make([]pendingEvent, 1000)
		for i := range out {
			out[i] = pendingEvent{id: newEventID(fmt.Sprintf("6650a1b2c3d4e5f6%08x", from+i)), createdAt: ts + int64(from+i)*int64(time.Millisecond)}
		}
		return out
	}
	c := newCursor(0)
	for i := 0; i < benchEvents; i += 1000 {
		c.advance(batch(i), time.Hour, farFuture)
	}
	require.Equal(b, benchEvents, c.seen.len())
	store := cursorStore{client: client, key: "cursor.bench", firstDelta: 1, nextDelta: 1}
	b.Run("batch", func(b *testing.B) {
		next := batch(benchEvents)
		b.ReportAllocs()
		for range b.N {
			require.NoError(b, store.saveBatch(ctx, c, next))
		}
		b.ReportMetric(float64(len(c.marshalDelta(1, next))), "bytes/save")
	})
	b.Run("compaction", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			store.firstDelta = store.nextDelta - 1 // one delta to fold in
			store.baseIDs = 0                      // and a compaction due
			require.NoError(b, store.compact(ctx, c))
		}
		b.ReportMetric(float64(len(c.marshalBase(1))), "bytes/save")
	})
}
