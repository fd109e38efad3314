package huggingfaceauditreceiver

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/metadatatest"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

func TestStartPollsAtOnceAndShutdownStops(t *testing.T) {
	sim, url := newSim(t, simulator.Options{InitialEvents: 10, NoSelfExport: true})
	cfg := testConfig(url)
	cfg.PollInterval = time.Hour // only the first poll, at start, can deliver
	next := &consumertest.LogsSink{}
	r := createReceiver(t, cfg, next)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	require.Eventually(t, func() bool { return next.LogRecordCount() == 10 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, r.Shutdown(context.Background()))
	require.NoError(t, r.Shutdown(context.Background()), "a second Shutdown is harmless")
	calls := sim.Calls()
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, calls, sim.Calls(), "no request after Shutdown")
}

func TestShutdownDuringASlowPoll(t *testing.T) {
	sim, url := newSim(t, simulator.Options{InitialEvents: 10, SlowDelay: time.Minute})
	require.NoError(t, sim.SetFault(simulator.FaultSlow, 0))
	r := createReceiver(t, testConfig(url), &consumertest.LogsSink{})
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	// Calls counts an export request on arrival: it is in flight now.
	require.Eventually(t, func() bool { return sim.Calls() > 0 }, 10*time.Second, 10*time.Millisecond)
	start := time.Now()
	require.NoError(t, r.Shutdown(context.Background()))
	assert.Less(t, time.Since(start), 30*time.Second, "Shutdown cancels the request in flight")
	require.Eventually(t, func() bool {
		reqs := sim.Requests()
		return len(reqs) == 1 && reqs[0].Status == 499
	}, 10*time.Second, 10*time.Millisecond, "the simulator saw the client go away")
}

func TestShutdownWithoutStart(t *testing.T) {
	r := createReceiver(t, testConfig("http://127.0.0.1:1"), &consumertest.LogsSink{})
	require.NoError(t, r.Shutdown(context.Background()))
	require.NoError(t, r.Shutdown(context.Background()))
}

func TestStartErrors(t *testing.T) {
	missing := component.MustNewIDWithName("file_storage", "missing")
	notStorage := storagetest.NewNonStorageID("other")
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"storage extension not configured", func(c *Config) { c.StorageID = &missing }, `storage: extension "file_storage/missing" is not configured`},
		{"not a storage extension", func(c *Config) { c.StorageID = &notStorage }, "is not a storage extension"},
		{"unreadable IP database", func(c *Config) { c.IPEnrichment.CityDatabase = filepath.Join(t.TempDir(), "nope.mmdb") }, "ip_enrichment: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig("http://127.0.0.1:1")
			tt.mutate(cfg)
			r := createReceiver(t, cfg, &consumertest.LogsSink{})
			host := storagetest.NewStorageHost().WithNonStorageExtension("other")
			err := r.Start(context.Background(), host)
			require.ErrorContains(t, err, tt.want)
			require.NoError(t, r.Shutdown(context.Background()))
		})
	}
}

// A refusal the Hub's side can fix (a new token, a granted permission, the
// organization's plan) is a recoverable error: the receiver keeps polling
// and reports OK again on the next good poll, without a restart.
func TestStatusRecovers(t *testing.T) {
	for _, tt := range []struct {
		status int
		want   string
	}{
		{http.StatusUnauthorized, "401 from the Hub: the token is missing, invalid or expired"},
		{http.StatusForbidden, "403 from the Hub: the token may not export the audit log of demo-org; use an organization admin's token with read access to the organization"},
		{http.StatusNotFound, `404 from the Hub: no organization "demo-org"`},
	} {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			ctx := context.Background()
			h := onFakeHub(t)
			h.hub.set(ev("6650a1b2c3d4e5f60000000a", "2026-11-20T10:00:00Z"))
			h.hub.setStatus(tt.status)
			r, _ := h.start()
			r.poll(ctx)
			r.poll(ctx)
			require.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, h.statusSequence(), "reported on change only")
			assert.Contains(t, h.lastStatus().Err().Error(), tt.want)
			assert.Empty(t, h.next.accepted())

			h.hub.setStatus(0) // fixed on the Hub's side
			r.poll(ctx)
			assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, h.statusSequence())
			assert.Len(t, h.next.accepted(), 1)
		})
	}
}

// guardedStorage wraps a storage extension and notes when its client is
// used after Close, as a poll would if Shutdown closed it under the poll.
type guardedStorage struct {
	storage.Extension
	closed, usedAfterClose atomic.Int32
}

func (g *guardedStorage) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := g.Extension.GetClient(ctx, kind, id, name)
	return &guardedClient{Client: c, g: g}, err
}

type guardedClient struct {
	storage.Client
	g *guardedStorage
}

func (c *guardedClient) use() {
	if c.g.closed.Load() > 0 {
		c.g.usedAfterClose.Add(1)
	}
}

func (c *guardedClient) Get(ctx context.Context, key string) ([]byte, error) {
	c.use()
	return c.Client.Get(ctx, key)
}

func (c *guardedClient) Set(ctx context.Context, key string, value []byte) error {
	c.use()
	return c.Client.Set(ctx, key, value)
}

func (c *guardedClient) Close(ctx context.Context) error {
	c.g.closed.Add(1)
	return c.Client.Close(ctx)
}

// Shutdown's deadline passes while a poll is stuck in a slow export (a
// consumer that ignores cancellation): the storage client, the IP databases
// and the connections stay open until the poll returns, and only then are
// released. Run with -race.
func TestShutdownDeadlineDuringASlowExport(t *testing.T) {
	ctx := context.Background()
	h := onSim(t, simulator.Options{InitialEvents: 10, NoSelfExport: true})
	guard := &guardedStorage{Extension: startFileStorage(t, h.storageDir).(storage.Extension)}
	t.Cleanup(func() { require.NoError(t, guard.Shutdown(ctx)) })

	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	slow, err := consumer.NewLogs(func(context.Context, plog.Logs) error {
		once.Do(func() { close(entered) })
		<-release // a slow exporter that ignores the context
		return nil
	})
	require.NoError(t, err)
	r := h.newReceiver(slow, func(c *Config) { c.BatchSize = 5 })
	require.NoError(t, r.Start(ctx, h.host(guard)))
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first batch never reached the consumer")
	}

	deadline, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err = r.Shutdown(deadline)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Zero(t, guard.closed.Load(), "nothing is closed under the running poll")

	close(release)
	require.Eventually(t, func() bool { return guard.closed.Load() == 1 }, 10*time.Second, 5*time.Millisecond,
		"released once the poll returned")
	assert.Zero(t, guard.usedAfterClose.Load(), "the poll never used a closed storage client")
	require.NoError(t, r.Shutdown(ctx), "a second Shutdown after the loop stopped is harmless")
	assert.Equal(t, int32(1), guard.closed.Load())
}

// Each poll is counted once by how it ended, in the collector's own words:
// success, failure (the export request), refused (the pipeline).
func TestPollOutcomes(t *testing.T) {
	ctx := context.Background()
	h := onFakeHub(t)
	h.hub.set(ev("6650a1b2c3d4e5f60000000a", "2026-11-20T10:00:00Z"))
	r, _ := h.start(func(c *Config) { c.RetryOnFailure.Enabled = false })
	h.next.refuse(errors.New("exporter queue is full"))
	r.poll(ctx)
	h.next.refuse(nil)
	h.hub.setStatus(http.StatusBadGateway)
	r.poll(ctx)
	h.hub.setStatus(0)
	r.poll(ctx)
	metadatatest.AssertEqualReceiverHuggingfaceauditPolls(t, h.tel, []metricdata.DataPoint[int64]{
		point(1, "outcome", "refused"), point(1, "outcome", "failure"), point(1, "outcome", "success"),
	}, ignoreTime)
	metadatatest.AssertEqualReceiverHuggingfaceauditFailedRequests(t, h.tel, points(1, "error.type", classServer), ignoreTime)
	failed := h.logs.FilterMessage("Poll failed").All()
	require.Len(t, failed, 2)
	assert.Equal(t, classServer, failed[1].ContextMap()["error.type"], "log lines carry the same error.type")
	assert.Equal(t, []string{"6650a1b2c3d4e5f60000000a"}, h.next.accepted())
}
