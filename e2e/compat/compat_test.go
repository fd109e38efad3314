// Package compat smoke-tests the receiver in a collector built with the
// newest collector release (compat/builder-config.yaml, `make compat`):
// simulator -> receiver -> debug exporter, every event once, and the cursor
// in file_storage resumed after a restart.
package compat

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator/simtest"
)

const token = "hf_compat_secret_token_Qm3z"

// The debug exporter's detailed output prints each record's attributes.
var uidLine = regexp.MustCompile(`-> log\.record\.uid: Str\(([^)]*)\)`)

// syncBuffer is the collector's output, read while the process writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) uids() []string {
	var ids []string
	for _, m := range uidLine.FindAllStringSubmatch(b.String(), -1) {
		ids = append(ids, m[1])
	}
	return ids
}

type collector struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

func start(t *testing.T, bin string, env []string) *collector {
	cmd := exec.Command(bin, "--config", filepath.Join("testdata", "config.yaml"))
	cmd.Env = append(os.Environ(), env...)
	c := &collector{cmd: cmd, out: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = c.out, c.out
	require.NoError(t, cmd.Start())
	go func() { c.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if err := <-c.done; err != nil {
			t.Logf("the collector stopped: %v", err)
		}
	})
	return c
}

// waitForUIDs waits until the collector printed n records.
func (c *collector) waitForUIDs(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for len(c.out.uids()) < n {
		select {
		case err := <-c.done:
			c.done <- err
			t.Fatalf("the collector exited (%v) with %d of %d records; output:\n%s", err, len(c.out.uids()), n, c.out.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out with %d of %d records; output:\n%s", len(c.out.uids()), n, c.out.String())
		}
	}
}

// stop sends SIGTERM and expects a clean exit.
func (c *collector) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-c.done:
		c.done <- err
		require.NoError(t, err, "a clean shutdown on SIGTERM; output:\n%s", c.out.String())
	case <-time.After(time.Minute):
		t.Fatal("the collector did not stop on SIGTERM")
	}
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
	first.waitForUIDs(t, initial)
	// Two more polls: nothing new may arrive.
	time.Sleep(2500 * time.Millisecond)
	first.stop(t)
	assert.ElementsMatch(t, sim.EventIDs(), first.out.uids(), "the first run emits every event of the window once")

	newIDs := sim.Add(added)
	second := start(t, bin, env)
	second.waitForUIDs(t, added)
	time.Sleep(2500 * time.Millisecond)
	second.stop(t)
	assert.ElementsMatch(t, newIDs, second.out.uids(), "after the restart only the new events: the cursor was resumed from file_storage")

	for _, c := range []*collector{first, second} {
		assert.NotContains(t, c.out.String(), token, "the token never appears in the collector's output")
	}
	t.Logf("first run %d records, second run %d records", len(first.out.uids()), len(second.out.uids()))
}
