package collector

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/collectortest"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator/simtest"
)

// refusingSink is an OTLP/HTTP logs endpoint that answers 503 to some
// requests and keeps each record's user.name, by log.record.uid, from the
// others.
type refusingSink struct {
	mu       sync.Mutex
	requests int
	refused  int
	names    map[string][]string // user.name of each record received, by ID
}

// refuse: the first three requests, then every fourth.
func (s *refusingSink) refuse(n int) bool { return n <= 3 || n%4 == 0 }

func (s *refusingSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// An ExportLogsServiceRequest has LogsData's wire format.
	logs, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if s.refuse(s.requests) {
		s.refused++
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	rls := logs.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				attrs := lrs.At(k).Attributes()
				id, _ := attrs.Get("log.record.uid")
				name, _ := attrs.Get("user.name")
				s.names[id.Str()] = append(s.names[id.Str()], name.AsString())
			}
		}
	}
	// An empty ExportLogsServiceResponse: no bytes.
	w.Header().Set("Content-Type", "application/x-protobuf")
}

func (s *refusingSink) received() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.names)
}

// A batch the pipeline refused is offered again as the receiver built it.
// The pipeline owns what it was given, also when it refuses it: here the
// attributes processor has hashed user.name in place before the exporter
// failed, and with the pdata.useProtoPooling feature gate the collector
// frees the batch once the processor's call returns. Offering the same
// logs again sent names hashed twice, and, with the gate, an empty batch:
// its events were lost and the cursor moved past them.
func TestRefusedBatchesAreOfferedAsBuilt(t *testing.T) {
	bin := collectorBinary(t)
	const events = 1000
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"default", nil},
		{"pdata.useProtoPooling", []string{"--feature-gates=pdata.useProtoPooling"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim, url := simtest.Start(t, simulator.Options{Token: token, InitialEvents: events, Seed: 5, NoSelfExport: true})
			sink := &refusingSink{names: map[string][]string{}}
			srv := httptest.NewServer(sink)
			t.Cleanup(srv.Close)
			dir := t.TempDir()
			require.NoError(t, os.Mkdir(filepath.Join(dir, "state"), 0o700))
			env := []string{"HF_TOKEN=" + token, "HF_ENDPOINT=" + url, "E2E_STATE_DIR=" + filepath.Join(dir, "state"), "E2E_SINK=" + srv.URL}
			args := append([]string{"--config", filepath.Join("testdata", "retry.yaml")}, tc.args...)
			c := collectortest.Start(t, bin, env, args...)
			c.WaitFor(t, "every event", 100*time.Millisecond, 2*time.Minute, func() bool { return sink.received() >= events })
			time.Sleep(3 * time.Second) // one more poll: nothing new may arrive
			c.Stop(t)

			sink.mu.Lock()
			defer sink.mu.Unlock()
			t.Logf("%d requests, %d refused", sink.requests, sink.refused)
			require.Positive(t, sink.refused)
			for _, e := range sim.Events() {
				id := e["_id"].(string)
				want := ""
				if author, ok := e["author"].(map[string]any); ok {
					if user, ok := author["user"].(string); ok {
						sum := sha256.Sum256([]byte(user))
						want = hex.EncodeToString(sum[:])
					}
				}
				if !assert.Equal(t, []string{want}, sink.names[id], "event %s: received once, its user.name hashed once", id) {
					break
				}
			}
			assert.Len(t, sink.names, events)
			assert.NotContains(t, c.Output(), token, "the token never appears in the collector's output")
		})
	}
}
