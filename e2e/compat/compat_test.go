// Package compat smoke-tests the receiver in a collector built with the
// newest collector release (compat/builder-config.yaml, `make compat`):
// simulator -> receiver -> debug exporter, every event once, and the cursor
// in file_storage resumed after a restart.
package compat

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/collectortest"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator/simtest"
)

const token = "hf_compat_secret_token_Qm3z"

// The debug exporter's detailed output prints each record's attributes.
var uidLine = regexp.MustCompile(`-> log\.record\.uid: Str\(([^)]*)\)`)

// uids returns the log.record.uid of every record the collector printed.
func uids(c *collectortest.Collector) []string {
	var ids []string
	for _, m := range uidLine.FindAllStringSubmatch(c.Output(), -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// start runs the compatibility collector with testdata/config.yaml.
func start(t *testing.T, bin string, env []string) *collectortest.Collector {
	return collectortest.Start(t, bin, env, "--config", filepath.Join("testdata", "config.yaml"))
}

// waitForUIDs waits until the collector printed n records.
func waitForUIDs(t *testing.T, c *collectortest.Collector, n int) {
	t.Helper()
	c.WaitFor(t, fmt.Sprintf("%d records", n), 200*time.Millisecond, 2*time.Minute, func() bool { return len(uids(c)) >= n })
}

func TestNewestReleaseSmoke(t *testing.T) {
	bin, err := filepath.Abs(filepath.Join("..", "..", "_build", "compat", "otelcol-hfaudit-compat"))
	require.NoError(t, err)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the compatibility collector is not built: run `make compat` at the repository root (%v)", err)
	}
	const initial, added = 300, 40
	sim, url := simtest.Start(t, simulator.Options{Token: token, InitialEvents: initial, Seed: 7, NoSelfExport: true, Order: simulator.OrderRandom})

	state := t.TempDir()
	env := []string{"HF_TOKEN=" + token, "HF_ENDPOINT=" + url, "E2E_STATE_DIR=" + state}

	first := start(t, bin, env)
	waitForUIDs(t, first, initial)
	// Two more polls: nothing new may arrive.
	time.Sleep(2500 * time.Millisecond)
	first.Stop(t)
	assert.ElementsMatch(t, sim.EventIDs(), uids(first), "the first run emits every event of the window once")

	newIDs := sim.Add(added)
	second := start(t, bin, env)
	waitForUIDs(t, second, added)
	time.Sleep(2500 * time.Millisecond)
	second.Stop(t)
	assert.ElementsMatch(t, newIDs, uids(second), "after the restart only the new events: the cursor was resumed from file_storage")

	for _, c := range []*collectortest.Collector{first, second} {
		assert.NotContains(t, c.Output(), token, "the token never appears in the collector's output")
	}
	t.Logf("first run %d records, second run %d records", len(uids(first)), len(uids(second)))
}
