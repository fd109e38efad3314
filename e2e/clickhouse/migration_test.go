package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/clickhouseexporter"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/hfauditlog/huggingfaceauditreceiver/clickhouse"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator/simtest"
)

// applyV1 creates the first schema (sorting key with authorUser), as
// installations made before the migration have it: the statements of the
// reviewed golden file clickhouse/testdata/v1/single.sql, for database db.
func applyV1(t testing.TB, db string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "clickhouse", "testdata", "v1", "single.sql"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, stmt := range strings.Split(strings.ReplaceAll(string(b), "`otel`", "`"+db+"`"), ";\n\n") {
		if strings.TrimSpace(stmt) != "" {
			query(t, stmt)
			n++
		}
	}
	if n != 4 {
		t.Fatalf("%d statements in the v1 schema, want 4", n)
	}
}

// changeAuthor returns ev with author.user set to user and, when deleted,
// author.deleted true: what a later export shows after a rename or a
// deletion.
func changeAuthor(t testing.TB, ev json.RawMessage, user string, deleted bool) json.RawMessage {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(ev, &m); err != nil {
		t.Fatal(err)
	}
	a, _ := m["author"].(map[string]any)
	if a == nil {
		a = map[string]any{}
		m["author"] = a
	}
	a["user"] = user
	if deleted {
		a["deleted"] = true
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// arrival writes one Hugging Face record straight through the exporter, as
// the receiver would while hfauditschema runs.
func arrival(t testing.TB, exp exporter.Logs, id string) {
	t.Helper()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "huggingface")
	rl.Resource().Attributes().PutStr("huggingface.organization", simulator.DefaultOrg)
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	lr.SetEventName("repo.create")
	lr.Body().SetStr("arrived during the migration")
	lr.Attributes().PutStr("log.record.uid", id)
	lr.Attributes().PutStr("user.name", "late-arrival")
	if err := exp.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatal(err)
	}
}

// TestMigration: an installation with the first sorting key, filled through
// the receiver, the exporter and the old view, with one event read twice
// after its author was renamed and another after its author was deleted.
// hfauditschema (clickhouse.Apply) migrates it while records keep arriving
// between its statements; nothing is lost, the two copies of each event
// collapse, the view feeds the new table, a second run changes nothing, and
// -drop-old drops the old table only when it holds nothing the new one
// lacks.
func TestMigration(t *testing.T) {
	const db = "migrate"
	sim, simURL := simtest.Start(t, simulator.Options{InitialEvents: 300, Seed: 21, NoSelfExport: true})
	events := sim.EventsJSON()
	exp := newExporter(t, db)
	applyV1(t, db)
	if key := query(t, "SELECT sorting_key FROM system.tables WHERE database = 'migrate' AND name = 'huggingface_logs'"); strings.TrimSpace(key) != "eventType, eventName, authorUser, eventTime, id" {
		t.Fatalf("v1 sorting key %q", key)
	}
	next := &countingConsumer{next: exp}

	// 1. The first read of the window.
	ingest(t, exportServer(t, simulator.DefaultOrg, events).URL, simulator.DefaultOrg, next, int64(len(events)))
	firstRead := time.Now()

	// 2. A later read: one author renamed, one deleted (new receiver, so
	// the whole window is emitted again, as after a lost checkpoint).
	decoded := decodeEvents(t, events)
	var renamed, deleted string
	later := make([]json.RawMessage, len(events))
	copy(later, events)
	for i, raw := range events {
		var e hfEvent
		_ = json.Unmarshal(raw, &e)
		if e.Author.User == "" {
			continue
		}
		switch {
		case renamed == "":
			renamed = e.ID
			later[i] = changeAuthor(t, raw, e.Author.User+"-renamed", false)
		case deleted == "":
			deleted = e.ID
			later[i] = changeAuthor(t, raw, "deleted-user", true)
		}
	}
	if renamed == "" || deleted == "" {
		t.Fatal("no two events with an author in the sample")
	}
	// receivedAt has whole seconds: the later copy gets a later one.
	waitFor(t, 3*time.Second, "the next second", func() bool { return time.Now().Unix() > firstRead.Unix() })
	ingest(t, exportServer(t, simulator.DefaultOrg, later).URL, simulator.DefaultOrg, next, int64(len(later)))

	n := int64(len(decoded))
	rows := queryInt(t, "SELECT count() FROM migrate.huggingface_logs")
	if rows != 2*n {
		t.Fatalf("old table: %d rows, want %d (two reads of %d events)", rows, 2*n, n)
	}
	// The old key keeps both copies of the two events whose author changed.
	if got := queryInt(t, "SELECT count() FROM migrate.huggingface_logs FINAL"); got != n+2 {
		t.Fatalf("old table: %d rows with FINAL, want %d (the bug the new key fixes)", got, n+2)
	}

	// 3. Migrate, with a record arriving after every statement.
	var arrived []string
	var steps []string
	err := clickhouse.Apply(context.Background(), clickhouse.Target{DSN: baseURL}, clickhouse.Options{Database: db}, func(r clickhouse.Result) {
		steps = append(steps, r.Statement)
		id := fmt.Sprintf("%024x", 0xfeed000000+len(arrived))
		arrival(t, exp, id)
		arrived = append(arrived, id)
	})
	if err != nil {
		t.Fatalf("migration: %v (after %q)", err, steps)
	}
	for _, s := range steps {
		t.Logf("applied: %s", s)
	}
	if !strings.Contains(strings.Join(steps, "\n"), "EXCHANGE TABLES `migrate`.`huggingface_logs` AND `migrate`.`huggingface_logs_v2`") {
		t.Fatalf("no migration ran: %q", steps)
	}
	if key := query(t, "SELECT sorting_key FROM system.tables WHERE database = 'migrate' AND name = 'huggingface_logs'"); strings.TrimSpace(key) != clickhouse.SortingKey {
		t.Fatalf("sorting key after the migration: %q", key)
	}
	type col struct{ Name, Type string }
	cols := jsonRows[col](t, "SELECT name AS Name, type AS Type FROM system.columns WHERE database = 'migrate' AND table = 'huggingface_logs' ORDER BY position")
	if len(cols) != len(clickhouse.Columns) {
		t.Fatalf("%d columns after the migration, want %d", len(cols), len(clickhouse.Columns))
	}
	for i, c := range clickhouse.Columns {
		if cols[i] != (col{c[0], c[1]}) {
			t.Errorf("column %d: %v, want %v", i+1, cols[i], c)
		}
	}
	left := query(t, "SELECT name FROM system.tables WHERE database = 'migrate' AND name LIKE 'huggingface%' ORDER BY name")
	if left != "huggingface_logs\nhuggingface_logs_mv\nhuggingface_logs_old\n" {
		t.Fatalf("tables after the migration:\n%s", left)
	}

	// Nothing lost: every Hugging Face id of otel_logs is in the new table,
	// the events that arrived between the statements included.
	lost := "SELECT count() FROM migrate.otel_logs WHERE ServiceName = 'huggingface' AND LogAttributes['log.record.uid'] NOT IN (SELECT id FROM migrate.huggingface_logs)"
	if got := queryInt(t, lost); got != 0 {
		t.Fatalf("%d ids of otel_logs are not in huggingface_logs", got)
	}
	a := int64(len(arrived))
	if got := queryInt(t, "SELECT uniqExact(id) FROM migrate.huggingface_logs"); got != n+a {
		t.Fatalf("%d ids in huggingface_logs, want %d events + %d arrivals", got, n, a)
	}
	// The old table is kept as it was, plus what arrived before the swap.
	old := queryInt(t, "SELECT count() FROM migrate.huggingface_logs_old")
	if old < 2*n || old > 2*n+a {
		t.Fatalf("huggingface_logs_old: %d rows, want between %d and %d", old, 2*n, 2*n+a)
	}
	// Each event's copies collapse into one row, the one read last.
	if got := queryInt(t, "SELECT count() FROM migrate.huggingface_logs FINAL"); got != n+a {
		t.Fatalf("%d rows with FINAL, want %d", got, n+a)
	}
	query(t, "OPTIMIZE TABLE migrate.huggingface_logs FINAL")
	if got := queryInt(t, "SELECT count() FROM migrate.huggingface_logs"); got != n+a {
		t.Fatalf("%d rows after OPTIMIZE FINAL, want %d", got, n+a)
	}
	if got := strings.TrimSpace(query(t, "SELECT authorUser FROM migrate.huggingface_logs WHERE id = '"+renamed+"'")); got != decoded[renamed].Author.User+"-renamed" {
		t.Errorf("renamed author: %q, want the later read's %q", got, decoded[renamed].Author.User+"-renamed")
	}
	if got := strings.TrimSpace(query(t, "SELECT authorUser, actor['deleted'] FROM migrate.huggingface_logs WHERE id = '"+deleted+"'")); got != "deleted-user\ttrue" {
		t.Errorf("deleted author: %q", got)
	}

	// 4. The view feeds the new table, and only it.
	sim.Add(20)
	ingest(t, simURL, simulator.DefaultOrg, next, n+20)
	if got := queryInt(t, "SELECT count() FROM migrate.huggingface_logs FINAL"); got != n+a+20 {
		t.Fatalf("after 20 new events: %d rows with FINAL, want %d", got, n+a+20)
	}
	if got := queryInt(t, "SELECT count() FROM migrate.huggingface_logs_old"); got != old {
		t.Fatalf("the old table still grows: %d rows, was %d", got, old)
	}
	if got := queryInt(t, lost); got != 0 {
		t.Fatalf("%d ids of otel_logs are not in huggingface_logs", got)
	}

	// 5. A second run changes nothing.
	before := tableState(t, db) + query(t, "SELECT count(), sum(cityHash64(*)) FROM migrate.huggingface_logs_old")
	again := applySchema(t, db)
	for _, r := range again {
		if !strings.HasPrefix(r.Statement, "CREATE") && !strings.HasPrefix(r.Statement, "INSERT INTO `migrate`.`huggingface_logs`") {
			t.Errorf("second run ran %q", r.Statement)
		}
	}
	if after := tableState(t, db) + query(t, "SELECT count(), sum(cityHash64(*)) FROM migrate.huggingface_logs_old"); after != before {
		t.Fatalf("the second run changed the tables:\n%s\n---\n%s", before, after)
	}

	// 6. -drop-old keeps an old table that holds an id the new one lacks...
	query(t, "INSERT INTO migrate.huggingface_logs_old (id, eventName, eventType) VALUES ('00000000000000000000dead', 'repo.create', 'repo')")
	err = clickhouse.Apply(context.Background(), clickhouse.Target{DSN: baseURL}, clickhouse.Options{Database: db, DropOld: true}, nil)
	if err == nil || !strings.Contains(err.Error(), "huggingface_logs_old holds event ids that are not in huggingface_logs: it is kept") {
		t.Fatalf("drop-old with a missing id: %v", err)
	}
	if got := queryInt(t, "SELECT count() FROM system.tables WHERE database = 'migrate' AND name = 'huggingface_logs_old'"); got != 1 {
		t.Fatal("the old table was dropped")
	}
	// ...and drops it otherwise.
	query(t, "DELETE FROM migrate.huggingface_logs_old WHERE id = '00000000000000000000dead'")
	state := tableState(t, db)
	if err := clickhouse.Apply(context.Background(), clickhouse.Target{DSN: baseURL}, clickhouse.Options{Database: db, DropOld: true}, nil); err != nil {
		t.Fatal(err)
	}
	if got := queryInt(t, "SELECT count() FROM system.tables WHERE database = 'migrate' AND name = 'huggingface_logs_old'"); got != 0 {
		t.Fatal("-drop-old left the old table")
	}
	if s := tableState(t, db); s != state {
		t.Fatalf("-drop-old changed huggingface_logs:\n%s\n---\n%s", state, s)
	}
}

// TestJSONLogsTableRefused: the exporter with `json: true` creates
// otel_logs with JSON attribute columns, which the view cannot read as Maps.
// hfauditschema refuses it with a message that names the setting, and
// creates nothing.
func TestJSONLogsTableRefused(t *testing.T) {
	const db = "jsonlogs"
	exp := newExporter(t, db, func(c *clickhouseexporter.Config) { c.JSON = true })
	arrival(t, exp, "0000000000000000000000aa")
	if n := queryInt(t, "SELECT count() FROM jsonlogs.otel_logs"); n != 1 {
		t.Fatalf("the exporter in json mode wrote %d rows, want 1", n)
	}
	if typ := strings.TrimSpace(query(t, "SELECT type FROM system.columns WHERE database = 'jsonlogs' AND table = 'otel_logs' AND name = 'LogAttributes'")); typ != "JSON" {
		t.Fatalf("LogAttributes is %q in the exporter's json mode", typ)
	}
	err := clickhouse.Apply(context.Background(), clickhouse.Target{DSN: baseURL}, clickhouse.Options{Database: db}, nil)
	if err == nil || !strings.Contains(err.Error(), "jsonlogs.otel_logs column") || !strings.Contains(err.Error(), "is JSON, not a Map") ||
		!strings.Contains(err.Error(), "`json: true`") {
		t.Fatalf("apply on a json logs table: %v", err)
	}
	if n := queryInt(t, "SELECT count() FROM system.tables WHERE database = 'jsonlogs' AND name LIKE 'huggingface%'"); n != 0 {
		t.Fatalf("%d huggingface tables created", n)
	}
	t.Logf("refused: %v", err)
}

// TestMigrationResumes: a migration cut short at any statement (a crash, a
// timeout) finishes when hfauditschema runs again, with every row once.
func TestMigrationResumes(t *testing.T) {
	stmts, err := clickhouse.MigrationStatements(clickhouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The migration proper: the statements before the usual ones.
	steps := 0
	for steps < len(stmts) && !strings.HasPrefix(stmts[steps], "CREATE DATABASE") {
		steps++
	}
	if steps < 5 {
		t.Fatalf("%d migration statements", steps)
	}
	for cut := 1; cut < steps; cut++ {
		t.Run(fmt.Sprintf("after %d of %d", cut, steps), func(t *testing.T) {
			db := fmt.Sprintf("resume%d", cut)
			exp := newExporter(t, db)
			applyV1(t, db)
			const n = 30
			for i := range n {
				arrival(t, exp, fmt.Sprintf("%024x", 0xa000+i))
			}
			for _, s := range stmts[:cut] {
				query(t, strings.ReplaceAll(s, "`otel`", "`"+db+"`"))
			}
			arrival(t, exp, fmt.Sprintf("%024x", 0xb000)) // arrives while the migration is stopped
			if err := clickhouse.Apply(context.Background(), clickhouse.Target{DSN: baseURL}, clickhouse.Options{Database: db}, nil); err != nil {
				t.Fatalf("second run: %v", err)
			}
			arrival(t, exp, fmt.Sprintf("%024x", 0xc000)) // arrives after
			q := func(sql string) string { return strings.ReplaceAll(sql, "DB", db) }
			if key := strings.TrimSpace(query(t, q("SELECT sorting_key FROM system.tables WHERE database = 'DB' AND name = 'huggingface_logs'"))); key != clickhouse.SortingKey {
				t.Fatalf("sorting key %q", key)
			}
			if left := query(t, q("SELECT name FROM system.tables WHERE database = 'DB' AND name LIKE 'huggingface%' ORDER BY name")); left != "huggingface_logs\nhuggingface_logs_mv\nhuggingface_logs_old\n" {
				t.Fatalf("tables:\n%s", left)
			}
			if got := queryInt(t, q("SELECT count() FROM DB.huggingface_logs_old")); got < n || got > n+1 {
				t.Fatalf("old table: %d rows, want %d or %d", got, n, n+1)
			}
			if got := queryInt(t, q("SELECT count() FROM DB.huggingface_logs FINAL")); got != n+2 {
				t.Fatalf("%d rows with FINAL, want %d", got, n+2)
			}
			if got := queryInt(t, q("SELECT uniqExact(id) FROM DB.huggingface_logs")); got != n+2 {
				t.Fatalf("%d ids, want %d", got, n+2)
			}
		})
	}
}

// TestMigrationKeepsTTL: the migrated table keeps the retention the old one
// had, as the old one had it: a TTL set by hand with ALTER TABLE, and no TTL
// where the user removed it (sourceTTL's default alone is not a TTL).
func TestMigrationKeepsTTL(t *testing.T) {
	for _, tc := range []struct {
		name, alter, wantTTL string
		wantDefault          string
	}{
		{name: "set by hand", alter: "ALTER TABLE DB.huggingface_logs MODIFY TTL eventTime + INTERVAL 90 DAY",
			wantTTL: " TTL eventTime + toIntervalDay(90) SETTINGS ", wantDefault: "0"},
		{name: "removed", alter: "ALTER TABLE DB.huggingface_logs MODIFY TTL eventTime + INTERVAL 400 DAY;" +
			"ALTER TABLE DB.huggingface_logs MODIFY COLUMN sourceTTL UInt32 DEFAULT 400;ALTER TABLE DB.huggingface_logs REMOVE TTL",
			wantTTL: "", wantDefault: "400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := "ttl_" + strings.ReplaceAll(tc.name, " ", "_")
			newExporter(t, db)
			applyV1(t, db)
			for _, s := range strings.Split(tc.alter, ";") {
				query(t, strings.ReplaceAll(s, "DB", db))
			}
			if err := clickhouse.Apply(context.Background(), clickhouse.Target{DSN: baseURL}, clickhouse.Options{Database: db}, nil); err != nil {
				t.Fatal(err)
			}
			engine := query(t, "SELECT engine_full FROM system.tables WHERE database = '"+db+"' AND name = 'huggingface_logs'")
			if hasTTL := strings.Contains(engine, " TTL "); hasTTL != (tc.wantTTL != "") || !strings.Contains(engine, tc.wantTTL) {
				t.Errorf("TTL after the migration: %s", engine)
			}
			if d := strings.TrimSpace(query(t, "SELECT default_expression FROM system.columns WHERE database = '"+db+"' AND table = 'huggingface_logs' AND name = 'sourceTTL'")); d != tc.wantDefault {
				t.Errorf("sourceTTL default %q, want %q", d, tc.wantDefault)
			}
		})
	}
}

// TestMigrationKeepsSettings: table settings the user added to the old
// table (a storage policy, merge settings) are on the migrated table too.
func TestMigrationKeepsSettings(t *testing.T) {
	const db = "settings"
	newExporter(t, db)
	applyV1(t, db)
	query(t, "ALTER TABLE settings.huggingface_logs MODIFY SETTING merge_with_ttl_timeout = 3600, ttl_only_drop_parts = 0")
	if err := clickhouse.Apply(context.Background(), clickhouse.Target{DSN: baseURL}, clickhouse.Options{Database: db}, nil); err != nil {
		t.Fatal(err)
	}
	engine := query(t, "SELECT engine_full FROM system.tables WHERE database = 'settings' AND name = 'huggingface_logs'")
	if !strings.Contains(engine, "eventName, eventTime, id)") || !strings.HasSuffix(strings.TrimSpace(engine), "SETTINGS index_granularity = 8192, ttl_only_drop_parts = 0, merge_with_ttl_timeout = 3600") {
		t.Errorf("settings after the migration: %s", engine)
	}
}

// TestMigrationKeepsLogsTable: an installation made with -logs-table, run
// again without it, is refused: the migration would point the new view at
// another table, and the events would stop reaching huggingface_logs.
func TestMigrationKeepsLogsTable(t *testing.T) {
	const db = "logstable"
	exp := newExporter(t, db, func(c *clickhouseexporter.Config) { c.LogsTableName = "hf_logs" })
	newExporter(t, db) // otel_logs, for other logs
	b, err := os.ReadFile(filepath.Join(repoRoot, "clickhouse", "testdata", "v1", "single.sql"))
	if err != nil {
		t.Fatal(err)
	}
	v1 := strings.ReplaceAll(strings.ReplaceAll(string(b), "`otel`", "`"+db+"`"), "`otel_logs`", "`hf_logs`")
	for _, stmt := range strings.Split(v1, ";\n\n") {
		if strings.TrimSpace(stmt) != "" {
			query(t, stmt)
		}
	}
	err = clickhouse.Apply(context.Background(), clickhouse.Target{DSN: baseURL}, clickhouse.Options{Database: db}, nil)
	if err == nil || !strings.Contains(err.Error(), "huggingface_logs_mv reads logstable.hf_logs, not logstable.otel_logs") || !strings.Contains(err.Error(), "-logs-table hf_logs") {
		t.Fatalf("apply with another logs table: %v", err)
	}
	if err := clickhouse.Apply(context.Background(), clickhouse.Target{DSN: baseURL}, clickhouse.Options{Database: db, LogsTable: "hf_logs"}, nil); err != nil {
		t.Fatal(err)
	}
	arrival(t, exp, "0000000000000000000000bb")
	if n := queryInt(t, "SELECT count() FROM logstable.huggingface_logs WHERE id = '0000000000000000000000bb'"); n != 1 {
		t.Fatalf("an event written to hf_logs after the migration: %d rows in huggingface_logs", n)
	}
}

// EXCHANGE TABLES needs an Atomic database. On an Ordinary one the
// migration is refused before it copies anything: the copy would run,
// the swap fail, and every run after copy the table again.
func TestMigrationRefusedOnAnOrdinaryDatabase(t *testing.T) {
	const db = "ordinarydb"
	if _, err := post("CREATE DATABASE "+db+" ENGINE = Ordinary", url.Values{"allow_deprecated_database_ordinary": {"1"}}); err != nil {
		t.Fatal(err)
	}
	newExporter(t, db)
	applyV1(t, db)
	err := clickhouse.Apply(context.Background(), clickhouse.Target{DSN: baseURL}, clickhouse.Options{Database: db}, nil)
	if err == nil || !strings.Contains(err.Error(), "Atomic") || !strings.Contains(err.Error(), "convert_ordinary_to_atomic") {
		t.Fatalf("migration on an Ordinary database: %v", err)
	}
	if n := queryInt(t, "SELECT count() FROM system.tables WHERE database = '"+db+"' AND name IN ('huggingface_logs_v2', 'huggingface_logs_old')"); n != 0 {
		t.Fatalf("%d tables left by a refused migration", n)
	}
}
