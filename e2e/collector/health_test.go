package collector

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

// health is the health check extension's verbose answer (v2 mode), one
// node per pipeline and component.
type health struct {
	Healthy    bool               `json:"healthy"`
	Status     string             `json:"status"`
	Error      string             `json:"error"`
	Components map[string]*health `json:"components"`
}

// find returns the node of a component ("receiver:huggingfaceaudit").
func (h *health) find(key string) *health {
	if h == nil {
		return nil
	}
	if c, ok := h.Components[key]; ok {
		return c
	}
	for _, c := range h.Components {
		if f := c.find(key); f != nil {
			return f
		}
	}
	return nil
}

type probe struct {
	code int
	body *health
	raw  string
}

func getHealth(url string) (probe, error) {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return probe{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return probe{}, err
	}
	p := probe{code: resp.StatusCode, raw: string(b), body: &health{}}
	if err := json.Unmarshal(b, p.body); err != nil {
		p.body = nil
	}
	return p, nil
}

func freeLoopbackAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// The receiver's status, as the health check extension shows it, goes red on
// a 403 from the Hub and back to OK after the permission is fixed, without a
// restart; the liveness endpoint stays 200 throughout, so a liveness probe
// does not restart a collector that only waits for a new permission.
func TestHealthCheckShowsReceiverStatus(t *testing.T) {
	bin := collectorBinary(t)
	sim, err := simulator.New(simulator.Options{Token: token, InitialEvents: 50, Seed: 5, NoSelfExport: true})
	require.NoError(t, err)
	defer sim.Close()
	// The Hub answers 403 when the token may not export the audit log; the
	// access is granted (forbidden cleared) while the collector runs.
	var forbidden atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if forbidden.Load() && strings.HasSuffix(r.URL.Path, "/audit-log/export") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"error":"You don't have the rights to access the audit logs of this organization"}`)
			return
		}
		sim.ServeHTTP(w, r)
	}))
	defer srv.Close()

	live, status := freeLoopbackAddr(t), freeLoopbackAddr(t)
	liveURL := "http://" + live + "/health/live"
	statusURL := "http://" + status + "/health/status?verbose"
	c := startCollector(t, bin, "health.yaml", []string{
		"HF_TOKEN=" + token, "HF_ENDPOINT=" + srv.URL,
		"E2E_LIVE_ENDPOINT=" + live, "E2E_STATUS_ENDPOINT=" + status,
	})

	var last probe
	receiverIs := func(want string, code int) func() bool {
		return func() bool {
			p, err := getHealth(statusURL)
			if err != nil {
				return false
			}
			last = p
			r := p.body.find("receiver:huggingfaceaudit")
			return p.code == code && r != nil && r.Status == want
		}
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		defer func() { t.Logf("%s: last answer HTTP %d %s", what, last.code, last.raw) }()
		c.WaitFor(t, what, 200*time.Millisecond, time.Minute, cond)
	}
	liveIsOK := func() {
		t.Helper()
		p, err := getHealth(liveURL)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, p.code, "liveness: %s", p.raw)
	}

	wait("the receiver OK after its first poll", receiverIs("StatusOK", http.StatusOK))
	assert.True(t, last.body.Healthy)
	liveIsOK()

	forbidden.Store(true)
	wait("a 403 shown as a recoverable error", receiverIs("StatusRecoverableError", http.StatusInternalServerError))
	rcv := last.body.find("receiver:huggingfaceaudit")
	assert.False(t, rcv.Healthy)
	assert.False(t, last.body.Healthy, "the collector's overall status is unhealthy")
	assert.Contains(t, rcv.Error, "403", "the error tells what the Hub answered")
	assert.Contains(t, rcv.Error, "an organization admin's token", "the error tells what to do")
	liveIsOK()

	forbidden.Store(false)
	wait("the receiver OK again after the next good poll", receiverIs("StatusOK", http.StatusOK))
	assert.True(t, last.body.Healthy)
	liveIsOK()

	assert.NotContains(t, c.Output(), token, "the token never appears in the collector's output")
	assert.NotContains(t, last.raw, token)
}

// healthExtensions returns a configuration's two health_check extensions
// without what differs between deployments: the endpoints and the
// recovery_duration.
func healthExtensions(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var cfg struct {
		Extensions map[string]map[string]any `yaml:"extensions"`
	}
	require.NoError(t, yaml.Unmarshal(b, &cfg), path)
	out := map[string]any{}
	for _, id := range []string{"health_check", "health_check/status"} {
		ext, ok := cfg.Extensions[id]
		require.True(t, ok, "%s configures %s", path, id)
		if h, ok := ext["http"].(map[string]any); ok {
			delete(h, "endpoint")
		}
		if ch, ok := ext["component_health"].(map[string]any); ok {
			delete(ch, "recovery_duration")
		}
		out[id] = ext
	}
	return out
}

// testdata/health.yaml, which TestHealthCheckShowsReceiverStatus runs,
// configures the health check as deploy/ and the example do (which errors
// turn the status red, liveness without component health); otherwise what
// that test shows would not hold for them.
func TestHealthConfigMatchesDeployments(t *testing.T) {
	tested := healthExtensions(t, filepath.Join("testdata", "health.yaml"))
	for _, path := range []string{filepath.Join(deployDir, "config.yaml"), filepath.Join("..", "..", "examples", "huggingface.yaml")} {
		assert.Equal(t, tested, healthExtensions(t, path), path)
	}
}
