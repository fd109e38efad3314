package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/clickhouseexporter"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// One chDB engine per process: every test shares the server TestMain starts.
var baseURL string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chdbserver-test-")
	if err != nil {
		panic(err)
	}
	lib, err := findLib("")
	if err != nil {
		// Skipped on a bare checkout; in CI (which installs it) a failure.
		fmt.Fprintln(os.Stderr, "SKIP: ", err)
		if os.Getenv("CI") != "" {
			os.Exit(1)
		}
		os.Exit(0)
	}
	srv, err := Start(lib, dir, "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	baseURL = "http://" + srv.Addr()
	code := m.Run()
	srv.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// httpQuery POSTs sql and returns status and body.
func httpQuery(t testing.TB, sql string) (int, string) {
	t.Helper()
	resp, err := http.Post(baseURL+"/", "text/plain", strings.NewReader(sql))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func mustQuery(t testing.TB, sql string) string {
	t.Helper()
	code, body := httpQuery(t, sql)
	if code != 200 {
		t.Fatalf("%s: HTTP %d: %s", sql, code, body)
	}
	return body
}

func TestPlainQueries(t *testing.T) {
	resp, err := http.Get(baseURL + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "Ok.\n" {
		t.Fatalf("ping: %q", b)
	}

	resp, err = http.Get(baseURL + "/?query=" + url.QueryEscape("SELECT number * 2 FROM numbers(3)"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "0\n2\n4\n" {
		t.Fatalf("GET: %d %q", resp.StatusCode, b)
	}

	if got := mustQuery(t, "SELECT 'a' AS s, 42 AS n FORMAT JSONEachRow"); got != "{\"s\":\"a\",\"n\":42}\n" {
		t.Fatalf("POST JSONEachRow: %q", got)
	}

	// Query parameters, as clickhouse-go and curl send them.
	resp, err = http.Post(baseURL+"/?param_x=41", "text/plain", strings.NewReader("SELECT {x:UInt8} + 1"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "42\n" {
		t.Fatalf("params: %d %q", resp.StatusCode, b)
	}

	code, body := httpQuery(t, "SELEC 1")
	if code != 500 || !strings.HasPrefix(body, "Code: 62. DB::Exception:") || !strings.Contains(body, "SYNTAX_ERROR") {
		t.Fatalf("bad query: %d %q", code, body)
	}
	code, body = httpQuery(t, "SELECT * FROM no_such_db.no_such_table")
	if code != 500 || !strings.HasPrefix(body, "Code: 81. DB::Exception:") {
		t.Fatalf("unknown db: %d %q", code, body)
	}
}

// newExporter builds the real contrib clickhouseexporter against the server.
func newExporter(t testing.TB, compress string) exporter.Logs {
	t.Helper()
	f := clickhouseexporter.NewFactory()
	cfg := f.CreateDefaultConfig().(*clickhouseexporter.Config)
	cfg.Endpoint = baseURL + "?dial_timeout=5s"
	cfg.Database = "otel"
	cfg.CreateSchema = true
	cfg.Compress = compress
	cfg.AsyncInsert = false
	cfg.BackOffConfig.Enabled = false
	cfg.QueueSettings = configoptional.None[exporterhelper.QueueBatchConfig]()
	cfg.TimeoutSettings.Timeout = 2 * time.Minute
	exp, err := f.CreateLogs(context.Background(), exportertest.NewNopSettings(f.Type()), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	return exp
}

// makeLogs builds n records; extra adds that many more string attributes each.
func makeLogs(n, extra int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "hf-audit")
	rl.Resource().Attributes().PutInt("host.cpus", 2)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("chdbserver-test")
	now := time.Now()
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Duration(i) * time.Millisecond)))
		lr.SetSeverityText("INFO")
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.Body().SetStr(fmt.Sprintf("audit event %d", i))
		a := lr.Attributes()
		a.PutStr("str", "value")
		a.PutInt("int", 7)
		a.PutBool("bool", true)
		m := a.PutEmptyMap("map")
		m.PutStr("k", "v")
		s := a.PutEmptySlice("slice")
		s.AppendEmpty().SetStr("a")
		s.AppendEmpty().SetInt(1)
		for j := range extra {
			a.PutStr(fmt.Sprintf("attr.%02d", j), fmt.Sprintf("value-%d-%d", i%1000, j))
		}
	}
	return ld
}

func TestExporter(t *testing.T) {
	// Every value clickhouseexporter's `compress` accepts ("true" and "" mean lz4),
	// plus lz4hc, which clickhouse-go also accepts.
	for _, compress := range []string{"none", "lz4", "lz4hc", "zstd", "gzip", "deflate", "br", "true", ""} {
		t.Run("compress="+compress, func(t *testing.T) {
			mustQuery(t, "DROP TABLE IF EXISTS otel.otel_logs")
			exp := newExporter(t, compress)
			for range 2 {
				if err := exp.ConsumeLogs(context.Background(), makeLogs(3, 0)); err != nil {
					t.Fatalf("ConsumeLogs: %v", err)
				}
			}
			got := mustQuery(t, "SELECT count(), any(LogAttributes) FROM otel.otel_logs FORMAT JSONEachRow")
			var row struct {
				Count json.Number       `json:"count()"`
				Attrs map[string]string `json:"any(LogAttributes)"`
			}
			if err := json.Unmarshal([]byte(got), &row); err != nil {
				t.Fatalf("%v: %q", err, got)
			}
			want := map[string]string{"str": "value", "int": "7", "bool": "true", "map": `{"k":"v"}`, "slice": `["a",1]`}
			if row.Count != "6" || fmt.Sprint(row.Attrs) != fmt.Sprint(want) {
				t.Fatalf("got %q, want count 6 and %v", got, want)
			}
			res := mustQuery(t, "SELECT ResourceAttributes['service.name'], ResourceAttributes['host.cpus'], ServiceName, Body FROM otel.otel_logs ORDER BY Timestamp LIMIT 1")
			if res != "hf-audit\t2\thf-audit\taudit event 0\n" {
				t.Fatalf("resource attributes: %q", res)
			}
		})
	}
}

// TestInsertRate pushes 100,000 records with 30 attributes each through the
// exporter and logs the rate (no assertion on speed).
func TestInsertRate(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	mustQuery(t, "DROP TABLE IF EXISTS otel.otel_logs")
	exp := newExporter(t, "lz4")
	const batches, perBatch = 10, 10_000
	ld := makeLogs(perBatch, 25) // 5 typed + 25 string attributes = 30
	start := time.Now()
	for range batches {
		if err := exp.ConsumeLogs(context.Background(), ld); err != nil {
			t.Fatal(err)
		}
	}
	d := time.Since(start)
	n := batches * perBatch
	if got := mustQuery(t, "SELECT count() FROM otel.otel_logs"); got != fmt.Sprintf("%d\n", n) {
		t.Fatalf("count = %q", got)
	}
	t.Logf("inserted %d records x 30 attributes in %v: %.0f records/s (batches of %d, compress=lz4)",
		n, d.Round(time.Millisecond), float64(n)/d.Seconds(), perBatch)
}

// TestClickHouseGo reads Native results back with clickhouse-go over HTTP:
// re-encoded blocks, several blocks per response, block framing across
// 1 MiB chunks, and errors surfacing with their ClickHouse text.
func TestClickHouseGo(t *testing.T) {
	for _, compress := range []string{"none", "lz4", "zstd", "gzip", "br"} {
		t.Run("compress="+compress, func(t *testing.T) {
			conn, err := clickhouse.Open(&clickhouse.Options{
				Protocol:    clickhouse.HTTP,
				Addr:        []string{strings.TrimPrefix(baseURL, "http://")},
				Compression: &clickhouse.Compression{Method: map[string]clickhouse.CompressionMethod{"none": clickhouse.CompressionNone, "lz4": clickhouse.CompressionLZ4, "zstd": clickhouse.CompressionZSTD, "gzip": clickhouse.CompressionGZIP, "br": clickhouse.CompressionBrotli}[compress]},
				Settings:    clickhouse.Settings{"max_block_size": 10000},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx := context.Background()
			var (
				n   uint64
				sum uint64
				m   map[string]string
				ts  time.Time
				arr []string
				ns  *string
			)
			row := conn.QueryRow(ctx, "SELECT count(), sum(number), map('k', 'v'), toDateTime64('2024-01-02 03:04:05.123456789', 9, 'UTC'), ['a', 'b'], CAST(NULL AS Nullable(String)) FROM numbers(100000)")
			if err := row.Scan(&n, &sum, &m, &ts, &arr, &ns); err != nil {
				t.Fatal(err)
			}
			if n != 100000 || sum != 4999950000 || m["k"] != "v" || ts.Nanosecond() != 123456789 || len(arr) != 2 || ns != nil {
				t.Fatalf("got %d %d %v %v %v %v", n, sum, m, ts, arr, ns)
			}
			// Many blocks and more than 1 MiB of data.
			rows, err := conn.Query(ctx, "SELECT number, toString(number), toLowCardinality(toString(number % 7)) FROM numbers(200000)")
			if err != nil {
				t.Fatal(err)
			}
			var count int
			for rows.Next() {
				var (
					v    uint64
					s, l string
				)
				if err := rows.Scan(&v, &s, &l); err != nil {
					t.Fatal(err)
				}
				if s != fmt.Sprint(v) {
					t.Fatalf("row %d: %q", v, s)
				}
				count++
			}
			if err := rows.Err(); err != nil || count != 200000 {
				t.Fatalf("rows: %d, %v", count, err)
			}
			// clickhouse-go's Exec over HTTP does not send compress=1 but with
			// lz4/zstd reads an error body as framed blocks, so (as against a
			// real server) only the status survives there.
			err = conn.Exec(ctx, "SELECT * FROM no_such_table_anywhere")
			if err == nil || (compress != "lz4" && compress != "zstd" && !strings.Contains(err.Error(), "Code: 60. DB::Exception")) {
				t.Fatalf("exec error: %v", err)
			}
			_, err = conn.Query(ctx, "SELEC 1")
			if err == nil || !strings.Contains(err.Error(), "Code: 62. DB::Exception") {
				t.Fatalf("query error: %v", err)
			}
		})
	}
}

// TestBinary checks the command-line contract: build, start, parse the
// listening line, stop with SIGTERM, and start again on the same data folder
// (which proves the folder was unlocked and the data persisted).
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "chdbserver")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	run := func(sql string) string {
		cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-data", data)
		stdout, _ := cmd.StdoutPipe()
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || !regexp.MustCompile(`^chdbserver: listening on http://127\.0\.0\.1:\d+\n$`).MatchString(line) {
			_ = cmd.Process.Kill()
			t.Fatalf("first line %q (%v); stderr:\n%s", line, err, stderr.String())
		}
		u := strings.TrimSpace(strings.TrimPrefix(line, "chdbserver: listening on "))
		resp, err := http.Post(u+"/", "text/plain", strings.NewReader(sql))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("exit: %v\n%s", err, stderr.String())
		}
		return string(b)
	}
	run("CREATE TABLE kept ENGINE = MergeTree ORDER BY n AS SELECT number AS n FROM numbers(5)")
	if got := run("SELECT sum(n) FROM kept"); got != "10\n" {
		t.Fatalf("after restart: %q", got)
	}
}
