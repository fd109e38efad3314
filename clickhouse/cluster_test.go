package clickhouse

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The scripts hfauditschema -print and -print-migration write, single node
// and cluster, match the reviewed golden files. Regenerate with go test
// ./clickhouse -update after a deliberate change, and review the diff.
// testdata/v1 holds the first schema, which installations may still have.
func TestScriptGolden(t *testing.T) {
	for name, script := range map[string]string{
		"single.sql":          Script(Options{}),
		"cluster.sql":         Script(Options{Cluster: "audit", TTLDays: 400}),
		"migrate-single.sql":  mustMigrationScript(t, Options{DropOld: true}),
		"migrate-cluster.sql": mustMigrationScript(t, Options{Cluster: "audit", TTLDays: 400, DropOld: true}),
	} {
		t.Run(name, func(t *testing.T) {
			got := script
			path := filepath.Join("testdata", name)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("the script differs from %s (go test ./clickhouse -update rewrites it):\n%s", path, got)
			}
		})
	}
}

func mustMigrationScript(t *testing.T, o Options) string {
	t.Helper()
	s, err := MigrationScript(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestClusterStatements(t *testing.T) {
	single := StatementsFor(Options{Database: "audit_db", TTLDays: 30})
	stmts := StatementsFor(Options{Database: "audit_db", TTLDays: 30, Cluster: "prod"})
	prefixes := []string{
		"CREATE DATABASE IF NOT EXISTS `audit_db` ON CLUSTER `prod`",
		"CREATE TABLE IF NOT EXISTS `audit_db`.`huggingface_logs_local` ON CLUSTER `prod`\n(",
		"ALTER TABLE `audit_db`.`huggingface_logs_local` ON CLUSTER `prod` MODIFY TTL eventTime + INTERVAL 30 DAY",
		"ALTER TABLE `audit_db`.`huggingface_logs_local` ON CLUSTER `prod` MODIFY COLUMN `sourceTTL` UInt32 DEFAULT 30",
		"CREATE TABLE IF NOT EXISTS `audit_db`.`huggingface_logs` ON CLUSTER `prod` AS `audit_db`.`huggingface_logs_local`\n" +
			"ENGINE = Distributed('prod', 'audit_db', 'huggingface_logs_local', cityHash64(id))",
		"ALTER TABLE `audit_db`.`huggingface_logs` ON CLUSTER `prod` MODIFY COLUMN `sourceTTL` UInt32 DEFAULT 30",
		"CREATE MATERIALIZED VIEW IF NOT EXISTS `audit_db`.`huggingface_logs_mv` ON CLUSTER `prod`\nTO `audit_db`.`huggingface_logs`\n",
		"INSERT INTO `audit_db`.`huggingface_logs`\n",
	}
	if len(stmts) != len(prefixes) {
		t.Fatalf("%d statements, want %d:\n%s", len(stmts), len(prefixes), strings.Join(stmts, "\n;\n"))
	}
	for i, s := range stmts {
		if !strings.HasPrefix(s, prefixes[i]) {
			t.Errorf("statement %d starts %q, want %q", i, firstLine(s), prefixes[i])
		}
		if strings.Contains(s, "{{") || strings.Contains(s, "}}") {
			t.Errorf("statement %d keeps a placeholder", i)
		}
	}

	// The local table: the 51 columns, replicated with the server's macros,
	// the single-node table's key, partitioning and indexes.
	local := stmts[1]
	checkColumns(t, local)
	if want := "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', receivedAt)\n"; !strings.Contains(local, want) {
		t.Errorf("local table engine: want %q in\n%s", want, local)
	}
	if got, want := strings.Replace(strings.Replace(local, "huggingface_logs_local` ON CLUSTER `prod`", "huggingface_logs`", 1),
		"ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', receivedAt)", "ReplacingMergeTree(receivedAt)", 1), single[1]; got != want {
		t.Errorf("the local table differs from the single-node table beyond name, ON CLUSTER and engine:\n%s\n---\n%s", got, want)
	}

	// The view: the single-node view plus ON CLUSTER, nothing else.
	if got := strings.Replace(stmts[6], " ON CLUSTER `prod`", "", 1); got != single[4] {
		t.Errorf("the cluster view differs from the single-node view beyond ON CLUSTER:\n%s", stmts[6])
	}
	// The backfill reads every shard and compares ids globally.
	wantBackfill := strings.Replace(strings.Replace(single[5],
		"\nFROM `audit_db`.`otel_logs`\n", "\nFROM cluster('prod', 'audit_db', 'otel_logs')\n", 1),
		"WHERE id NOT IN (", "WHERE id GLOBAL NOT IN (", 1)
	if stmts[7] != wantBackfill {
		t.Errorf("cluster backfill:\n%s", stmts[7])
	}

	// Names are quoted as identifiers and as string literals.
	odd := StatementsFor(Options{Cluster: "we'ird`c\\x", ReplicaPath: "/p/{shard}", ReplicaName: "r-{replica}"})
	if !strings.Contains(odd[0], "ON CLUSTER `we'ird\\`c\\\\x`") {
		t.Errorf("cluster identifier not escaped: %q", odd[0])
	}
	if !strings.Contains(odd[1], "ReplicatedReplacingMergeTree('/p/{shard}', 'r-{replica}', receivedAt)") {
		t.Errorf("replica path and name: %q", firstLine(odd[1]))
	}
	if !strings.Contains(odd[2], "Distributed('we\\'ird`c\\\\x', 'otel', 'huggingface_logs_local', cityHash64(id))") {
		t.Errorf("cluster literal not escaped: %q", odd[2])
	}
}

func TestScriptEndsStatements(t *testing.T) {
	script := Script(Options{})
	// The view ends with the "-- END SELECT" comment: its semicolon must
	// not be commented out.
	if !strings.Contains(script, "-- END SELECT\n;\n") || strings.Contains(script, "-- END SELECT;") {
		t.Errorf("the view's semicolon is inside a comment")
	}
	if n := strings.Count(script, ";\n\n"); n != 4 {
		t.Errorf("%d statement ends, want 4", n)
	}
}
