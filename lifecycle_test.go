package huggingfaceauditreceiver

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/metadata"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

func createReceiver(t *testing.T, cfg *Config, next *consumertest.LogsSink) *auditReceiver {
	t.Helper()
	r, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, next)
	require.NoError(t, err)
	return r.(*auditReceiver)
}

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

func TestUnreadableCheckpointStartsOver(t *testing.T) {
	_, url := newSim(t, simulator.Options{InitialEvents: 5, NoSelfExport: true})
	h := newHarness(t)
	r, stop := h.start(testConfig(url))
	require.NoError(t, r.store.client.Set(context.Background(), r.store.key, []byte("{not json")))
	stop()
	r2, _ := h.start(testConfig(url))
	r2.poll(context.Background())
	assert.Len(t, h.next.accepted(), 5)
	assert.Len(t, h.logs.FilterMessageSnippet("The stored checkpoint cannot be read").All(), 1)
}

func TestCursorKeyIsolatesStreams(t *testing.T) {
	assert.Equal(t, "cursor.acme", cursorKey("acme", ""))
	assert.NotEqual(t, cursorKey("acme", ""), cursorKey("acme", "type:repo.create"))
	assert.NotEqual(t, cursorKey("acme", "type:repo.create"), cursorKey("acme", "type:repo.delete"))
	assert.NotEqual(t, cursorKey("acme", ""), cursorKey("acme-labs", ""))
}

// Two instances on one file_storage extension keep their own cursors.
func TestInstancesDoNotShareCursors(t *testing.T) {
	ctx := context.Background()
	simA, urlA := newSim(t, simulator.Options{InitialEvents: 7, NoSelfExport: true, Seed: 1})
	simB, urlB := newSim(t, simulator.Options{InitialEvents: 9, NoSelfExport: true, Seed: 2})
	dir := t.TempDir()
	run := func(name, url string, next *consumertest.LogsSink) {
		f := filestorage.NewFactory()
		fcfg := f.CreateDefaultConfig().(*filestorage.Config)
		fcfg.Directory = dir
		ext, err := f.Create(ctx, extensiontest.NewNopSettings(f.Type()), fcfg)
		require.NoError(t, err)
		require.NoError(t, ext.Start(ctx, componenttest.NewNopHost()))
		defer func() { require.NoError(t, ext.Shutdown(ctx)) }()
		cfg := testConfig(url)
		cfg.StorageID = &storageID
		set := receivertest.NewNopSettings(metadata.Type)
		set.ID = component.MustNewIDWithName("huggingfaceaudit", name)
		r, err := newAuditReceiver(cfg, set, next)
		require.NoError(t, err)
		require.NoError(t, r.setup(ctx, storagetest.NewStorageHost().WithExtension(storageID, ext)))
		r.poll(ctx)
		require.NoError(t, r.Shutdown(ctx))
	}
	a, b := &consumertest.LogsSink{}, &consumertest.LogsSink{}
	run("org-a", urlA, a)
	run("org-b", urlB, b)
	simA.Add(2)
	simB.Add(3)
	run("org-a", urlA, a)
	run("org-b", urlB, b)
	assert.Equal(t, 9, a.LogRecordCount(), "org-a: 7, then its 2 new ones")
	assert.Equal(t, 12, b.LogRecordCount(), "org-b: 9, then its 3 new ones")
}

func TestQueryAndRequestHeaders(t *testing.T) {
	sim, url := newSim(t, simulator.Options{InitialEvents: 300, NoSelfExport: true})
	h := newHarness(t)
	cfg := testConfig(url)
	cfg.Query = "type:repo.create"
	r, _ := h.start(cfg)
	r.poll(context.Background())

	req := sim.Requests()[0]
	assert.Equal(t, "type:repo.create", req.Q)
	assert.Equal(t, "otelcol-huggingfaceaudit/test", req.UserAgent)
	assert.Equal(t, testToken[len(testToken)-4:], req.Last4)
	var want []string
	for _, e := range sim.Events() {
		if e["type"] == "repo.create" {
			want = append(want, e["_id"].(string))
		}
	}
	require.NotEmpty(t, want)
	assert.Equal(t, want, h.next.accepted())
}
