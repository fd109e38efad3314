// Package collectortest runs a built collector distribution as a child
// process of a test, for the end-to-end modules under e2e/ (the ocb build
// of builder-config.yaml and the compatibility build of `make compat`).
package collectortest // import "github.com/hfauditlog/huggingfaceauditreceiver/internal/collectortest"

import (
	"bytes"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Collector is a running collector process and its combined output.
type Collector struct {
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, set before done is closed
}

// Start runs bin with args and the test's environment plus env; the process
// is killed when the test ends.
func Start(t testing.TB, bin string, env []string, args ...string) *Collector {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	c := &Collector{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &c.out, &c.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the collector: %v", err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.done
		if c.err != nil {
			t.Logf("the collector stopped: %v", c.err)
		}
	})
	return c
}

// Output is what the collector has written to stdout and stderr so far.
func (c *Collector) Output() string { return c.out.String() }

// WaitFor checks cond every interval until it holds; the test fails if the
// collector exits or time runs out first.
func (c *Collector) WaitFor(t testing.TB, what string, interval, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		select {
		case <-c.done:
			t.Fatalf("the collector exited (%v) while waiting for %s; output:\n%s", c.err, what, c.Output())
		case <-time.After(interval):
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; output:\n%s", what, c.Output())
		}
	}
}

// Kill sends SIGKILL and returns the process's exit error once it is gone.
func (c *Collector) Kill(t testing.TB) error {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL: %v", err)
	}
	<-c.done
	return c.err
}

// Stop sends SIGTERM; the test fails unless the collector exits cleanly
// within a minute.
func (c *Collector) Stop(t testing.TB) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-c.done:
		if c.err != nil {
			t.Fatalf("a clean shutdown on SIGTERM, got %v; output:\n%s", c.err, c.Output())
		}
	case <-time.After(time.Minute):
		t.Fatal("the collector did not stop on SIGTERM")
	}
}

// syncBuffer is the process's output, read while the process writes it.
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
