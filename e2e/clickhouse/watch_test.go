package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

// hook is a webhook receiver for the watcher: it keeps every finding POSTed
// to it, and can be down (503) or hold the next request.
type hook struct {
	mu      sync.Mutex
	got     []map[string]any
	down    bool
	hold    chan struct{} // the next request waits for it to close
	holding chan struct{} // closed when a request is held
	fails   int
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	if h.down {
		h.fails++
		h.mu.Unlock()
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	hold := h.hold
	if hold != nil {
		h.hold = nil
		close(h.holding)
	}
	h.mu.Unlock()
	if hold != nil {
		<-hold // the sender may die meanwhile: the finding still arrived
	}
	var f map[string]any
	if err := json.Unmarshal(body, &f); err != nil {
		http.Error(w, "not JSON", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.got = append(h.got, f)
	h.mu.Unlock()
}

func (h *hook) setDown(down bool) { h.mu.Lock(); h.down = down; h.mu.Unlock() }

// received returns how many times each dedup_key arrived, and the findings.
func (h *hook) received() (map[string]int, []map[string]any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := map[string]int{}
	for _, f := range h.got {
		n[f["dedup_key"].(string)]++
	}
	return n, slices.Clone(h.got)
}

// firstOf returns the first finding of detection that cites id ("" any).
func (h *hook) firstOf(detection, id string) map[string]any {
	_, got := h.received()
	for _, f := range got {
		if f["detection"] != detection {
			continue
		}
		if id == "" {
			return f
		}
		for _, e := range f["event_ids"].([]any) {
			if e == id {
				return f
			}
		}
	}
	return nil
}

// startOTLP runs the collector's OTLP receiver (OTLP/HTTP only) into a sink
// and returns its logs URL.
func startOTLP(t *testing.T) (string, *consumertest.LogsSink) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*otlpreceiver.Config)
	cfg.Protocols.GRPC = configoptional.None[configgrpc.ServerConfig]()
	cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.NetAddr.Endpoint = addr
	sink := &consumertest.LogsSink{}
	rcv, err := f.CreateLogs(t.Context(), receivertest.NewNopSettings(f.Type()), cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.Start(t.Context(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rcv.Shutdown(context.Background()) })
	return "http://" + addr + "/v1/logs", sink
}

// otlpKeys counts the findings the OTLP receiver got, by dedup_key.
func otlpKeys(sink *consumertest.LogsSink) map[string]int {
	n := map[string]int{}
	for _, ld := range sink.AllLogs() {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					if v, ok := lr.Attributes().Get("huggingface.finding.dedup_key"); ok {
						n[v.Str()]++
					}
				}
			}
		}
	}
	return n
}

// watchProc is one hfauditdetect -watch process; its log goes to a file.
type watchProc struct {
	cmd *exec.Cmd
	log string
}

// run is one "Detection run" health line.
type run struct {
	detection, from, to string
	findings, fresh     int
}

var runLine = regexp.MustCompile(`msg="Detection run" detection=(\S+) from=(\S+) to=(\S+) findings=(\d+) new=(\d+)`)

func (p *watchProc) text(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(p.log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (p *watchProc) runs(t *testing.T) []run {
	t.Helper()
	var out []run
	for _, m := range runLine.FindAllStringSubmatch(p.text(t), -1) {
		var r run
		r.detection, r.from, r.to = m[1], m[2], m[3]
		r.findings, _ = strconv.Atoi(m[4])
		r.fresh, _ = strconv.Atoi(m[5])
		out = append(out, r)
	}
	return out
}

// TestDetectWatch runs hfauditdetect -watch as a service against events
// that arrive through the receiver, the exporter and the view: the attack
// story (one of its events 50 minutes late), a webhook that goes down, kill
// -9 between a finding's insert and its delivery, during a delivery and
// between runs, and a checkpoint moved back. Every finding reaches the
// webhook once (the one in flight at a kill twice, with the same
// dedup_key), the ranges judged follow each other across restarts, and the
// chain alert fires on the attack, not on the history.
func TestDetectWatch(t *testing.T) {
	const db = "watch"
	const secret = "hook-5ecret-path"
	bin := buildDetect(t)
	exp := newExporter(t, db)
	applySchema(t, db)
	cons := &countingConsumer{next: exp}
	org := simulator.DefaultOrg
	send := func(events ...json.RawMessage) received {
		return ingestReceived(func() { ingest(t, exportServer(t, org, events).URL, org, cons, int64(len(events))) })
	}

	// Three weeks of benign history, vera's included; the attack ends 50
	// minutes ago; its repo.move is held back to arrive late.
	now := time.Now()
	sim, err := simulator.NewBenign(simulator.Options{Seed: 7, InitialEvents: 400, InitialSpan: 21 * 24 * time.Hour, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	attack := sim.InjectAttack(now.Add(-50 * time.Minute))
	// Held back to arrive late: the repo.move, and the SSO disable, the
	// story's first event (the chain alert fires without it, and must not
	// fire again when it arrives).
	moveID, ssoID := attack.Steps[4].EventIDs[0], attack.Steps[0].EventIDs[0]
	inAttack := map[string]bool{}
	for _, id := range attack.EventIDs() {
		inAttack[id] = true
	}
	var history, attackEvents []json.RawMessage
	var late []json.RawMessage
	for _, e := range sim.EventsJSON() {
		var ev struct {
			ID string `json:"_id"`
		}
		_ = json.Unmarshal(e, &ev)
		switch {
		case ev.ID == moveID || ev.ID == ssoID:
			late = append(late, e)
		case inAttack[ev.ID]:
			attackEvents = append(attackEvents, e)
		default:
			history = append(history, e)
		}
	}
	historyReceived := send(history...)

	h := &hook{}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	hookURL := srv.URL + "/hooks/" + secret
	otlpURL, otlpSink := startOTLP(t)
	dsn := strings.Replace(baseURL, "http://", "http://default:"+detectSecret+"@", 1)
	var procs []*watchProc
	start := func() *watchProc {
		t.Helper()
		p := &watchProc{log: filepath.Join(t.TempDir(), fmt.Sprintf("watch-%d.log", len(procs)+1))}
		f, err := os.Create(p.log)
		if err != nil {
			t.Fatal(err)
		}
		p.cmd = exec.Command(bin, "-watch", "-dsn", dsn, "-database", db, "-every", "1s", "-settle", "2s",
			"-initial-lookback", "1h", "-webhook", hookURL, "-otlp", otlpURL)
		p.cmd.Stdout, p.cmd.Stderr = f, f
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		t.Cleanup(func() { _ = p.cmd.Process.Kill(); _, _ = p.cmd.Process.Wait() })
		procs = append(procs, p)
		return p
	}
	kill9 := func(p *watchProc) {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = p.cmd.Wait()
	}
	// judged waits until every detection and alert of p ran past at.
	judged := func(p *watchProc, at time.Time) {
		t.Helper()
		waitFor(t, 3*time.Minute, "runs past "+at.Format(time.RFC3339), func() bool {
			last := map[string]string{}
			for _, r := range p.runs(t) {
				last[r.detection] = r.to
			}
			if len(last) < 25 {
				return false
			}
			for _, to := range last {
				if tt, _ := time.Parse(time.RFC3339, to); tt.Before(at) {
					return false
				}
			}
			return true
		})
	}
	delivered := func(what string, cond func() bool) {
		t.Helper()
		waitFor(t, 2*time.Minute, what, cond)
	}

	// The history is judged: no alert, no finding on vera's history.
	w1 := start()
	judged(w1, historyReceived.to)
	counts, got := h.received()
	for _, f := range got {
		if strings.HasPrefix(f["detection"].(string), "huggingface-alert-") {
			t.Errorf("an alert fired on the benign history: %v", f)
		}
		for _, id := range f["event_ids"].([]any) {
			if slices.Contains(attack.History, id.(string)) {
				t.Errorf("a finding cites vera's ordinary history: %v", f)
			}
		}
	}
	t.Logf("the benign history gave %d findings", len(counts))

	// The attack: its findings, then the chain alert that lists them.
	attackReceived := send(attackEvents...)
	judged(w1, attackReceived.to)
	var chain map[string]any
	delivered("the chain alert", func() bool { chain = h.firstOf("huggingface-alert-attack-chain", ""); return chain != nil })
	if chain["severity"] != "Critical" || chain["actor"] != simulator.AttackActor {
		t.Errorf("chain alert: %v", chain)
	}
	// The alert fires once its four stages are found, so which findings it
	// lists depends on the order the runs found them: one per stage at least.
	if n := len(chain["findings"].([]any)); n < 4 {
		t.Errorf("the chain alert lists %d findings, want one per stage at least: %v", n, chain["findings"])
	}
	delivered("the mass-deletion finding", func() bool {
		return h.firstOf("huggingface-mass-repo-deletion", attack.Steps[5].EventIDs[0]) != nil
	})

	// The repo.move and the SSO disable, over 50 minutes old, reach
	// ClickHouse after the runs passed their time: the next runs report
	// them, and the chain already alerted is not alerted again.
	if h.firstOf("huggingface-repo-moved-out", moveID) != nil || h.firstOf("huggingface-sso-disabled", ssoID) != nil {
		t.Fatal("a held-back event was reported before it arrived")
	}
	lateReceived := send(late...)
	judged(w1, lateReceived.to)
	delivered("the late repo.move", func() bool { return h.firstOf("huggingface-repo-moved-out", moveID) != nil })
	delivered("the late SSO disable", func() bool { return h.firstOf("huggingface-sso-disabled", ssoID) != nil })
	// The alerts over the late findings, then a delivery pass after them.
	judged(w1, time.Now())
	judged(w1, time.Now())
	if _, got := h.received(); countDetection(got, "huggingface-alert-attack-chain") != 1 {
		t.Errorf("the chain alert was sent %d times for one attack", countDetection(got, "huggingface-alert-attack-chain"))
	}

	// The webhook goes down: a new finding is stored, not delivered, and
	// the watcher is killed (kill -9 between the insert and the delivery).
	h.setDown(true)
	t0 := time.Now().Add(-time.Minute)
	ssoAgain := send(hubEvent(1, t0, "org.settings.sso.disable", "mallory", nil))
	judged(w1, ssoAgain.to)
	waitFor(t, time.Minute, "a failed delivery", func() bool { return strings.Contains(w1.text(t), `msg="Delivery failed; retrying"`) })
	kill9(w1)
	// Between runs, with no watcher: another event arrives.
	approval := send(hubEvent(2, t0.Add(10*time.Second), "org.token_approval.disabled", "mallory", nil))

	// The webhook is back, and holds the first finding the next watcher
	// sends: the watcher is killed while it is in flight.
	h.mu.Lock()
	h.down = false
	h.hold, h.holding = make(chan struct{}), make(chan struct{})
	hold, holding := h.hold, h.holding
	h.mu.Unlock()
	w2 := start()
	select {
	case <-holding:
	case <-time.After(2 * time.Minute):
		t.Fatal("the second watcher sent nothing")
	}
	kill9(w2)
	close(hold)

	w3 := start()
	judged(w3, approval.to)
	delivered("the findings of the outage", func() bool {
		return h.firstOf("huggingface-sso-disabled", fmt.Sprintf("6100000000000000%08x", 1)) != nil &&
			h.firstOf("huggingface-token-approval-disabled", fmt.Sprintf("6100000000000000%08x", 2)) != nil
	})

	// An outage over several runs: a finding made meanwhile is delivered
	// when the webhook is back.
	h.setDown(true)
	h.mu.Lock()
	failsBefore := h.fails
	h.mu.Unlock()
	outage := send(hubEvent(3, time.Now().Add(-30*time.Second), "org.settings.security.2fa.disable", "mallory", nil))
	judged(w3, outage.to)
	// Retries while it is down: the watcher delivers once per pass over the
	// pack, so how many fit in a fixed time depends on the pack's size; wait
	// for the second attempt instead.
	waitFor(t, time.Minute, "retries during the outage", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.fails-failsBefore >= 2
	})
	h.setDown(false)
	delivered("the finding of the outage", func() bool {
		return h.firstOf("huggingface-2fa-enforcement-disabled", fmt.Sprintf("6100000000000000%08x", 3)) != nil
	})

	// After a collector crash the same event is inserted again, later: it is
	// judged again, and its finding is a repeat, not a new alert. Before
	// counting, let what the outage's finding set off (the actor's risk
	// alert) be found and delivered: two whole passes over the pack, each
	// followed by a delivery pass.
	settled := func() {
		judged(w3, time.Now())
		judged(w3, time.Now())
	}
	settled()
	h.mu.Lock()
	before := len(h.got)
	h.mu.Unlock()
	dup := send(hubEvent(1, t0, "org.settings.sso.disable", "mallory", nil))
	judged(w3, dup.to)
	settled()
	h.mu.Lock()
	if len(h.got) != before {
		t.Errorf("the event inserted twice was sent again: %v", h.got[before:])
	}
	h.mu.Unlock()

	// SIGTERM: a graceful stop.
	stopGracefully := func(p *watchProc) {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Wait(); err != nil || !strings.Contains(p.text(t), `msg=Stopped`) {
			t.Errorf("SIGTERM: %v\n%s", err, p.text(t))
		}
	}
	stopGracefully(w3)

	// A checkpoint moved back two hours while the watcher is stopped (a
	// running one would write its own over it at the end of its current
	// run): the range is judged again, the findings are the same, nothing
	// is stored or sent twice.
	rewound := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
	query(t, fmt.Sprintf("INSERT INTO %s.huggingface_detection_checkpoints (detection, checkpoint) VALUES ('huggingface-sso-disabled', %d)", db, rewound.Unix()))
	w4 := start()
	waitFor(t, time.Minute, "a run from the rewound checkpoint", func() bool {
		for _, r := range w4.runs(t) {
			if r.detection == "huggingface-sso-disabled" && r.from == rewound.Format(time.RFC3339) {
				if r.findings < 2 || r.fresh != 0 {
					t.Errorf("rewound run: %+v, want the SSO findings again and none new", r)
				}
				return true
			}
		}
		return false
	})
	judged(w4, time.Now().Add(-time.Second))
	judged(w4, time.Now()) // and a delivery pass after it
	stopGracefully(w4)

	// Every finding to notify reached the webhook: once, except the one in
	// flight at the kill (twice, same dedup_key).
	counts, _ = h.received()
	type stored struct {
		DedupKey string `json:"dedup_key"`
		N        int    `json:"n"`
	}
	rows := jsonRows[stored](t, "SELECT dedup_key, count() AS n FROM "+db+".huggingface_findings FINAL WHERE notify GROUP BY dedup_key")
	twice := 0
	for _, r := range rows {
		if r.N != 1 {
			t.Errorf("%s stored %d times", r.DedupKey, r.N)
		}
		switch counts[r.DedupKey] {
		case 1:
		case 2:
			twice++
		default:
			t.Errorf("%s reached the webhook %d times", r.DedupKey, counts[r.DedupKey])
		}
	}
	if len(counts) != len(rows) || twice != 1 {
		t.Errorf("%d findings to notify, %d delivered, %d twice (want exactly the one in flight)", len(rows), len(counts), twice)
	}
	// The OTLP channel, up all along, got every one as a log record.
	otlpGot := otlpKeys(otlpSink)
	for _, r := range rows {
		if n := otlpGot[r.DedupKey]; n < 1 || n > 2 {
			t.Errorf("%s reached the OTLP receiver %d times", r.DedupKey, n)
		}
	}
	if len(otlpGot) != len(rows) {
		t.Errorf("the OTLP receiver got %d findings, want the %d to notify", len(otlpGot), len(rows))
	}

	// The ranges judged follow each other across the kills: no event judged
	// twice, none skipped (the rewound detection aside).
	last := map[string]string{}
	for _, p := range procs {
		for _, r := range p.runs(t) {
			if prev, ok := last[r.detection]; ok && prev != r.from && r.from != rewound.Format(time.RFC3339) {
				t.Errorf("%s: a run from %s after one to %s", r.detection, r.from, prev)
			}
			last[r.detection] = r.to
		}
	}
	for _, p := range procs {
		if txt := p.text(t); strings.Contains(txt, secret) || strings.Contains(txt, detectSecret) {
			t.Errorf("a secret is in the watcher's log:\n%s", txt)
		}
		if txt := p.text(t); strings.Contains(txt, "given-up findings failed") {
			t.Errorf("the given-up query failed:\n%s", txt)
		}
	}
	t.Logf("%d findings delivered; the last watcher's log:\n%s", len(counts), tail(w4.text(t), 15))
}

// countDetection counts the findings of detection among got.
func countDetection(got []map[string]any, detection string) int {
	n := 0
	for _, f := range got {
		if f["detection"] == detection {
			n++
		}
	}
	return n
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
