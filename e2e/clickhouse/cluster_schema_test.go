package clickhouse

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
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
	post := func(sql string, params url.Values) string {
		resp, err := http.Post(baseURL+"/?"+params.Encode(), "text/plain", strings.NewReader(sql))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("ClickHouse does not parse:\n%s\nHTTP %d: %s", stmt, resp.StatusCode, b)
		}
		return string(b)
	}
	var row struct {
		F string `json:"f"`
	}
	body := post("SELECT formatQuery({q:String}) AS f FORMAT JSONEachRow", url.Values{"param_q": {tsvEscape.Replace(stmt)}})
	if err := json.Unmarshal([]byte(body), &row); err != nil || row.F == "" {
		t.Fatalf("formatQuery answer %q: %v", body, err)
	}
	return row.F, post("EXPLAIN AST "+stmt, nil)
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
