package huggingfaceauditreceiver

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/metadata"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator/simtest"
)

// The shared harness of the package's tests: a Hub to talk to (the
// simulator or a hand-made fakeHub), receivers on the real file_storage
// extension, a recording consumer, telemetry, logs and status.

const testToken = "hf_test_secret_token_Zq7w"

// testConfig points at a test server, with retries fast and bounded.
func testConfig(endpoint string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Organization = "demo-org"
	cfg.Token = testToken
	cfg.Endpoint = endpoint
	cfg.PollInterval = time.Hour // tests poll by hand
	cfg.RetryOnFailure.InitialInterval = time.Millisecond
	cfg.RetryOnFailure.MaxInterval = 5 * time.Millisecond
	cfg.RetryOnFailure.MaxElapsedTime = 200 * time.Millisecond
	return cfg
}

// newSim serves a simulator that accepts testToken.
func newSim(t *testing.T, opts simulator.Options) (*simulator.Server, string) {
	t.Helper()
	opts.Token = testToken
	if opts.Seed == 0 {
		opts.Seed = 7
	}
	return simtest.Start(t, opts)
}

// fakeHub serves a hand-made export, for exact control of order, times,
// status and headers.
type fakeHub struct {
	mu     sync.Mutex
	events []string
	status int         // answer this instead of 200
	header http.Header // sent with every answer
	cutAt  int         // > 0: the next body stops after this many bytes
	after  string      // sent after the closing bracket
	calls  int
}

func (f *fakeHub) set(events ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = events
}

func (f *fakeHub) setStatus(status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status = status
}

func (f *fakeHub) setHeader(key, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.header == nil {
		f.header = http.Header{}
	}
	f.header.Set(key, value)
}

// sendAfter appends s to every body, after the array.
func (f *fakeHub) sendAfter(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.after = s
}

func (f *fakeHub) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// It knows no token owner; whoami is not an export call.
	if strings.HasSuffix(r.URL.Path, "/whoami-v2") {
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	for k, v := range f.header {
		w.Header()[k] = v
	}
	if f.status != 0 {
		w.WriteHeader(f.status)
		return
	}
	body := []byte("[" + strings.Join(f.events, ",") + "]" + f.after)
	w.Header().Set("Content-Type", "application/json")
	if f.cutAt > 0 {
		// Promise the whole body, send a part: the client sees the
		// connection end early, as when a proxy cuts it.
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		body, f.cutAt = body[:f.cutAt], 0
	}
	_, _ = w.Write(body)
}

// ev makes a minimal schema-valid event.
func ev(id, createdAt string) string {
	return `{"_id":"` + id + `","createdAt":"` + createdAt + `","type":"repo.create","message":"m","author":{"_id":"64f0a1b2c3d4e5f6a7b8c9d0","user":"alice","avatarUrl":"a","type":"user"}}`
}

// recordingConsumer accepts logs, keeping the record IDs in order, after
// returning the scripted errors one call at a time (or refusing every call
// while refusing is set).
type recordingConsumer struct {
	mu       sync.Mutex
	errs     []error
	refusing error
	ids      []string
	calls    int
}

func (c *recordingConsumer) consumer(t *testing.T) consumer.Logs {
	next, err := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.calls++
		if c.refusing != nil {
			return c.refusing
		}
		if len(c.errs) > 0 {
			err := c.errs[0]
			c.errs = c.errs[1:]
			if err != nil {
				return err
			}
		}
		c.ids = append(c.ids, recordIDs(ld)...)
		return nil
	})
	require.NoError(t, err)
	return next
}

func (c *recordingConsumer) accepted() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ids...)
}

func (c *recordingConsumer) fail(errs ...error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, errs...)
}

// refuse makes every call fail with err until refuse(nil).
func (c *recordingConsumer) refuse(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refusing = err
}

func recordIDs(ld plog.Logs) []string {
	var ids []string
	forEachRecord(ld, func(lr plog.LogRecord) {
		v, _ := lr.Attributes().Get(attrRecordUID)
		ids = append(ids, v.Str())
	})
	return ids
}

// forEachRecord calls f with every log record of ld, in order.
func forEachRecord(ld plog.Logs, f func(plog.LogRecord)) {
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		sls := ld.ResourceLogs().At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				f(lrs.At(k))
			}
		}
	}
}

// harness builds receivers against one Hub that share one storage
// directory (the real file_storage extension), one consumer, one telemetry
// and one log observer, so a test can restart a receiver and check what
// carried over.
type harness struct {
	t          *testing.T
	url        string            // the Hub's base URL
	sim        *simulator.Server // set by onSim
	hub        *fakeHub          // set by onFakeHub
	id         component.ID
	storageDir string
	next       *recordingConsumer
	tel        *componenttest.Telemetry
	logs       *observer.ObservedLogs
	zlog       *zap.Logger
	mu         sync.Mutex
	statuses   []*componentstatus.Event
}

func newHarness(t *testing.T, url string) *harness {
	core, logs := observer.New(zap.DebugLevel)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	return &harness{
		t: t, url: url, id: component.MustNewIDWithName("huggingfaceaudit", "test"), storageDir: t.TempDir(),
		next: &recordingConsumer{}, tel: tel, logs: logs, zlog: zap.New(core),
	}
}

// onSim is a harness against a new simulator.
func onSim(t *testing.T, opts simulator.Options) *harness {
	sim, url := newSim(t, opts)
	h := newHarness(t, url)
	h.sim = sim
	return h
}

// onFakeHub is a harness against a hand-made export.
func onFakeHub(t *testing.T) *harness {
	hub := &fakeHub{}
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	h := newHarness(t, srv.URL)
	h.hub = hub
	return h
}

var storageID = component.MustNewIDWithName("file_storage", "test")

// start creates a receiver on testConfig(h.url), changed by mutate, with its
// own file_storage extension on the shared directory, sets it up without
// its poll loop, and registers cleanup. Call stop before starting another
// receiver on the same directory.
func (h *harness) start(mutate ...func(*Config)) (*auditReceiver, func()) {
	t := h.t
	ctx := context.Background()
	ext := startFileStorage(t, h.storageDir)
	r := h.newReceiver(h.next.consumer(t), mutate...)
	require.NoError(t, r.setup(ctx, h.host(ext)))
	var once sync.Once
	stop := func() {
		once.Do(func() {
			require.NoError(t, r.Shutdown(ctx))
			require.NoError(t, ext.Shutdown(ctx))
		})
	}
	t.Cleanup(stop)
	return r, stop
}

// newReceiver creates a receiver on testConfig(h.url), changed by mutate,
// that sends to next and keeps its cursor in the storage extension that
// h.host offers; the caller sets it up (or starts it) and shuts it down.
func (h *harness) newReceiver(next consumer.Logs, mutate ...func(*Config)) *auditReceiver {
	cfg := testConfig(h.url)
	for _, m := range mutate {
		m(cfg)
	}
	cfg.StorageID = &storageID
	r, err := newAuditReceiver(cfg, h.settings(), next)
	require.NoError(h.t, err)
	return r
}

// settings are the receiver's: the harness's telemetry and log observer.
func (h *harness) settings() receiver.Settings {
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = h.id
	set.TelemetrySettings = h.tel.NewTelemetrySettings()
	set.Logger = h.zlog
	set.BuildInfo.Version = "test"
	return set
}

// host offers the storage extension and records the status reports.
func (h *harness) host(storageExt component.Component) component.Host {
	return &statusHost{Host: storagetest.NewStorageHost().WithExtension(storageID, storageExt), h: h}
}

func startFileStorage(t testing.TB, dir string) component.Component {
	ctx := context.Background()
	f := filestorage.NewFactory()
	fcfg := f.CreateDefaultConfig().(*filestorage.Config)
	fcfg.Directory = dir
	ext, err := f.Create(ctx, extensiontest.NewNopSettings(f.Type()), fcfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(ctx, componenttest.NewNopHost()))
	return ext
}

// wrappedStorage is a storage extension whose clients wrap wraps, to
// watch or break what the receiver does with them.
type wrappedStorage struct {
	storage.Extension
	wrap func(storage.Client) storage.Client
}

func (s wrappedStorage) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := s.Extension.GetClient(ctx, kind, id, name)
	if err != nil {
		return nil, err
	}
	return s.wrap(c), nil
}

// statusHost records the component status the receiver reports, and holds
// it to the collector's status model: after a PermanentError only Stopping
// may follow (the collector ignores anything else, so health stays red).
type statusHost struct {
	component.Host
	h *harness
}

func (s *statusHost) Report(ev *componentstatus.Event) {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if n := len(s.h.statuses); n > 0 && s.h.statuses[n-1].Status() == componentstatus.StatusPermanentError &&
		ev.Status() != componentstatus.StatusStopping {
		s.h.t.Errorf("status %v reported after a permanent error: the collector would ignore it", ev.Status())
	}
	s.h.statuses = append(s.h.statuses, ev)
}

// statusSequence lists the statuses reported so far, oldest first.
func (h *harness) statusSequence() []componentstatus.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	var seq []componentstatus.Status
	for _, ev := range h.statuses {
		seq = append(seq, ev.Status())
	}
	return seq
}

func (h *harness) lastStatus() *componentstatus.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.statuses) == 0 {
		return nil
	}
	return h.statuses[len(h.statuses)-1]
}

// savedCursor reads the checkpoint the receiver saved, as a restart would.
func savedCursor(t *testing.T, r *auditReceiver) *cursor {
	t.Helper()
	store := r.store // a copy: load resets the delta numbers
	c, err := store.load(context.Background(), r.cfg.LateArrivalWindow)
	require.NoError(t, err)
	return c
}

// assertNothingSaved: the saved cursor is the one saved at start, with
// nothing emitted.
func assertNothingSaved(t *testing.T, r *auditReceiver) {
	t.Helper()
	c := savedCursor(t, r)
	require.NotNil(t, c, "a new cursor is saved at start")
	assert.Zero(t, c.watermark, "the cursor stays where it was")
	assert.Zero(t, c.seen.len(), "the cursor stays where it was")
}

// points are the data points a counter should have: values with their
// attribute (name, value) pairs, e.g. points(10, "reason", "refused").
// Pass them to the generated metadatatest.AssertEqual... helpers.
func points(value int64, attrs ...string) []metricdata.DataPoint[int64] {
	return []metricdata.DataPoint[int64]{point(value, attrs...)}
}

func point(value int64, attrs ...string) metricdata.DataPoint[int64] {
	var kvs []attribute.KeyValue
	for i := 0; i+1 < len(attrs); i += 2 {
		kvs = append(kvs, attribute.String(attrs[i], attrs[i+1]))
	}
	return metricdata.DataPoint[int64]{Value: value, Attributes: attribute.NewSet(kvs...)}
}

var ignoreTime = metricdatatest.IgnoreTimestamp()

// assertNoMetric: nothing was ever counted in the metric.
func (h *harness) assertNoMetric(name string) {
	h.t.Helper()
	_, err := h.tel.GetMetric("otelcol_receiver_huggingfaceaudit_" + name)
	require.Error(h.t, err, "%s was recorded", name)
}

// counted is the total of an int64 counter over all its attribute sets,
// for the collector's own receiver metrics whose assert helpers are internal.
func (h *harness) counted(name string) int64 {
	h.t.Helper()
	m, err := h.tel.GetMetric(name)
	require.NoError(h.t, err)
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(h.t, ok, "%s is an int64 sum", name)
	var total int64
	for _, dp := range sum.DataPoints {
		total += dp.Value
	}
	return total
}

// logText joins every log line and its fields, to look for leaks.
func (h *harness) logText() string {
	var b strings.Builder
	for _, e := range h.logs.All() {
		b.WriteString(e.Message)
		for k, v := range e.ContextMap() {
			b.WriteString(" " + k + "=")
			fmt.Fprint(&b, v)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// createReceiver makes a receiver through the factory, as the collector does.
func createReceiver(t *testing.T, cfg *Config, next *consumertest.LogsSink) *auditReceiver {
	t.Helper()
	r, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, next)
	require.NoError(t, err)
	return r.(*auditReceiver)
}

func mustMarshalLogs(t *testing.T, logs plog.Logs) []byte {
	t.Helper()
	b, err := (&plog.JSONMarshaler{}).MarshalLogs(logs)
	require.NoError(t, err)
	return b
}

func mustUnmarshalLogs(t *testing.T, b []byte) plog.Logs {
	t.Helper()
	logs, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(b)
	require.NoError(t, err)
	return logs
}
