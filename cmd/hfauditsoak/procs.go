package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/procstat"
)

// clickHouse is chdbserver on a fixed port with one data folder, stopped and
// started again by the chaos; its tables persist in the folder.
type clickHouse struct {
	bin, lib, data, logPath string
	addr                    string // host:port, fixed after the first start
	cmd                     *exec.Cmd
	done                    chan struct{}
}

func (c *clickHouse) url() string { return "http://" + c.addr }

func (c *clickHouse) start() error {
	listen := c.addr
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	logFile, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	for attempt := 0; ; attempt++ {
		cmd := exec.Command(c.bin, "-listen", listen, "-data", c.data, "-lib", c.lib)
		cmd.Stderr = logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("starting chdbserver: %w", err)
		}
		lines := make(chan string, 1)
		go func() {
			line, _ := bufio.NewReader(stdout).ReadString('\n')
			lines <- line
			_, _ = io.Copy(io.Discard, stdout)
		}()
		var line string
		select {
		case line = <-lines:
		case <-time.After(2 * time.Minute):
		}
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "chdbserver: listening on http://"); ok {
			c.addr, c.cmd, c.done = rest, cmd, make(chan struct{})
			go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(cmd, c.done)
			return nil
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		// The port or the data folder's lock may not be free yet.
		if attempt >= 10 {
			return fmt.Errorf("chdbserver did not start on %s; see %s", listen, c.logPath)
		}
		time.Sleep(time.Second)
	}
}

// stop ends chdbserver with SIGTERM (SIGKILL after 30 s).
func (c *clickHouse) stop() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	c.cmd = nil
}

// collector runs one ocb-built collector under a supervisor that restarts it
// 2 s after it exits, as systemd's Restart=always or a Kubernetes pod would.
type collector struct {
	name, bin, config, logPath, pprofAddr string
	env                                   []string

	mu          sync.Mutex
	cmd         *exec.Cmd
	startedAt   time.Time
	starts      int // processes started
	kills       int // SIGKILLs sent
	otherExits  int // exits the soak did not cause (a start refused while ClickHouse is down)
	exitStreak  int
	stopping    bool
	killPending bool
	exited      chan struct{} // closed when the supervisor has stopped
	wake        chan struct{}
}

func (c *collector) supervise() {
	defer close(c.exited)
	for {
		c.mu.Lock()
		if c.stopping {
			c.mu.Unlock()
			return
		}
		cmd := exec.Command(c.bin, "--config", c.config)
		cmd.Env = c.env
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		logFile, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err == nil {
			cmd.Stdout, cmd.Stderr = logFile, logFile
			err = cmd.Start()
		}
		if err != nil {
			c.mu.Unlock()
			logf("%s: cannot start: %v", c.name, err)
			time.Sleep(2 * time.Second)
			continue
		}
		c.cmd, c.startedAt = cmd, time.Now()
		c.starts++
		c.mu.Unlock()

		err = cmd.Wait()
		logFile.Close()
		c.mu.Lock()
		c.cmd = nil
		killed, stopping := c.killPending, c.stopping
		c.killPending = false
		if !killed && !stopping {
			c.otherExits++
			c.exitStreak++
			if c.exitStreak == 1 {
				logf("%s exited by itself (%v); restarting it every 2 s (last log line: %s)", c.name, err, lastLine(c.logPath))
			}
		} else {
			c.exitStreak = 0
		}
		c.mu.Unlock()
		if stopping {
			return
		}
		select {
		case <-time.After(2 * time.Second):
		case <-c.wake:
		}
	}
}

// kill sends SIGKILL to the running process; it waits up to wait for one
// to be running (a restart may be under way) and reports whether it killed.
func (c *collector) kill(wait time.Duration) (int, bool) {
	deadline := time.Now().Add(wait)
	for {
		c.mu.Lock()
		if c.cmd != nil && time.Since(c.startedAt) > 3*time.Second { // past a start that ClickHouse may refuse
			pid := c.cmd.Process.Pid
			c.killPending = true
			_ = c.cmd.Process.Signal(syscall.SIGKILL)
			c.kills++
			c.mu.Unlock()
			return pid, true
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			return 0, false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop ends the supervisor and the collector with SIGTERM (SIGKILL after a minute).
func (c *collector) stop() error {
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		<-c.exited
		return nil
	}
	c.stopping = true
	cmd := c.cmd
	if cmd != nil {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	c.mu.Unlock()
	close(c.wake)
	select {
	case <-c.exited:
		return nil
	case <-time.After(time.Minute):
		if cmd != nil {
			_ = cmd.Process.Kill()
		}
		<-c.exited
		return errors.New(c.name + " did not stop within a minute of SIGTERM")
	}
}

// sample returns the running process's RSS and goroutine count (-1 when the
// pprof extension is not available), and how long it has been running.
func (c *collector) sample(client *http.Client) (up time.Duration, rss int64, goroutines int, ok bool) {
	c.mu.Lock()
	if c.cmd == nil {
		c.mu.Unlock()
		return 0, 0, 0, false
	}
	pid, up := c.cmd.Process.Pid, time.Since(c.startedAt)
	c.mu.Unlock()
	rss, _ = procstat.StatusKB(pid, "VmRSS")
	if rss <= 0 {
		return 0, 0, 0, false
	}
	goroutines = -1
	if c.pprofAddr != "" {
		goroutines = goroutineCount(client, c.pprofAddr)
	}
	return up, rss, goroutines, true
}

// goroutineCount reads "goroutine profile: total N" from the pprof extension.
func goroutineCount(client *http.Client, addr string) int {
	resp, err := client.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "goroutine profile: total ")))
	if err != nil {
		return -1
	}
	return n
}

func lastLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	last := lines[len(lines)-1]
	if len(last) > 160 {
		last = last[:160] + "..."
	}
	return last
}
