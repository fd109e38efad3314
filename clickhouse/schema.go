// Package clickhouse holds the SQL that builds the typed huggingface_logs
// table in ClickHouse from the otel_logs table written by the contrib
// clickhouseexporter, and splits it into statements for a client to send.
package clickhouse // import "github.com/hfauditlog/huggingfaceauditreceiver/clickhouse"

import (
	_ "embed"
	"fmt"
	"regexp"
	"strings"
)

// SQL is huggingface_logs.sql, with its {{database}}, {{logs_table}} and
// cluster placeholders, and {{select}}: the backfill reuses the view's
// SELECT (the text between the "-- BEGIN SELECT" and "-- END SELECT" lines),
// so the two cannot drift apart.
//
//go:embed huggingface_logs.sql
var SQL string

// Defaults of the clickhouseexporter this schema reads from.
const (
	DefaultDatabase  = "otel"
	DefaultLogsTable = "otel_logs"
	// Table is the table the statements create.
	Table = "huggingface_logs"
	// View is the materialized view that fills Table.
	View = "huggingface_logs_mv"
	// LocalTable is, on a cluster, the replicated table of each shard that
	// the Distributed table Table spreads rows over.
	LocalTable = "huggingface_logs_local"
	// DefaultReplicaPath is the Keeper path of LocalTable's replicas: the
	// server expands the {shard} macro from its configuration and
	// {database} and {table} from the statement.
	DefaultReplicaPath = "/clickhouse/tables/{shard}/{database}/{table}"
	// DefaultReplicaName is the replica name: the server's {replica} macro.
	DefaultReplicaName = "{replica}"
)

// Columns are the name and type of every column of huggingface_logs, in the
// order of the reference table (SPEC §6).
var Columns = [][2]string{
	{"workspaceID", "String"}, {"sourceID", "String"}, {"sourceType", "String"}, {"sourceTTL", "UInt32"},
	{"receivedAt", "DateTime"}, {"id", "String"}, {"eventTime", "DateTime"}, {"eventName", "String"},
	{"eventID", "String"}, {"srcIP", "String"}, {"srcASCountryCode", "String"}, {"srcASNumber", "UInt32"},
	{"srcASOrganization", "String"}, {"srcCity", "String"}, {"srcConnectionType", "String"}, {"srcISP", "String"},
	{"srcLatitude", "Float64"}, {"srcLongitude", "Float64"}, {"srcUserType", "String"}, {"dstIP", "String"},
	{"dstASCountryCode", "String"}, {"dstASNumber", "UInt32"}, {"dstASOrganization", "String"}, {"dstCity", "String"},
	{"dstConnectionType", "String"}, {"dstISP", "String"}, {"dstLatitude", "Float64"}, {"dstLongitude", "Float64"},
	{"dstUserType", "String"}, {"actor", "Map(String, String)"}, {"tags", "Map(String, String)"},
	{"resources", "Array(String)"}, {"serviceName", "String"},
	{"enrichments", "Array(Tuple(data Map(String, String), name String, provider String, type String, value String))"},
	{"readOnly", "Bool"}, {"rawLog", "String"}, {"auditID", "String"}, {"eventType", "String"}, {"message", "String"},
	{"authorID", "String"}, {"authorUser", "String"}, {"authorType", "String"}, {"actorIP", "String"},
	{"locationFormatted", "String"}, {"locationCountry", "String"}, {"locationCity", "String"}, {"tokenType", "String"},
	{"tokenID", "String"}, {"tokenRole", "String"}, {"tokenLast4", "String"}, {"tokenDeleted", "Bool"},
}

// Options selects where the statements apply.
type Options struct {
	// Database is the exporter's database; empty means DefaultDatabase.
	Database string
	// LogsTable is the exporter's logs table; empty means DefaultLogsTable.
	LogsTable string
	// TTLDays, when positive, adds statements that set the table's TTL
	// (eventTime + TTLDays days) and make sourceTTL default to TTLDays.
	// Zero leaves an existing TTL as it is.
	TTLDays uint32
	// Cluster, when set, makes every statement ON CLUSTER Cluster: the
	// table becomes LocalTable (ReplicatedReplacingMergeTree), Table a
	// Distributed table over it sharded by cityHash64(id), and the backfill
	// reads LogsTable on every shard. It must be the exporter's
	// cluster_name.
	Cluster string
	// ReplicaPath and ReplicaName are the ReplicatedReplacingMergeTree
	// arguments with Cluster; empty means DefaultReplicaPath and
	// DefaultReplicaName.
	ReplicaPath, ReplicaName string
}

// Statements returns the statements for database (empty: "otel") and the
// exporter's default logs table, in the order they must run. Each one is
// idempotent.
func Statements(database string) []string {
	return StatementsFor(Options{Database: database})
}

// StatementsFor returns the statements for o, in the order they must run.
func StatementsFor(o Options) []string {
	if o.Database == "" {
		o.Database = DefaultDatabase
	}
	if o.LogsTable == "" {
		o.LogsTable = DefaultLogsTable
	}
	db := quoteIdent(o.Database)
	logs := "`" + db + "`.`" + quoteIdent(o.LogsTable) + "`"
	storage, engine, onCluster, backfillSource, notIn := Table, "ReplacingMergeTree", "", logs, "NOT IN"
	if o.Cluster != "" {
		if o.ReplicaPath == "" {
			o.ReplicaPath = DefaultReplicaPath
		}
		if o.ReplicaName == "" {
			o.ReplicaName = DefaultReplicaName
		}
		storage = LocalTable
		engine = fmt.Sprintf("ReplicatedReplacingMergeTree(%s, %s)", quoteString(o.ReplicaPath), quoteString(o.ReplicaName))
		onCluster = " ON CLUSTER `" + quoteIdent(o.Cluster) + "`"
		// cluster() reads one replica of every shard; the ids already in
		// the Distributed table are gathered once and sent to the shards.
		backfillSource = fmt.Sprintf("cluster(%s, %s, %s)", quoteString(o.Cluster), quoteString(o.Database), quoteString(o.LogsTable))
		notIn = "GLOBAL NOT IN"
	}
	r := strings.NewReplacer(
		"{{database}}", db,
		"{{logs_table}}", quoteIdent(o.LogsTable),
		"{{on_cluster}}", onCluster,
		"{{storage_table}}", storage,
		"{{engine}}", engine,
		"{{backfill_source}}", backfillSource,
		"{{not_in}}", notIn,
	)
	// The backfill runs the view's SELECT over {{backfill_source}}.
	const viewFrom = "\nFROM `{{database}}`.`{{logs_table}}`\n"
	backfill := strings.Replace(viewSelect(SQL), viewFrom, "\nFROM {{backfill_source}}\n", 1)
	script := strings.Replace(SQL, "\n{{select}}\n", "\n"+backfill+"\n", 1)
	alter := func(table, change string) string {
		return fmt.Sprintf("ALTER TABLE `%s`.`%s`%s %s", db, table, onCluster, change)
	}
	var out []string
	for _, s := range split(script) {
		s = r.Replace(s)
		out = append(out, s)
		if !strings.HasPrefix(s, "CREATE TABLE") {
			continue
		}
		if o.TTLDays > 0 {
			out = append(out,
				alter(storage, fmt.Sprintf("MODIFY TTL eventTime + INTERVAL %d DAY", o.TTLDays)),
				alter(storage, fmt.Sprintf("MODIFY COLUMN `sourceTTL` UInt32 DEFAULT %d", o.TTLDays)))
		}
		if o.Cluster != "" {
			// Created AS the local table: same columns and defaults (skip
			// indexes are MergeTree-only and not copied).
			out = append(out, fmt.Sprintf("CREATE TABLE IF NOT EXISTS `%s`.`%s`%s AS `%s`.`%s`\nENGINE = Distributed(%s, %s, %s, cityHash64(id))",
				db, Table, onCluster, db, LocalTable, quoteString(o.Cluster), quoteString(o.Database), quoteString(LocalTable)))
			if o.TTLDays > 0 {
				// Rows inserted through the Distributed table take its
				// defaults: keep sourceTTL's in step on a re-run.
				out = append(out, alter(Table, fmt.Sprintf("MODIFY COLUMN `sourceTTL` UInt32 DEFAULT %d", o.TTLDays)))
			}
		}
	}
	return out
}

// Script is the statements for o as one SQL script, each ended by a
// semicolon (on a line of its own after a trailing comment), for
// `clickhouse-client --multiquery`.
func Script(o Options) string {
	var b strings.Builder
	for _, s := range StatementsFor(o) {
		b.WriteString(s)
		if i := strings.LastIndexByte(s, '\n'); strings.HasPrefix(strings.TrimSpace(s[i+1:]), "--") {
			b.WriteString("\n")
		}
		b.WriteString(";\n\n")
	}
	return b.String()
}

var selectMarkers = regexp.MustCompile(`(?s)-- BEGIN SELECT\n(.*?)-- END SELECT`)

// viewSelect is the materialized view's SELECT.
func viewSelect(script string) string {
	return selectMarkers.FindStringSubmatch(script)[1]
}

// quoteString is s as a single-quoted SQL string literal.
func quoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}

// quoteIdent escapes s for use between backticks.
func quoteIdent(s string) string {
	return strings.NewReplacer(`\`, `\\`, "`", "\\`").Replace(s)
}

var statementEnd = regexp.MustCompile(`;[ \t]*(\n|$)`)

// split cuts the script at semicolons that end a line and drops the parts
// that hold only comments and blank lines.
func split(script string) []string {
	var out []string
	for _, part := range statementEnd.Split(script, -1) {
		if hasCode(part) {
			out = append(out, strings.TrimSpace(stripLeadingComments(part)))
		}
	}
	return out
}

func hasCode(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "--") {
			return true
		}
	}
	return false
}

// stripLeadingComments drops the comment lines before the statement's
// first keyword, so that a statement starts with its verb.
func stripLeadingComments(s string) string {
	lines := strings.Split(s, "\n")
	for len(lines) > 0 {
		l := strings.TrimSpace(lines[0])
		if l != "" && !strings.HasPrefix(l, "--") {
			break
		}
		lines = lines[1:]
	}
	return strings.Join(lines, "\n")
}
