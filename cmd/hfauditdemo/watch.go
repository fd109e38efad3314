package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hfauditlog/huggingfaceauditreceiver/clickhouse"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

// notifications is the demo's webhook receiver: it prints each finding as
// it arrives, next to the step of the attack its events belong to.
type notifications struct {
	mu     sync.Mutex
	stepOf map[string]int
	steps  []simulator.AttackStep
	keys   map[string]int
	chain  bool
}

func (n *notifications) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var f struct {
		Detection string   `json:"detection"`
		Severity  string   `json:"severity"`
		Actor     string   `json:"actor"`
		EventIDs  []string `json:"event_ids"`
		Findings  []string `json:"findings"`
		DedupKey  string   `json:"dedup_key"`
	}
	if err := json.Unmarshal(body, &f); err != nil {
		http.Error(w, "not JSON", http.StatusBadRequest)
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.keys[f.DedupKey]++
	repeat := ""
	if n.keys[f.DedupKey] > 1 {
		repeat = " (a repeat)"
	}
	what := fmt.Sprintf("%d event(s)", len(f.EventIDs))
	if len(f.Findings) > 0 {
		what = fmt.Sprintf("lists %d findings", len(f.Findings))
	}
	first := -1
	for _, id := range f.EventIDs {
		if i, ok := n.stepOf[id]; ok && (first < 0 || i < first) {
			first = i
		}
	}
	story := ""
	if first >= 0 && len(f.Findings) == 0 {
		story = fmt.Sprintf("  step %d: %s", first+1, n.steps[first].What)
	}
	fmt.Printf("  %-10s %-42s actor=%-8s %s%s%s\n", "["+f.Severity+"]", f.Detection, f.Actor, what, story, repeat)
	if f.Detection == "huggingface-alert-attack-chain" {
		n.chain = true
	}
}

func (n *notifications) count() (total int, chain bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.keys {
		total += c
	}
	return total, n.chain
}

// process is a background command with its log file.
type process struct {
	cmd    *exec.Cmd
	exited chan error
}

func startProcess(bin string, args, env []string, logPath string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	p := &process{cmd: cmd, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait(); logFile.Close() }()
	return p, nil
}

// stop sends SIGTERM and waits for a clean exit.
func (p *process) stop(name string) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil {
			return fmt.Errorf("%s did not stop cleanly: %w", name, err)
		}
		return nil
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("%s did not stop on SIGTERM", name)
	}
}

// The watcher's -settle and -initial-lookback in the demo.
const (
	settle          = 2 * time.Second
	initialLookback = 5 * time.Second
)

// waitReceivedBefore waits, on ClickHouse's clock, until every row of
// huggingface_logs was received at least age ago.
func waitReceivedBefore(chURL string, age time.Duration) error {
	text, err := query(chURL, "SELECT toUnixTimestamp(max(receivedAt)) - toUnixTimestamp(now()) FROM huggingface_logs FORMAT TSV")
	if err != nil {
		return err
	}
	ago, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil {
		return fmt.Errorf("the last receivedAt: %q", text)
	}
	if wait := age + time.Duration(ago)*time.Second; wait > 0 {
		time.Sleep(wait)
	}
	return nil
}

// watch runs hfauditdetect -watch next to the collector with a local
// webhook, injects the attack into the Hub, prints the notifications as
// they arrive (the chain alert last), then restarts the watcher to show
// that nothing is sent twice. It returns the attack it injected.
func watch(dir, chURL, collector string, env []string, sim *simulator.Server) (simulator.Attack, time.Time, error) {
	var none simulator.Attack
	if err := clickhouse.ApplyFindings(context.Background(), clickhouse.Target{DSN: chURL}, clickhouse.Options{}, nil); err != nil {
		return none, time.Time{}, err
	}
	bin, err := buildDetect(dir)
	if err != nil {
		return none, time.Time{}, err
	}
	hook := &notifications{keys: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return none, time.Time{}, err
	}
	srv := &http.Server{Handler: hook, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	hookURL := "http://" + ln.Addr().String() + "/findings"

	// The watcher's first run judges the -initial-lookback before now -
	// settle. Start it once the demo's history (the collector's runs, and
	// huggingface_logs filled from otel_logs when the schema was applied)
	// is older than that, so the notifications are the attack's.
	if err := waitReceivedBefore(chURL, initialLookback+settle+time.Second); err != nil {
		return none, time.Time{}, err
	}
	collectorLog := filepath.Join(dir, "collector.log")
	col, err := startProcess(collector, []string{"--config", "examples/demo.yaml"}, env, collectorLog)
	if err != nil {
		return none, time.Time{}, err
	}
	defer func() { _ = col.stop("the collector") }()
	watchLog := filepath.Join(dir, "watcher.log")
	args := []string{"-watch", "-dsn", chURL, "-database", "otel", "-every", "2s", "-settle", settle.String(),
		"-initial-lookback", initialLookback.String(), "-webhook", hookURL}
	step("Continuous detection: hfauditdetect %s (log: %s), the collector running (run 3)", strings.Join(args, " "), watchLog)
	fmt.Println("  every 2 s each detection judges what reached ClickHouse since its checkpoint; new findings go to the webhook")
	w, err := startProcess(bin, args, os.Environ(), watchLog)
	if err != nil {
		return none, time.Time{}, err
	}
	time.Sleep(3 * time.Second) // its first runs

	injected := time.Now().Add(-time.Second)
	attack := sim.InjectAttackSteps(time.Time{})
	hook.mu.Lock()
	hook.steps, hook.stepOf = attack.Steps, map[string]int{}
	for i, st := range attack.Steps {
		for _, id := range st.EventIDs {
			hook.stepOf[id] = i
		}
	}
	hook.mu.Unlock()
	step("The attack happens now: %d events in the Hub's log; the notifications as the webhook receives them", len(attack.EventIDs()))
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, chain := hook.count(); chain {
			break
		}
		if time.Now().After(deadline) {
			_ = w.stop("the watcher")
			return none, time.Time{}, fmt.Errorf("no chain alert within 2 minutes; see %s", watchLog)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(4 * time.Second) // stragglers
	if err := w.stop("the watcher"); err != nil {
		return none, time.Time{}, err
	}
	before, _ := hook.count()

	step("The watcher restarts: its checkpoints and deliveries are in ClickHouse")
	w, err = startProcess(bin, args, os.Environ(), watchLog)
	if err != nil {
		return none, time.Time{}, err
	}
	time.Sleep(8 * time.Second)
	if err := w.stop("the watcher"); err != nil {
		return none, time.Time{}, err
	}
	after, _ := hook.count()
	fmt.Printf("  %d notifications before the restart, %d sent again after it\n", before, after-before)
	if after != before {
		return none, time.Time{}, errors.New("the restarted watcher sent findings again")
	}
	return attack, injected, nil
}
