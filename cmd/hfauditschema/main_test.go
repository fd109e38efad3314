package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/hfauditlog/huggingfaceauditreceiver/clickhouse"
)

func TestParseTTL(t *testing.T) {
	for in, want := range map[string]uint32{"": 0, "400d": 400, "400": 400, "48h": 2, "9600h": 400} {
		if got, err := parseTTL(in); err != nil || got != want {
			t.Errorf("parseTTL(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "0d", "-3d", "36h", "1y", "abc"} {
		if _, err := parseTTL(in); err == nil {
			t.Errorf("parseTTL(%q) accepted", in)
		}
	}
}

func TestRun(t *testing.T) {
	var n int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if _, p, _ := r.BasicAuth(); p != "pw-secret" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		if strings.Contains(string(b), "FROM system.") {
			return // nothing exists yet
		}
		n++
		if strings.HasPrefix(string(b), "CREATE MATERIALIZED VIEW") && strings.Contains(string(b), "`missing`") {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "Code: 60. DB::Exception: Unknown table expression identifier 'otel.missing'. (UNKNOWN_TABLE)")
		}
	}))
	defer srv.Close()
	dsn := strings.Replace(srv.URL, "http://", "http://default:pw-secret@", 1)

	var out, errb bytes.Buffer
	if code := run([]string{"-dsn", dsn, "-ttl", "30d"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	// 6 for huggingface_logs, 3 for the watcher's tables.
	if n != 9 || !strings.Contains(out.String(), "ok: CREATE TABLE IF NOT EXISTS `otel`.`huggingface_findings`") || !strings.Contains(out.String(), "ok: ALTER TABLE `otel`.`huggingface_logs` MODIFY TTL eventTime + INTERVAL 30 DAY") ||
		strings.Contains(out.String(), "pw-secret") {
		t.Fatalf("%d statements; output:\n%s", n, out.String())
	}

	out.Reset()
	errb.Reset()
	if code := run([]string{"-dsn", srv.URL, "-password", "pw-secret", "-logs-table", "missing"}, &out, &errb); code != 1 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(errb.String(), "UNKNOWN_TABLE") || !strings.Contains(errb.String(), "must exist first") ||
		strings.Contains(out.String()+errb.String(), "pw-secret") {
		t.Fatalf("stderr:\n%s", errb.String())
	}

	out.Reset()
	if code := run([]string{"-print", "-database", "sec"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "CREATE TABLE IF NOT EXISTS `sec`.`huggingface_logs`") ||
		!strings.Contains(out.String(), "CREATE TABLE IF NOT EXISTS `sec`.`huggingface_findings`") {
		t.Fatalf("-print: %d\n%s", code, out.String())
	}
	if code := run([]string{"-ttl", "1y"}, &out, &errb); code != 2 {
		t.Fatalf("bad -ttl: exit %d", code)
	}
	// A boolean flag given "true" apart ends the flags: the rest, a
	// password here, is not echoed. Nor is a DSN whose typo hides its
	// user information from the URL parser.
	for _, args := range [][]string{{"-drop-old", "true", "-password", "pw-S3cret"}, {"-dsn", "http:/default:pw-S3cret@127.0.0.1:1"}} {
		out.Reset()
		errb.Reset()
		if code := run(args, &out, &errb); code == 0 || strings.Contains(out.String()+errb.String(), "S3cret") {
			t.Fatalf("%q: exit %d, output shows the password:\n%s%s", args, code, out.String(), errb.String())
		}
	}
}

func TestRunCluster(t *testing.T) {
	var stmts []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(b), "FROM system.") {
			stmts = append(stmts, string(b))
		}
	}))
	defer srv.Close()

	var out, errb bytes.Buffer
	if code := run([]string{"-dsn", srv.URL, "-cluster", "audit"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if len(stmts) != 8 {
		t.Fatalf("%d statements, want 8 (database, local table, Distributed table, view, backfill, the watcher's three tables):\n%s", len(stmts), out.String())
	}
	for _, s := range stmts {
		if !strings.Contains(s, " ON CLUSTER `audit`") && !strings.HasPrefix(s, "INSERT INTO") {
			t.Errorf("statement without ON CLUSTER: %q", strings.SplitN(s, "\n", 2)[0])
		}
	}
	if !strings.Contains(out.String(), "on cluster audit") || !strings.Contains(out.String(), "huggingface_logs (Distributed)") {
		t.Errorf("output:\n%s", out.String())
	}

	out.Reset()
	if code := run([]string{"-print", "-cluster", "audit", "-replica-path", "/ch/{shard}/hf", "-replica-name", "{replica}-x"}, &out, &errb); code != 0 ||
		!strings.Contains(out.String(), "ENGINE = ReplicatedReplacingMergeTree('/ch/{shard}/hf', '{replica}-x', receivedAt)") {
		t.Fatalf("-print -cluster: %d\n%s", code, out.String())
	}
	errb.Reset()
	if code := run([]string{"-print", "-replica-path", "/x"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "need -cluster") {
		t.Fatalf("-replica-path without -cluster: exit %d, %s", code, errb.String())
	}
}

// On a table with the first sorting key, the command migrates it, says
// where the old rows are, and -drop-old drops them.
func TestRunMigration(t *testing.T) {
	var stmts []string
	oldExists, key := false, "eventType, eventName, authorUser, eventTime, id"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch q := string(b); {
		case strings.Contains(q, "FROM system.tables"):
			_, _ = io.WriteString(w, `{"name":"huggingface_logs","sorting_key":"`+key+`"}`+"\n")
			_, _ = io.WriteString(w, `{"name":"huggingface_logs_mv","sorting_key":""}`+"\n")
			if oldExists {
				_, _ = io.WriteString(w, `{"name":"huggingface_logs_old","sorting_key":""}`+"\n")
			}
		case strings.Contains(q, "FROM system.columns"):
		default:
			stmts = append(stmts, strings.SplitN(q, "\n", 2)[0])
		}
	}))
	defer srv.Close()

	var out, errb bytes.Buffer
	if code := run([]string{"-dsn", srv.URL}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !slices.Contains(stmts, "EXCHANGE TABLES `otel`.`huggingface_logs` AND `otel`.`huggingface_logs_v2`") ||
		!strings.Contains(out.String(), "migrated: the rows as they were are kept in huggingface_logs_old; check huggingface_logs, then run again with -drop-old") {
		t.Fatalf("statements %q\noutput:\n%s", stmts, out.String())
	}

	// A table with the first key next to an earlier old table: refused.
	oldExists = true
	out.Reset()
	errb.Reset()
	if code := run([]string{"-dsn", srv.URL, "-drop-old"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "huggingface_logs_old from an earlier migration still exists") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}

	// After the migration, -drop-old drops the old table.
	key = clickhouse.SortingKey
	out.Reset()
	stmts = nil
	if code := run([]string{"-dsn", srv.URL, "-drop-old"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "dropped huggingface_logs_old: every event id it held is in huggingface_logs") ||
		!slices.Contains(stmts, "DROP TABLE IF EXISTS `otel`.`huggingface_logs_old` SYNC") {
		t.Fatalf("-drop-old: exit %d, %q\n%s%s", code, stmts, out.String(), errb.String())
	}

	out.Reset()
	if code := run([]string{"-print-migration", "-drop-old"}, &out, &errb); code != 0 ||
		!strings.Contains(out.String(), "EXCHANGE TABLES `otel`.`huggingface_logs` AND `otel`.`huggingface_logs_v2`;") ||
		!strings.Contains(out.String(), "DROP TABLE IF EXISTS `otel`.`huggingface_logs_old` SYNC;") {
		t.Fatalf("-print-migration: %d\n%s", code, out.String())
	}
	if code := run([]string{"-print", "-print-migration"}, &out, &errb); code != 2 {
		t.Fatalf("-print -print-migration: exit %d", code)
	}
	errb.Reset()
	if code := run([]string{"-print-migration", "-cluster", "c", "-replica-path", "/ch/{shard}/hf"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "must hold {table} or {uuid}") {
		t.Fatalf("-print-migration with a fixed replica path: exit %d, %s", code, errb.String())
	}
}
