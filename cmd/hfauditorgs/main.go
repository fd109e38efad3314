// Command hfauditorgs measures one ocb-built collector running many
// huggingfaceaudit receivers at once, each backfilling its own organization
// from the local simulator, and checks that every event arrives exactly once
// per organization.
//
//	go run ./cmd/hfauditorgs -orgs 1,10,50 -events 20000 [-gzip]
//	go run ./cmd/hfauditorgs -orgs 1 -events 100000      # single-backfill peak RSS vs body
//	go run ./cmd/hfauditorgs -peer _build/peer/otelcol-peer -collector _build/bench/otelcol-hfaudit-bench
//	                                                     # the backfill against filelog + json_parser (make peer, peer.go)
//
// For each organization count it starts the simulator (one organization per
// receiver, all in this process), an OTLP/HTTP sink (this process), and the
// collector with one receiver per organization and the otlphttp exporter
// pointing at the sink (no sending queue, so the receivers' batches are
// exported before they return). Every receiver polls once, at start, all
// at the same time. Once every event has arrived (or -timeout passed) it
// reads the collector's CPU time (/proc/PID/stat, user+system) and peak RSS
// (VmHWM in /proc/PID/status), stops it, and checks each organization's
// records against the events its simulator served: none lost, none
// duplicated, none foreign. It prints one line per run and exits 1 on any
// loss, duplicate or foreign record.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
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

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/procstat"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

type options struct {
	collector string
	orgs      []int
	events    int
	gzip      bool
	exporter  string
	steady    int
	// The -peer mode (peer.go).
	peer     string
	baseline string
	rounds   int
	profile  bool
	idle     time.Duration
	timeout  time.Duration
	sets     []string
	keep     bool
	// Bounds checked after each run (0: not checked).
	maxRSS        int64   // peak RSS, bytes
	maxRSSPerBody float64 // peak RSS over one organization's body
}

func main() {
	var o options
	var orgs string
	flag.StringVar(&o.collector, "collector", "_build/otelcol-hfaudit/otelcol-hfaudit", "the ocb-built collector (make build)")
	flag.StringVar(&orgs, "orgs", "1,10,50", "comma-separated organization counts, one run each")
	flag.IntVar(&o.events, "events", 20000, "events in each organization's export window")
	flag.BoolVar(&o.gzip, "gzip", false, "the simulator serves the export gzip-compressed (the receiver asks for it)")
	flag.StringVar(&o.exporter, "exporter", "otlphttp", "otlphttp (to a sink in this process) or file (JSON lines in the run directory, read back)")
	flag.IntVar(&o.steady, "steady", 0, "after the backfill, measure this many more polls per organization (poll_interval 3s), which find nothing new but their own export event")
	flag.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up on a run after this long")
	flag.Func("set", "extra receiver setting key=value (YAML value), repeatable, e.g. -set max_concurrent_polls=4", func(s string) error {
		if !strings.Contains(s, "=") {
			return errors.New("want key=value")
		}
		o.sets = append(o.sets, s)
		return nil
	})
	flag.BoolVar(&o.keep, "keep", false, "keep the run directory (config, collector log)")
	flag.StringVar(&o.peer, "peer", "", "compare one organization's backfill with this filelog + json_parser collector (make peer builds it) instead of the organization runs")
	flag.StringVar(&o.baseline, "baseline", "", "-peer: also measure this receiver-side collector (an older build) in each round, next to the receiver")
	flag.IntVar(&o.rounds, "rounds", 3, "-peer: rounds of a receiver run and a peer run; every other round runs them in the reverse order")
	flag.DurationVar(&o.idle, "idle", 0, "-peer -steady 0: after the backfill, measure the receiver's collector for this long with nothing to do (the CPU a steady poll's figure holds besides the poll)")
	flag.BoolVar(&o.profile, "profile", false, "-peer: save the receiver collector's CPU profile (pprof extension) in the run directory (use with -keep)")
	maxRSS := flag.Int64("max-rss", 0, "fail a run whose collector peaks above this RSS, in MiB (0: no bound)")
	flag.Float64Var(&o.maxRSSPerBody, "max-rss-per-body", 0, "fail a run whose collector peaks above this multiple of one organization's export body (0: no bound)")
	flag.Parse()
	o.maxRSS = *maxRSS << 20
	if o.exporter != "otlphttp" && o.exporter != "file" {
		fmt.Fprintf(os.Stderr, "hfauditorgs: -exporter %q: want otlphttp or file\n", o.exporter)
		os.Exit(2)
	}
	for _, f := range strings.Split(orgs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 999 {
			fmt.Fprintf(os.Stderr, "hfauditorgs: -orgs: %q is not a count between 1 and 999\n", f)
			os.Exit(2)
		}
		o.orgs = append(o.orgs, n)
	}
	if _, err := os.Stat(o.collector); err != nil {
		fmt.Fprintf(os.Stderr, "hfauditorgs: %v (build it with make build)\n", err)
		os.Exit(2)
	}
	if o.idle > 0 && (o.peer == "" || o.steady > 0) {
		fmt.Fprintln(os.Stderr, "hfauditorgs: -idle needs -peer and -steady 0 (steady polls would run in the idle time)")
		os.Exit(2)
	}
	if o.peer != "" {
		if err := runPeerComparison(o); err != nil {
			fmt.Fprintf(os.Stderr, "hfauditorgs: %v\n", err)
			os.Exit(1)
		}
		return
	}
	fmt.Printf("%-5s %-9s %-10s %-9s %-9s %-8s %-12s %-10s %s\n", "orgs", "events", "body/org", "encoding", "deliver", "cpu-s", "peak-rss", "rss/body", "verdict")
	failed := false
	for _, n := range o.orgs {
		res, err := run(o, n)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hfauditorgs: %d organizations: %v\n", n, err)
			os.Exit(1)
		}
		fmt.Println(res.line())
		if res.steadyPolls > 0 {
			fmt.Println(res.steadyLine())
		}
		for _, p := range res.problems {
			fmt.Println("  " + p)
		}
		failed = failed || len(res.problems) > 0
	}
	if failed {
		os.Exit(1)
	}
}

type result struct {
	orgs, events int
	bodyBytes    int64 // one organization's export body, uncompressed
	encoding     string
	deliver      time.Duration
	cpu          time.Duration
	steadyPolls  int
	steadyCPU    time.Duration // CPU of the steady polls, all organizations
	peakRSS      int64         // bytes
	problems     []string
}

func (r result) line() string {
	verdict := "ok: every event once per organization"
	if len(r.problems) > 0 {
		verdict = fmt.Sprintf("FAIL (%d problems)", len(r.problems))
	}
	return fmt.Sprintf("%-5d %-9d %-10s %-9s %-9s %-8.2f %-12s %-10.2f %s",
		r.orgs, r.orgs*r.events, mib(r.bodyBytes), r.encoding, r.deliver.Round(100*time.Millisecond), r.cpu.Seconds(),
		mib(r.peakRSS), float64(r.peakRSS)/float64(r.bodyBytes), verdict)
}

func (r result) steadyLine() string {
	return fmt.Sprintf("  then %d polls with nothing new (%s): %.1f ms CPU per poll per organization, window %d events, %s",
		r.steadyPolls, r.encoding, float64(r.steadyCPU.Microseconds())/1000/float64(r.steadyPolls), r.events, mib(r.bodyBytes))
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// sink is the OTLP/HTTP endpoint the collector exports to: it counts each
// record's log.record.uid per organization.
type sink struct {
	mu      sync.Mutex
	counts  map[string]map[string]int
	total   int
	badBody int
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	req := plogotlp.NewExportRequest()
	if err == nil {
		err = req.UnmarshalProto(body)
	}
	if err != nil {
		s.mu.Lock()
		s.badBody++
		s.mu.Unlock()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.add(req.Logs())
	resp, _ := plogotlp.NewExportResponse().MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

// add counts the records of logs.
func (s *sink) add(logs plog.Logs) {
	s.mu.Lock()
	for i := range logs.ResourceLogs().Len() {
		rl := logs.ResourceLogs().At(i)
		org := ""
		if v, ok := rl.Resource().Attributes().Get("huggingface.organization"); ok {
			org = v.Str()
		}
		m := s.counts[org]
		if m == nil {
			m = map[string]int{}
			s.counts[org] = m
		}
		for j := range rl.ScopeLogs().Len() {
			recs := rl.ScopeLogs().At(j).LogRecords()
			for k := range recs.Len() {
				id := ""
				if v, ok := recs.At(k).Attributes().Get("log.record.uid"); ok {
					id = v.Str()
				}
				m[id]++
				s.total++
			}
		}
	}
	s.mu.Unlock()
}

// fileReader reads the file exporter's output as it grows, one JSON line
// (an export request) at a time, into the sink.
type fileReader struct {
	path    string
	f       *os.File
	partial []byte
}

func (fr *fileReader) poll(sk *sink) error {
	if fr.f == nil {
		f, err := os.Open(fr.path)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		fr.f = f
	}
	chunk, err := io.ReadAll(fr.f)
	if err != nil {
		return err
	}
	data := append(fr.partial, chunk...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		logs, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(data[:i])
		if err != nil {
			sk.mu.Lock()
			sk.badBody++
			sk.mu.Unlock()
		} else {
			sk.add(logs)
		}
		data = data[i+1:]
	}
	fr.partial = append([]byte(nil), data...)
	return nil
}

func (fr *fileReader) close() {
	if fr.f != nil {
		fr.f.Close()
	}
}

func (s *sink) delivered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

func orgName(i int) string { return fmt.Sprintf("org-%03d", i+1) }

func run(o options, n int) (result, error) {
	res := result{orgs: n, events: o.events, encoding: "identity"}
	if o.gzip {
		res.encoding = "gzip"
	}
	dir, err := os.MkdirTemp("", "hfauditorgs-")
	if err != nil {
		return res, err
	}
	if o.keep {
		fmt.Fprintf(os.Stderr, "hfauditorgs: run directory %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	// The Hub: one simulator per organization behind one listener.
	sims := map[string]*simulator.Server{}
	want := map[string][]string{}
	for i := range n {
		sim, err := simulator.New(simulator.Options{Org: orgName(i), InitialEvents: o.events, Seed: int64(i + 1), BurstSize: 3, Gzip: o.gzip})
		if err != nil {
			return res, err
		}
		defer sim.Close()
		sims[orgName(i)] = sim
		want[orgName(i)] = sim.EventIDs()
	}
	res.bodyBytes = bodySize(sims[orgName(0)])
	hub := http.NewServeMux()
	hub.HandleFunc("/api/organizations/{org}/", func(w http.ResponseWriter, r *http.Request) {
		if sim, ok := sims[r.PathValue("org")]; ok {
			sim.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	})
	hub.Handle("/api/whoami-v2", sims[orgName(0)])
	hubURL, stopHub, err := serve(hub)
	if err != nil {
		return res, err
	}
	defer stopHub()

	sk := &sink{counts: map[string]map[string]int{}}
	sinkURL, stopSink, err := serve(sk)
	if err != nil {
		return res, err
	}
	defer stopSink()

	cfgPath := filepath.Join(dir, "config.yaml")
	fr := &fileReader{path: filepath.Join(dir, "records.jsonl")}
	defer fr.close()
	if err := writeConfig(cfgPath, o, n, hubURL, sinkURL, fr.path); err != nil {
		return res, err
	}
	start := time.Now()
	p, err := startCollector(o.collector, cfgPath, filepath.Join(dir, "collector.log"))
	if err != nil {
		return res, err
	}
	defer p.stop()

	total := n * o.events
	deadline := time.Now().Add(o.timeout)
	for sk.delivered() < total {
		if o.exporter == "file" {
			if err := fr.poll(sk); err != nil {
				return res, err
			}
		}
		select {
		case <-p.exited:
			return res, fmt.Errorf("after %d of %d records, %w", sk.delivered(), total, p.exitErr())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop() // the log then ends with what the collector said on its way out
			return res, fmt.Errorf("timed out after %s with %d of %d records:\n%s", o.timeout, sk.delivered(), total, p.logTail())
		}
	}
	res.deliver = time.Since(start)
	// A moment for anything sent twice to arrive, then the collector's
	// own figures before it shuts down.
	time.Sleep(time.Second)
	res.cpu, err = procstat.CPUTime(p.pid)
	if err != nil {
		return res, err
	}
	res.peakRSS, err = procstat.StatusKB(p.pid, "VmHWM")
	if err != nil {
		return res, err
	}
	if o.steady > 0 {
		// Each receiver polls one at a time: once every organization's
		// simulator has seen steady+1 more calls, the steady polls between
		// are complete.
		calls := func() int {
			c := 0
			for _, sim := range sims {
				c += sim.Calls()
			}
			return c
		}
		calls0 := calls()
		for calls() < calls0+(o.steady+1)*n {
			if time.Now().After(deadline) {
				return res, fmt.Errorf("timed out waiting for %d steady polls", o.steady)
			}
			time.Sleep(20 * time.Millisecond)
		}
		cpu1, err := procstat.CPUTime(p.pid)
		if err != nil {
			return res, err
		}
		res.steadyPolls, res.steadyCPU = o.steady*n, cpu1-res.cpu
	}
	// Stopped before the counts are read: nothing more may arrive.
	p.stop()
	if o.maxRSS > 0 && res.peakRSS > o.maxRSS {
		res.problems = append(res.problems, fmt.Sprintf("peak RSS %s is above the bound of %s", mib(res.peakRSS), mib(o.maxRSS)))
	}
	if o.maxRSSPerBody > 0 && float64(res.peakRSS) > o.maxRSSPerBody*float64(res.bodyBytes) {
		res.problems = append(res.problems, fmt.Sprintf("peak RSS %s is above %.1f× the body (%s)", mib(res.peakRSS), o.maxRSSPerBody, mib(res.bodyBytes)))
	}

	sk.mu.Lock()
	defer sk.mu.Unlock()
	if sk.badBody > 0 {
		res.problems = append(res.problems, fmt.Sprintf("%d OTLP requests could not be decoded", sk.badBody))
	}
	for org, ids := range want {
		got := sk.counts[org]
		lost, dups := 0, 0
		for _, id := range ids {
			switch c := got[id]; {
			case c == 0:
				lost++
			case c > 1:
				dups += c - 1
			}
		}
		if lost > 0 || dups > 0 {
			res.problems = append(res.problems, fmt.Sprintf("%s: %d lost, %d duplicated of %d", org, lost, dups, len(ids)))
		}
	}
	// Served: the initial window, plus the export events each call wrote
	// (served only if a receiver called again; the oldest events fall off).
	wantSet := map[string]map[string]bool{}
	for org, sim := range sims {
		wantSet[org] = map[string]bool{}
		for _, id := range append(want[org], sim.EventIDs()...) {
			wantSet[org][id] = true
		}
	}
	for org, got := range sk.counts {
		foreign := 0
		for id := range got {
			if !wantSet[org][id] {
				foreign++
			}
		}
		if foreign > 0 {
			res.problems = append(res.problems, fmt.Sprintf("%q: %d records that its simulator never served", org, foreign))
		}
	}
	return res, nil
}

// bodySize is the length of the simulator's export body (a JSON array of
// its events, as it serves them).
func bodySize(sim *simulator.Server) int64 {
	var n int64 = 2
	for i, e := range sim.EventsJSON() {
		if i > 0 {
			n++
		}
		n += int64(len(e))
	}
	return n
}

func writeConfig(path string, o options, n int, hubURL, sinkURL, filePath string) error {
	pollInterval := "1h" // one poll each: the backfill
	if o.steady > 0 {
		pollInterval = "3s"
	}
	receivers := map[string]any{}
	var names []string
	for i := range n {
		r := map[string]any{
			"organization":  orgName(i),
			"token":         "${env:HF_TOKEN}",
			"endpoint":      hubURL,
			"poll_interval": pollInterval,
		}
		for _, kv := range o.sets {
			k, v, _ := strings.Cut(kv, "=")
			var val any = v
			if json.Unmarshal([]byte(v), &val) != nil {
				val = v
			}
			r[k] = val
		}
		name := "huggingfaceaudit/" + orgName(i)
		receivers[name] = r
		names = append(names, name)
	}
	cfg := map[string]any{
		"receivers": receivers,
		"exporters": map[string]any{
			// Rotation set: the file exporter writes through instead of
			// buffering for flush_interval.
			"file": map[string]any{"path": filePath, "rotation": map[string]any{"max_megabytes": 100000}},
			"otlphttp": map[string]any{
				"endpoint":         sinkURL,
				"compression":      "none",
				"sending_queue":    map[string]any{"enabled": false},
				"retry_on_failure": map[string]any{"enabled": true, "max_elapsed_time": 0},
			},
		},
		"service": map[string]any{
			"pipelines": map[string]any{"logs": map[string]any{"receivers": names, "exporters": []string{o.exporter}}},
			"telemetry": map[string]any{"metrics": map[string]any{"level": "none"}, "logs": map[string]any{"level": "warn"}},
		},
	}
	b, err := json.MarshalIndent(cfg, "", "  ") // JSON is YAML
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// measuredProcess is a collector being measured.
type measuredProcess struct {
	proc    *os.Process
	pid     int
	log     string // its stdout and stderr
	exited  chan struct{}
	waitErr error // how it exited, once exited is closed
}

// startCollector starts bin with the configuration at cfgPath, its output
// in logPath.
func startCollector(bin, cfgPath, logPath string) (*measuredProcess, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "HF_TOKEN="+simulator.DefaultToken)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &measuredProcess{proc: cmd.Process, pid: cmd.Process.Pid, log: logPath, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	return p, nil
}

// stop ends the collector with SIGTERM (so the pprof extension writes its
// profile) and waits for it, killing it after 30 s. Once it has exited,
// stop returns at once.
func (p *measuredProcess) stop() {
	_ = p.proc.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.proc.Kill()
		<-p.exited
	}
}

// exitErr says when the collector has exited before it was stopped: a
// configuration it refused, a crash. Nothing is left to wait for then. The
// error ends with the log's last lines.
func (p *measuredProcess) exitErr() error {
	select {
	case <-p.exited:
		return fmt.Errorf("the collector exited early (%v; log: %s):\n%s", p.waitErr, p.log, p.logTail())
	default:
		return nil
	}
}

// logTail is the last 40 lines of the collector's log.
func (p *measuredProcess) logTail() string {
	b, _ := os.ReadFile(p.log)
	l := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(l[max(0, len(l)-40):], "\n")
}
