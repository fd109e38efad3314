// Package collector tests the collector distribution built by ocb from
// builder-config.yaml, as a user runs it: a real process, the real
// file_storage extension and file exporter, and the export simulator.
package collector

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/collectortest"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator/simtest"
)

const token = "hf_e2e_secret_token_Kx9v"

// collectorBinary is the ocb build; `make test` builds it first.
func collectorBinary(t *testing.T) string {
	bin, err := filepath.Abs(filepath.Join("..", "..", "_build", "otelcol-hfaudit", "otelcol-hfaudit"))
	require.NoError(t, err)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the collector is not built: run `make build` at the repository root (%v)", err)
	}
	return bin
}

// healthGate makes the health check extension report component status.
const healthGate = "--feature-gates=+extension.healthcheck.useComponentStatus"

// startCollector runs the collector with testdata/CONFIG and the health
// check's feature gate, as deploy/ and the examples run it.
func startCollector(t *testing.T, bin, config string, env []string) *collectortest.Collector {
	return collectortest.Start(t, bin, env, "--config", filepath.Join("testdata", config), healthGate)
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// dropCutLine removes a last line that SIGKILL cut short: its batch was not
// acknowledged (the cursor does not cover it), and the restarted collector's
// first line must not be glued to it.
func dropCutLine(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	if end := bytes.LastIndexByte(b, '\n') + 1; end < len(b) {
		t.Logf("dropping %d bytes of a line cut by SIGKILL", len(b)-end)
		require.NoError(t, os.Truncate(path, int64(end)))
	}
}

func uniqueIDs(t *testing.T, path string) int {
	seen := map[string]bool{}
	for _, id := range recordIDs(t, path) {
		seen[id] = true
	}
	return len(seen)
}

// recordIDs reads every complete line of the file exporter's output; a last
// line without its newline is still being written and is left for later.
func recordIDs(t *testing.T, path string) []string {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<30)
	sc.Split(func(data []byte, _ bool) (int, []byte, error) {
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			return i + 1, data[:i], nil
		}
		return 0, nil, nil
	})
	var u plog.JSONUnmarshaler
	for sc.Scan() {
		logs, err := u.UnmarshalLogs(sc.Bytes())
		require.NoError(t, err, "every line of the output is a whole batch")
		for i := 0; i < logs.ResourceLogs().Len(); i++ {
			sls := logs.ResourceLogs().At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					v, _ := lrs.At(k).Attributes().Get("log.record.uid")
					ids = append(ids, v.Str())
				}
			}
		}
	}
	require.NoError(t, sc.Err())
	return ids
}

func TestKillDuringBackfillLosesNothing(t *testing.T) {
	bin := collectorBinary(t)
	// batch_size in testdata/config.yaml.
	const events, batch = 100_000, 200
	sim, url := simtest.Start(t, simulator.Options{Token: token, InitialEvents: events, Seed: 11, NoSelfExport: true, Order: simulator.OrderRandom})

	dir := t.TempDir()
	out := filepath.Join(dir, "events.jsonl")
	require.NoError(t, os.Mkdir(filepath.Join(dir, "state"), 0o700))
	env := []string{"HF_TOKEN=" + token, "HF_ENDPOINT=" + url, "E2E_STATE_DIR=" + filepath.Join(dir, "state"), "E2E_OUT=" + out}

	first := startCollector(t, bin, "config.yaml", env)
	// About 2.2 kB per record: kill after roughly the first 15,000.
	first.WaitFor(t, "the first part of the backfill", time.Millisecond, 5*time.Minute, func() bool { return fileSize(out) >= 32<<20 })
	require.Error(t, first.Kill(t), "SIGKILL ends the collector")
	dropCutLine(t, out)
	beforeKill := len(recordIDs(t, out))
	require.Less(t, beforeKill, events, "the kill must land in the middle of the backfill")
	t.Logf("killed after %d of %d events", beforeKill, events)

	second := startCollector(t, bin, "config.yaml", env)
	second.WaitFor(t, "the rest of the backfill", time.Second, 5*time.Minute, func() bool { return uniqueIDs(t, out) >= events })
	// One more poll: nothing new may arrive.
	time.Sleep(3 * time.Second)
	second.Stop(t)

	ids := recordIDs(t, out)
	seen := map[string]int{}
	for _, id := range ids {
		seen[id]++
	}
	for _, id := range sim.EventIDs() {
		if seen[id] == 0 {
			t.Fatalf("event %s was lost", id)
		}
	}
	duplicates := len(ids) - len(seen)
	t.Logf("emitted %d records for %d events: %d duplicates", len(ids), len(seen), duplicates)
	assert.Equal(t, events, len(seen))
	assert.LessOrEqual(t, duplicates, batch, "at most the batch in flight is emitted twice")
	for _, c := range []*collectortest.Collector{first, second} {
		assert.NotContains(t, c.Output(), token, "the token never appears in the collector's output")
	}
	assert.True(t, strings.Contains(second.Output(), "Resuming from the stored checkpoint"), "the second run resumed from file_storage")
}

// The shipped example configurations are valid for the built collector.
func TestExampleConfigsValidate(t *testing.T) {
	bin := collectorBinary(t)
	env := append(os.Environ(), "HF_TOKEN="+token, "HF_ENDPOINT=http://127.0.0.1:1",
		"HFAUDIT_DEMO_DIR="+t.TempDir(), "CLICKHOUSE_ENDPOINT=http://127.0.0.1:8123")
	examples, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, examples)
	for _, path := range examples {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cmd := exec.Command(bin, "validate", "--config", path, healthGate)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.NotContains(t, string(out), token)
		})
	}
}
