package huggingfaceauditreceiver

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"

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
