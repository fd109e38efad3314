package clickhouse

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hfauditlog/huggingfaceauditreceiver/clickhouse"
)

// chParse asks the engine to parse stmt without running it: formatQuery
// returns ClickHouse's canonical text of the statement, EXPLAIN AST its
// syntax tree. A statement that does not parse fails the test with
// ClickHouse's error. (The cluster statements cannot run here: chDB has no
// Keeper and no remote_servers, so ON CLUSTER, Replicated* and Distributed
// are checked as syntax, by the real parser, and not executed.)
func chParse(t *testing.T, stmt string) (formatted, ast string) {
	t.Helper()
	parse := func(sql string, params url.Values) string {
		out, err := post(sql, params)
		if err != nil {
			t.Fatalf("ClickHouse does not parse:\n%s\n%v", stmt, err)
		}
		return out
	}
	var row struct {
		F string `json:"f"`
	}
	body := parse("SELECT formatQuery({q:String}) AS f FORMAT JSONEachRow", url.Values{"param_q": {tsvEscape.Replace(stmt)}})
	if err := json.Unmarshal([]byte(body), &row); err != nil || row.F == "" {
		t.Fatalf("formatQuery answer %q: %v", body, err)
	}
	return row.F, parse("EXPLAIN AST "+stmt, nil)
}

// Every statement hfauditschema generates, single node and cluster, parses
// in ClickHouse; the cluster statements say ON CLUSTER and name the engines
// the issue asks for, and differ from the single-node ones only where they
// must.
func TestSchemaParses(t *testing.T) {
	single := clickhouse.StatementsFor(clickhouse.Options{Database: "otel", TTLDays: 400})
	cluster := clickhouse.StatementsFor(clickhouse.Options{Database: "otel", TTLDays: 400, Cluster: "audit"})
	var singleView string
	for _, s := range single {
		if f, _ := chParse(t, s); strings.HasPrefix(f, "CREATE MATERIALIZED VIEW") {
			singleView = f
		}
	}
	var engines []string
	for _, s := range cluster {
		f, ast := chParse(t, s)
		if !strings.HasPrefix(f, "INSERT") && !strings.Contains(f, " ON CLUSTER audit") {
			t.Errorf("ClickHouse reads no ON CLUSTER in:\n%s", f)
		}
		for _, e := range []string{"Function ReplicatedReplacingMergeTree", "Function Distributed"} {
			if strings.Contains(ast, e) {
				engines = append(engines, e)
			}
		}
		switch {
		case strings.HasPrefix(f, "CREATE MATERIALIZED VIEW"):
			// The view is the single-node view, ON CLUSTER.
			if got, want := strings.Replace(f, " ON CLUSTER audit", "", 1), singleView; got != want {
				t.Errorf("cluster view, as ClickHouse reads it, differs from the single-node view beyond ON CLUSTER:\n%s\n---\n%s", got, want)
			}
		case strings.HasPrefix(f, "INSERT"):
			for _, want := range []string{"FROM cluster('audit', 'otel', 'otel_logs')", "GLOBAL NOT IN"} {
				if !strings.Contains(f, want) {
					t.Errorf("cluster backfill lacks %q:\n%s", want, f)
				}
			}
		}
	}
	if strings.Join(engines, ",") != "Function ReplicatedReplacingMergeTree,Function Distributed" {
		t.Errorf("engines in the cluster statements: %q", engines)
	}
}

// tsvEscape escapes a query parameter's value: ClickHouse reads it in the
// escaped (TabSeparated) form.
var tsvEscape = strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\t", `\t`)

// The engine examples/clickhouse-cluster.yaml gives the exporter for
// otel_logs parses, with the example's cluster name, as the exporter writes
// it (ENGINE = name(params), ON CLUSTER `cluster_name`).
func TestClusterExampleEngineParses(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "examples", "clickhouse-cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	example := string(b)
	field := func(re string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(example)
		if m == nil {
			t.Fatalf("no match for %s in the example", re)
		}
		return m[1]
	}
	cluster := field(`(?m)^\s+cluster_name:\s*(\S+)\s*$`)
	name := field(`(?m)^\s+table_engine:\s*\n\s+name:\s*(\S+)\s*$`)
	params := field(`(?m)^\s+params:\s*"(.*)"\s*$`)
	stmt := fmt.Sprintf("CREATE TABLE IF NOT EXISTS `otel`.`otel_logs` ON CLUSTER `%s` (`Timestamp` DateTime64(9), `ServiceName` LowCardinality(String)) ENGINE = %s(%s) ORDER BY (ServiceName, Timestamp)",
		cluster, name, params)
	f, ast := chParse(t, stmt)
	if !strings.Contains(f, "ON CLUSTER "+cluster) || !strings.Contains(ast, "Function ReplicatedMergeTree") ||
		!strings.Contains(f, `ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')`) {
		t.Errorf("the example's engine, as ClickHouse reads it:\n%s\n%s", f, ast)
	}
	// The schema's cluster must be the exporter's.
	if cluster != "audit" || !strings.Contains(example, "-cluster "+cluster) {
		t.Errorf("the example's cluster_name %q and its hfauditschema -cluster differ", cluster)
	}
}

// Every statement of a migration, single node and cluster (with -ttl and
// -drop-old), parses in ClickHouse; on a cluster every DDL statement is ON
// CLUSTER, and the copy waits for the shards.
func TestMigrationParses(t *testing.T) {
	for _, o := range []clickhouse.Options{{Database: "otel", DropOld: true}, {Database: "otel", TTLDays: 400, Cluster: "audit", DropOld: true}} {
		copied := false
		stmts, err := clickhouse.MigrationStatements(o)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stmts {
			f, _ := chParse(t, s)
			if o.Cluster == "" {
				continue
			}
			data := strings.HasPrefix(f, "INSERT") || strings.HasPrefix(f, "SELECT")
			if !data && !strings.Contains(f, " ON CLUSTER audit") {
				t.Errorf("ClickHouse reads no ON CLUSTER in:\n%s", f)
			}
			if strings.HasPrefix(f, "INSERT INTO otel.huggingface_logs_v2") {
				copied = strings.Contains(f, "distributed_foreground_insert = 1")
			}
		}
		if o.Cluster != "" && !copied {
			t.Error("the cluster copy does not wait for the shards, as ClickHouse reads it")
		}
	}
}
