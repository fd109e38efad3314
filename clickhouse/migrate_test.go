package clickhouse

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

const oldKey = "eventType, eventName, authorUser, eventTime, id"

func firstLines(stmts []string) []string {
	out := make([]string, len(stmts))
	for i, s := range stmts {
		out[i] = firstLine(s)
	}
	return out
}

// TestPlan: what Apply runs for each state the server can be in.
func TestPlan(t *testing.T) {
	o := Options{}.withDefaults()
	install := firstLines(StatementsFor(o))
	migrate := []string{
		"DROP TABLE IF EXISTS `otel`.`huggingface_logs_v2` SYNC",
		"CREATE TABLE IF NOT EXISTS `otel`.`huggingface_logs_v2`",
		"INSERT INTO `otel`.`huggingface_logs_v2`",
		"EXCHANGE TABLES `otel`.`huggingface_logs` AND `otel`.`huggingface_logs_v2`",
	}
	repoint := []string{
		"DROP VIEW IF EXISTS `otel`.`huggingface_logs_mv_v2` SYNC",
		"CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.`huggingface_logs_mv_v2`",
		"EXCHANGE TABLES `otel`.`huggingface_logs_mv` AND `otel`.`huggingface_logs_mv_v2`",
		"DROP VIEW `otel`.`huggingface_logs_mv_v2` SYNC",
	}
	rename := []string{"RENAME TABLE `otel`.`huggingface_logs_v2` TO `otel`.`huggingface_logs_old`"}
	drop := []string{"SELECT throwIf(count() > 0, 'huggingface_logs_old holds event ids that are not in huggingface_logs: it is kept')",
		"DROP TABLE IF EXISTS `otel`.`huggingface_logs_old` SYNC"}
	exists := func(names ...string) map[string]bool {
		m := map[string]bool{}
		for _, n := range names {
			m[n] = true
		}
		return m
	}
	cat := func(parts ...[]string) []string { return slices.Concat(parts...) }
	for _, tc := range []struct {
		name    string
		st      state
		dropOld bool
		want    []string
		err     string
	}{
		{name: "new installation", st: state{exists: exists()}, want: install},
		{name: "current key", st: state{key: SortingKey, exists: exists(Table, View)}, want: install},
		{name: "current key, drop-old without an old table", st: state{key: SortingKey, exists: exists(Table, View)}, dropOld: true, want: install},
		{name: "old key", st: state{key: oldKey, exists: exists(Table, View)}, want: cat(migrate, repoint, rename, install)},
		{name: "old key, no view", st: state{key: oldKey, exists: exists(Table)}, want: cat(migrate, rename, install)},
		{name: "old key, drop-old", st: state{key: oldKey, exists: exists(Table, View)}, dropOld: true, want: cat(migrate, repoint, rename, install, drop)},
		{name: "old key, copy interrupted", st: state{key: oldKey, exists: exists(Table, Table+"_v2", View)}, want: cat(migrate, repoint, rename, install)},
		{name: "stopped after the swap", st: state{key: SortingKey, exists: exists(Table, Table+"_v2", View)}, want: cat(repoint, rename, install)},
		{name: "old table kept", st: state{key: SortingKey, exists: exists(Table, OldTable, View)}, want: install},
		{name: "old table dropped", st: state{key: SortingKey, exists: exists(Table, OldTable, View)}, dropOld: true, want: cat(install, drop)},
		{name: "old key and an earlier old table", st: state{key: oldKey, exists: exists(Table, OldTable)}, err: "from an earlier migration still exists"},
		{name: "next and old", st: state{key: SortingKey, exists: exists(Table, Table+"_v2", OldTable)}, err: "both exist"},
		{name: "json attributes", st: state{logAttrs: "JSON", resAttrs: "JSON", exists: exists()}, err: "writes it with `json: true`"},
		{name: "map attributes", st: state{logAttrs: "Map(LowCardinality(String), String)", resAttrs: "Map(LowCardinality(String), String)", exists: exists()}, want: install},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := o
			o.DropOld = tc.dropOld
			got, err := plan(o, tc.st)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g := firstLines(got); !slices.Equal(g, tc.want) {
				t.Fatalf("plan:\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// The new table of a migration is the table a new installation gets, and
// the copy moves every column by name.
func TestMigrationStatements(t *testing.T) {
	o := Options{Database: "audit_db", TTLDays: 30}.withDefaults()
	stmts, err := MigrationStatements(o)
	if err != nil {
		t.Fatal(err)
	}
	install := StatementsFor(o)
	create := strings.Replace(stmts[1], "huggingface_logs_v2", "huggingface_logs", 1)
	if create != install[1] {
		t.Errorf("the migration's table differs from the installation's:\n%s", stmts[1])
	}
	for i, want := range []string{"MODIFY TTL eventTime + INTERVAL 30 DAY", "MODIFY COLUMN `sourceTTL` UInt32 DEFAULT 30"} {
		if s := stmts[2+i]; !strings.HasPrefix(s, "ALTER TABLE `audit_db`.`huggingface_logs_v2` ") || !strings.HasSuffix(s, want) {
			t.Errorf("statement %d: %q", 2+i, s)
		}
	}
	cols := columnList()
	if want := "INSERT INTO `audit_db`.`huggingface_logs_v2`\n(" + cols + ")\nSELECT " + cols + "\nFROM `audit_db`.`huggingface_logs`"; stmts[4] != want {
		t.Errorf("copy:\n%s", stmts[4])
	}
	if strings.Count(cols, "`")/2 != 51 {
		t.Errorf("the copy moves %d columns", strings.Count(cols, "`")/2)
	}

	// Without -ttl the new table keeps the old table's TTL, as it was.
	got, err := plan(Options{}.withDefaults(), state{key: oldKey, sourceTTL: 400, ttl: "eventTime + toIntervalDay(90)", exists: map[string]bool{Table: true}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(got[2], "MODIFY TTL eventTime + toIntervalDay(90)") || !strings.HasSuffix(got[3], "DEFAULT 400") {
		t.Errorf("TTL not carried over: %q", firstLines(got))
	}
	// A sourceTTL default without a TTL (removed by hand) adds none.
	got, err = plan(Options{}.withDefaults(), state{key: oldKey, sourceTTL: 400, exists: map[string]bool{Table: true}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(got, "\n"), "MODIFY TTL") || !strings.HasSuffix(got[2], "DEFAULT 400") {
		t.Errorf("TTL added: %q", firstLines(got))
	}
}

// The new table takes the settings of the old one.
func TestMigrationSettings(t *testing.T) {
	got, err := plan(Options{}.withDefaults(), state{key: oldKey, exists: map[string]bool{Table: true},
		settings: splitTop("index_granularity = 8192, ttl_only_drop_parts = 0, storage_policy = 'a, b'", ',')})
	if err != nil {
		t.Fatal(err)
	}
	if want := "\nSETTINGS index_granularity = 8192, ttl_only_drop_parts = 0, storage_policy = 'a, b'"; !strings.HasSuffix(got[1], want) {
		t.Errorf("new table:\n%s\nwant the suffix %q", got[1], want)
	}
}

func TestClause(t *testing.T) {
	for in, want := range map[string]string{
		"ReplacingMergeTree PARTITION BY toYYYYMM(eventTime) ORDER BY (eventType, id) TTL eventTime + toIntervalDay(90) SETTINGS index_granularity = 8192": "eventTime + toIntervalDay(90)",
		"MergeTree ORDER BY id TTL eventTime + toIntervalDay(30) TO VOLUME ' SETTINGS ', eventTime + toIntervalDay(400)":                                   "eventTime + toIntervalDay(30) TO VOLUME ' SETTINGS ', eventTime + toIntervalDay(400)",
		"ReplicatedReplacingMergeTree('/a TTL b', '{replica}') ORDER BY id SETTINGS index_granularity = 8192":                                              "",
	} {
		if got := clause(in, "TTL"); got != want {
			t.Errorf("clause(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClusterMigrationStatements(t *testing.T) {
	o := Options{Database: "audit_db", Cluster: "prod"}.withDefaults()
	want := []string{
		"DROP TABLE IF EXISTS `audit_db`.`huggingface_logs_v2` ON CLUSTER `prod` SYNC",
		"DROP TABLE IF EXISTS `audit_db`.`huggingface_logs_local_v2` ON CLUSTER `prod` SYNC",
		"CREATE TABLE IF NOT EXISTS `audit_db`.`huggingface_logs_local_v2` ON CLUSTER `prod`",
		"CREATE TABLE IF NOT EXISTS `audit_db`.`huggingface_logs_v2` ON CLUSTER `prod` AS `audit_db`.`huggingface_logs_local_v2`",
		"INSERT INTO `audit_db`.`huggingface_logs_v2`",
		"EXCHANGE TABLES `audit_db`.`huggingface_logs_local` AND `audit_db`.`huggingface_logs_local_v2` ON CLUSTER `prod`",
		"DROP TABLE IF EXISTS `audit_db`.`huggingface_logs_v2` ON CLUSTER `prod` SYNC",
		"ALTER TABLE `audit_db`.`huggingface_logs` ON CLUSTER `prod` MODIFY COLUMN `workspaceID` LowCardinality(String), MODIFY COLUMN `sourceID` LowCardinality(String), " +
			"MODIFY COLUMN `sourceType` LowCardinality(String), MODIFY COLUMN `eventName` LowCardinality(String), MODIFY COLUMN `srcASCountryCode` LowCardinality(String), " +
			"MODIFY COLUMN `dstASCountryCode` LowCardinality(String), MODIFY COLUMN `serviceName` LowCardinality(String), MODIFY COLUMN `eventType` LowCardinality(String), " +
			"MODIFY COLUMN `authorType` LowCardinality(String), MODIFY COLUMN `locationCountry` LowCardinality(String), MODIFY COLUMN `tokenType` LowCardinality(String), " +
			"MODIFY COLUMN `tokenRole` LowCardinality(String)",
		"RENAME TABLE `audit_db`.`huggingface_logs_local_v2` TO `audit_db`.`huggingface_logs_local_old` ON CLUSTER `prod`",
	}
	want = append(want, firstLines(StatementsFor(o))...)
	stmts, err := MigrationStatements(o)
	if err != nil {
		t.Fatal(err)
	}
	if got := firstLines(stmts); !slices.Equal(got, want) {
		t.Fatalf("cluster migration:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The new local table is the one a new installation gets, under its
	// own Keeper path ({table} is the new name).
	if got := strings.Replace(stmts[2], "huggingface_logs_local_v2", "huggingface_logs_local", 1); got != StatementsFor(o)[1] {
		t.Errorf("the migration's local table differs from the installation's:\n%s", stmts[2])
	}
	if !strings.Contains(stmts[3], "ENGINE = Distributed('prod', 'audit_db', 'huggingface_logs_local_v2', cityHash64(id))") {
		t.Errorf("copy table: %s", stmts[3])
	}
	if !strings.Contains(stmts[4], "\nSETTINGS distributed_foreground_insert = 1\nSELECT ") {
		t.Errorf("the copy does not wait for the shards: %s", stmts[4])
	}
	// Both replicated tables live side by side during the copy: their
	// Keeper paths must differ.
	_, err = MigrationStatements(Options{Cluster: "prod", ReplicaPath: "/ch/{shard}/hf"})
	if err == nil || !strings.Contains(err.Error(), "must hold {table} or {uuid}") {
		t.Errorf("fixed replica path: %v", err)
	}
	if _, err := plan(Options{Cluster: "prod", ReplicaPath: "/ch/{shard}/hf"}.withDefaults(), state{key: SortingKey, exists: map[string]bool{LocalTable: true}}); err != nil {
		t.Errorf("fixed replica path without a migration: %v", err)
	}

	// The advice to drop an old table reaches every node.
	_, err = plan(o, state{key: oldKey, exists: map[string]bool{LocalTable: true, OldLocalTable: true}})
	if err == nil || !strings.Contains(err.Error(), "DROP TABLE `audit_db`.`huggingface_logs_local_old` ON CLUSTER `prod` SYNC") {
		t.Errorf("old table left on a cluster: %v", err)
	}

	o.DropOld = true
	if stmts, err = MigrationStatements(o); err != nil {
		t.Fatal(err)
	}
	if got := stmts[len(stmts)-2]; !strings.Contains(got, "FROM cluster('prod', 'audit_db', 'huggingface_logs_local_old')\nWHERE id GLOBAL NOT IN (SELECT id FROM `audit_db`.`huggingface_logs`)") {
		t.Errorf("drop-old check: %s", got)
	}
	if got := stmts[len(stmts)-1]; got != "DROP TABLE IF EXISTS `audit_db`.`huggingface_logs_local_old` ON CLUSTER `prod` SYNC" {
		t.Errorf("drop-old: %s", got)
	}
}

// applyRefused runs Apply against a server that answers each system query
// holding a key of answers with its value (nothing else), and fails the test
// if any statement but a system query was sent. It returns Apply's error.
func applyRefused(t *testing.T, answers map[string]string, o Options) error {
	t.Helper()
	var ddl []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		q := string(b)
		if !strings.Contains(q, "FROM system.") {
			ddl = append(ddl, q)
			return
		}
		for key, answer := range answers {
			if strings.Contains(q, key) {
				_, _ = io.WriteString(w, answer+"\n")
			}
		}
	}))
	defer srv.Close()
	err := Apply(context.Background(), Target{DSN: srv.URL}, o, nil)
	if len(ddl) != 0 {
		t.Fatalf("sent %q", firstLines(ddl))
	}
	return err
}

// Apply reads the logs table's column types first and sends nothing to a
// logs table in the exporter's JSON layout.
func TestApplyRefusesJSON(t *testing.T) {
	err := applyRefused(t, map[string]string{
		"FROM system.columns": `{"table":"otel_logs","name":"LogAttributes","type":"JSON","default_expression":""}`,
	}, Options{})
	if err == nil || !strings.Contains(err.Error(), "otel.otel_logs column LogAttributes is JSON, not a Map") || !strings.Contains(err.Error(), "json: false") {
		t.Fatalf("error: %v", err)
	}
}

// An installation made with -cluster, run without it (or the reverse), is
// refused: the run would not migrate it, yet end with "done".
func TestApplyRefusesOtherLayout(t *testing.T) {
	for _, tc := range []struct {
		name, engine, cluster, want string
	}{
		{"cluster installation without -cluster", "Distributed", "", "run hfauditschema with -cluster"},
		{"single installation with -cluster", "ReplacingMergeTree", "audit", "run hfauditschema without -cluster"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := applyRefused(t, map[string]string{
				"FROM system.tables": `{"name":"huggingface_logs","engine":"` + tc.engine + `","sorting_key":"","engine_full":""}`,
			}, Options{Cluster: tc.cluster})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error: %v", err)
			}
		})
	}
}
