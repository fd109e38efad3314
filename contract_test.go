package huggingfaceauditreceiver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pipeline"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/metadata"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

// simGenerator writes events into the simulator; each scenario of the
// contract check gets an empty window, as its receiver starts without a
// cursor.
type simGenerator struct {
	t   *testing.T
	sim atomic.Pointer[simulator.Server]
}

func (g *simGenerator) reset() {
	sim, err := simulator.New(simulator.Options{Token: testToken, NoSelfExport: true, Seed: 3})
	require.NoError(g.t, err)
	g.sim.Store(sim)
}

func (g *simGenerator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.sim.Load().ServeHTTP(w, r)
}
func (g *simGenerator) Start() {}
func (g *simGenerator) Stop()  { g.reset() }

func (g *simGenerator) Generate() []receivertest.UniqueIDAttrVal {
	var ids []receivertest.UniqueIDAttrVal
	for _, id := range g.sim.Load().Add(3) {
		ids = append(ids, receivertest.UniqueIDAttrVal(id))
	}
	return ids
}

// withTestIDs copies each record's log.record.uid into the contract's test_id.
func withTestIDs(next consumer.Logs) consumer.Logs {
	c, _ := consumer.NewLogs(func(ctx context.Context, ld plog.Logs) error {
		rls := ld.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			sls := rls.At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					uid, _ := lrs.At(k).Attributes().Get(attrRecordUID)
					lrs.At(k).Attributes().PutStr(receivertest.UniqueIDAttrName, uid.Str())
				}
			}
		}
		return next.ConsumeLogs(ctx, ld)
	}, consumer.WithCapabilities(consumer.Capabilities{MutatesData: true}))
	return c
}

func TestConsumeContract(t *testing.T) {
	gen := &simGenerator{t: t}
	gen.reset()
	srv := httptest.NewServer(gen)
	defer srv.Close()

	cfg := testConfig(srv.URL)
	cfg.PollInterval = 20 * time.Millisecond
	cfg.BatchSize = 7
	cfg.RetryOnFailure.MaxElapsedTime = 0 // retry non-permanent errors until they pass

	factory := receiver.NewFactory(metadata.Type, func() component.Config { return cfg },
		receiver.WithLogs(func(ctx context.Context, set receiver.Settings, c component.Config, next consumer.Logs) (receiver.Logs, error) {
			return NewFactory().CreateLogs(ctx, set, c, withTestIDs(next))
		}, metadata.LogsStability))

	receivertest.CheckConsumeContract(receivertest.CheckConsumeContractParams{
		T:             t,
		Factory:       factory,
		Signal:        pipeline.SignalLogs,
		Config:        cfg,
		Generator:     gen,
		GenerateCount: 300,
	})
}
