package clickhouse

import (
	"regexp"
	"strings"
	"testing"
)

func TestStatementsSubstitute(t *testing.T) {
	stmts := Statements("audit_db")
	if len(stmts) != 4 {
		t.Fatalf("%d statements, want 4 (database, table, view, backfill)", len(stmts))
	}
	prefixes := []string{"CREATE DATABASE IF NOT EXISTS `audit_db`", "CREATE TABLE IF NOT EXISTS `audit_db`.`huggingface_logs`",
		"CREATE MATERIALIZED VIEW IF NOT EXISTS `audit_db`.`huggingface_logs_mv`", "INSERT INTO `audit_db`.`huggingface_logs`"}
	for i, s := range stmts {
		if !strings.HasPrefix(s, prefixes[i]) {
			t.Errorf("statement %d starts %q, want %q", i, firstLine(s), prefixes[i])
		}
		if strings.Contains(s, "{{") || strings.Contains(s, "}}") {
			t.Errorf("statement %d keeps a placeholder", i)
		}
		if strings.HasSuffix(strings.TrimSpace(s), ";") {
			t.Errorf("statement %d ends with a semicolon", i)
		}
		if strings.Contains(s, "`otel`") {
			t.Errorf("statement %d names the default database", i)
		}
	}
	for _, i := range []int{2, 3} {
		if !strings.Contains(stmts[i], "FROM `audit_db`.`otel_logs`") {
			t.Errorf("statement %d does not read audit_db.otel_logs", i)
		}
	}
	if d := Statements(""); !strings.HasPrefix(d[0], "CREATE DATABASE IF NOT EXISTS `otel`") {
		t.Errorf("default database: %q", firstLine(d[0]))
	}
	o := StatementsFor(Options{Database: "x", LogsTable: "my_logs", TTLDays: 90})
	if len(o) != 6 || !strings.Contains(o[2], "MODIFY TTL eventTime + INTERVAL 90 DAY") || !strings.Contains(o[3], "DEFAULT 90") ||
		!strings.Contains(o[4], "FROM `x`.`my_logs`") {
		t.Errorf("with TTL and logs table: %q", o)
	}
	if q := Statements("we`ird"); !strings.Contains(q[0], "`we\\`ird`") {
		t.Errorf("backtick not escaped: %q", q[0])
	}
}

var columnLine = regexp.MustCompile("^\\s*`([A-Za-z0-9_]+)`\\s+(.+?)(?:\\s+(?:DEFAULT|CODEC)\\b.*)?,?\\s*$")

// TestColumns parses the CREATE TABLE and checks the 51 columns of SPEC §6,
// names, types and order.
func TestColumns(t *testing.T) {
	create := Statements("otel")[1]
	checkColumns(t, create)
	close := strings.LastIndex(create, ")\nENGINE")
	if !strings.Contains(create, "ENGINE = ReplacingMergeTree(receivedAt)\n") || !strings.Contains(create, "PARTITION BY toYYYYMM(eventTime)") ||
		!strings.Contains(create, "ORDER BY ("+SortingKey+")") {
		t.Errorf("engine, partition or order changed:\n%s", create[close:])
	}
}

// checkColumns parses the column list of a CREATE TABLE and checks the 51
// columns of SPEC §6, names, types and order.
func checkColumns(t *testing.T, create string) {
	t.Helper()
	open := strings.Index(create, "(")
	close := strings.LastIndex(create, ")\nENGINE")
	if open < 0 || close < 0 {
		t.Fatal("no column list in the CREATE TABLE")
	}
	var got [][2]string
	for _, line := range strings.Split(create[open+1:close], "\n") {
		l := strings.TrimSpace(line)
		if l == "" || strings.HasPrefix(l, "INDEX ") || strings.HasPrefix(l, "--") {
			continue
		}
		m := columnLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("cannot parse column line %q", l)
		}
		got = append(got, [2]string{m[1], strings.TrimSuffix(m[2], ",")})
	}
	if len(got) != 51 {
		t.Fatalf("%d columns, want 51", len(got))
	}
	for i := range Columns {
		if got[i] != Columns[i] {
			t.Errorf("column %d: %v, want %v", i+1, got[i], Columns[i])
		}
	}
}

// TestSelects: the view and the backfill map columns the same way, and
// every column with a source is selected.
func TestSelects(t *testing.T) {
	sel := viewSelect(SQL)
	stmts := Statements("")
	var view, backfill string
	for _, s := range stmts {
		switch {
		case strings.HasPrefix(s, "CREATE MATERIALIZED VIEW"):
			view = s
		case strings.HasPrefix(s, "INSERT INTO"):
			backfill = s
		}
	}
	for name, stmt := range map[string]string{"view": view, "backfill": backfill} {
		if !strings.Contains(stmt, strings.ReplaceAll(strings.ReplaceAll(sel, "{{database}}", "otel"), "{{logs_table}}", "otel_logs")) {
			t.Errorf("the %s does not hold the SELECT", name)
		}
		if strings.Contains(stmt, "{{") {
			t.Errorf("the %s has a placeholder left", name)
		}
	}
	// Every table column except sourceTTL and dst* (defaults) is selected.
	for _, c := range Columns {
		name := c[0]
		selected := strings.Contains(sel, " AS "+name+",") || strings.Contains(sel, " AS "+name+"\n")
		skipped := name == "sourceTTL" || strings.HasPrefix(name, "dst")
		if selected == skipped {
			t.Errorf("column %s: selected=%v, want %v", name, selected, !skipped)
		}
	}
}

func TestSplit(t *testing.T) {
	got := split("-- only a comment;\n\nSELECT 1;\n-- c\nSELECT ';'\n;  \nSELECT 2")
	want := []string{"SELECT 1", "SELECT ';'", "SELECT 2"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("split = %q, want %q", got, want)
	}
}
