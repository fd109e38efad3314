// Package clickhouse holds the SQL that builds the typed huggingface_logs
// table in ClickHouse from the otel_logs table written by the contrib
// clickhouseexporter, and splits it into statements for a client to send.
package clickhouse // import "github.com/hfauditlog/huggingfaceauditreceiver/clickhouse"

import (
	_ "embed"
	"fmt"
	"iter"
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
// order of the reference table (SPEC §6). Columns with few distinct values
// are LowCardinality(String), a storage form of String.
var Columns = [][2]string{
	{"workspaceID", "LowCardinality(String)"}, {"sourceID", "LowCardinality(String)"}, {"sourceType", "LowCardinality(String)"}, {"sourceTTL", "UInt32"},
	{"receivedAt", "DateTime"}, {"id", "String"}, {"eventTime", "DateTime"}, {"eventName", "LowCardinality(String)"},
	{"eventID", "String"}, {"srcIP", "String"}, {"srcASCountryCode", "LowCardinality(String)"}, {"srcASNumber", "UInt32"},
	{"srcASOrganization", "String"}, {"srcCity", "String"}, {"srcConnectionType", "String"}, {"srcISP", "String"},
	{"srcLatitude", "Float64"}, {"srcLongitude", "Float64"}, {"srcUserType", "String"}, {"dstIP", "String"},
	{"dstASCountryCode", "LowCardinality(String)"}, {"dstASNumber", "UInt32"}, {"dstASOrganization", "String"}, {"dstCity", "String"},
	{"dstConnectionType", "String"}, {"dstISP", "String"}, {"dstLatitude", "Float64"}, {"dstLongitude", "Float64"},
	{"dstUserType", "String"}, {"actor", "Map(String, String)"}, {"tags", "Map(String, String)"},
	{"resources", "Array(String)"}, {"serviceName", "LowCardinality(String)"},
	{"enrichments", "Array(Tuple(data Map(String, String), name String, provider String, type String, value String))"},
	{"readOnly", "Bool"}, {"rawLog", "String"}, {"auditID", "String"}, {"eventType", "LowCardinality(String)"}, {"message", "String"},
	{"authorID", "String"}, {"authorUser", "String"}, {"authorType", "LowCardinality(String)"}, {"actorIP", "String"},
	{"locationFormatted", "String"}, {"locationCountry", "LowCardinality(String)"}, {"locationCity", "String"}, {"tokenType", "LowCardinality(String)"},
	{"tokenID", "String"}, {"tokenRole", "LowCardinality(String)"}, {"tokenLast4", "String"}, {"tokenDeleted", "Bool"},
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
	// DropOld drops OldTable (OldLocalTable on a cluster), which a migration
	// leaves, once every event id it holds is in Table.
	DropOld bool

	// oldTTL and oldSourceTTL are the TTL expression and sourceTTL default
	// of the table a migration replaces, kept when TTLDays is zero.
	oldTTL       string
	oldSourceTTL uint32
	// oldSettings are the SETTINGS of that table ("name = value"), kept on
	// the new one.
	oldSettings []string
}

// Statements returns the statements for database (empty: "otel") and the
// exporter's default logs table, in the order they must run. Each one is
// idempotent.
func Statements(database string) []string {
	return StatementsFor(Options{Database: database})
}

// StatementsFor returns the statements for o, in the order they must run,
// as they create the schema. On an installation with an older sorting key,
// Apply runs MigrationStatements first.
func StatementsFor(o Options) []string {
	o = o.withDefaults()
	return build(o, Table, o.storage(), View).all()
}

// withDefaults fills the empty fields of o with their defaults.
func (o Options) withDefaults() Options {
	if o.Database == "" {
		o.Database = DefaultDatabase
	}
	if o.LogsTable == "" {
		o.LogsTable = DefaultLogsTable
	}
	if o.Cluster != "" {
		if o.ReplicaPath == "" {
			o.ReplicaPath = DefaultReplicaPath
		}
		if o.ReplicaName == "" {
			o.ReplicaName = DefaultReplicaName
		}
	}
	return o
}

// storage is the table that holds the rows: Table, or LocalTable on a
// cluster.
func (o Options) storage() string {
	if o.Cluster != "" {
		return LocalTable
	}
	return Table
}

// onCluster is the ON CLUSTER clause of every DDL statement, or "".
func (o Options) onCluster() string {
	if o.Cluster == "" {
		return ""
	}
	return " ON CLUSTER `" + quoteIdent(o.Cluster) + "`"
}

// ident is the quoted name of table in o's database.
func (o Options) ident(table string) string {
	return "`" + quoteIdent(o.Database) + "`.`" + quoteIdent(table) + "`"
}

// schema is the statements of huggingface_logs.sql for one set of names.
type schema struct {
	database string
	// tables creates the storage table, sets its TTL and, on a cluster,
	// creates the Distributed table over it.
	tables   []string
	view     string
	backfill string
}

func (s schema) all() []string {
	return append(append([]string{s.database}, s.tables...), s.view, s.backfill)
}

// build fills huggingface_logs.sql for o (with defaults) with the given
// names: table is what queries read (on a cluster, the Distributed table),
// storage the table that holds the rows, view the materialized view. The
// view and the backfill always write into Table.
func build(o Options, table, storage, view string) schema {
	db := quoteIdent(o.Database)
	engine, backfillSource, notIn := "ReplacingMergeTree(receivedAt)", o.ident(o.LogsTable), "NOT IN"
	if o.Cluster != "" {
		engine = fmt.Sprintf("ReplicatedReplacingMergeTree(%s, %s, receivedAt)", quoteString(o.ReplicaPath), quoteString(o.ReplicaName))
		// cluster() reads one replica of every shard; the ids already in
		// the Distributed table are gathered once and sent to the shards.
		backfillSource = fmt.Sprintf("cluster(%s, %s, %s)", quoteString(o.Cluster), quoteString(o.Database), quoteString(o.LogsTable))
		notIn = "GLOBAL NOT IN"
	}
	r := strings.NewReplacer(
		"{{database}}", db,
		"{{logs_table}}", quoteIdent(o.LogsTable),
		"{{on_cluster}}", o.onCluster(),
		"{{view}}", quoteIdent(view),
		"{{storage_table}}", quoteIdent(storage),
		"{{engine}}", engine,
		"{{backfill_source}}", backfillSource,
		"{{not_in}}", notIn,
	)
	// The backfill runs the view's SELECT over {{backfill_source}}.
	const viewFrom = "\nFROM `{{database}}`.`{{logs_table}}`\n"
	backfill := strings.Replace(viewSelect(SQL), viewFrom, "\nFROM {{backfill_source}}\n", 1)
	script := strings.Replace(SQL, "\n{{select}}\n", "\n"+backfill+"\n", 1)
	var s schema
	for _, stmt := range split(script) {
		stmt = r.Replace(stmt)
		switch {
		case strings.HasPrefix(stmt, "CREATE DATABASE"):
			s.database = stmt
		case strings.HasPrefix(stmt, "CREATE TABLE"):
			s.tables = append(s.tables, withSettings(stmt, o.oldSettings))
			s.tables = append(s.tables, ttlStatements(o, storage)...)
			if o.Cluster != "" {
				// Created AS the local table: same columns and defaults (skip
				// indexes are MergeTree-only and not copied).
				s.tables = append(s.tables, fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s%s AS %s\nENGINE = Distributed(%s, %s, %s, cityHash64(id))",
					o.ident(table), o.onCluster(), o.ident(storage), quoteString(o.Cluster), quoteString(o.Database), quoteString(storage)))
				if o.TTLDays > 0 {
					// Rows inserted through the Distributed table take its
					// defaults: keep sourceTTL's in step on a re-run.
					s.tables = append(s.tables, alterTable(o, table, fmt.Sprintf("MODIFY COLUMN `sourceTTL` UInt32 DEFAULT %d", o.TTLDays)))
				}
			}
		case strings.HasPrefix(stmt, "CREATE MATERIALIZED VIEW"):
			s.view = stmt
		case strings.HasPrefix(stmt, "INSERT INTO"):
			s.backfill = stmt
		default:
			panic("huggingface_logs.sql: unexpected statement " + firstLine(stmt))
		}
	}
	return s
}

// withSettings returns the CREATE TABLE stmt with settings added to its
// SETTINGS line; one of the same name replaces the statement's.
func withSettings(stmt string, settings []string) string {
	i := strings.LastIndex(stmt, "\nSETTINGS ")
	if len(settings) == 0 || i < 0 {
		return stmt
	}
	list := splitTop(stmt[i+len("\nSETTINGS "):], ',')
	for _, s := range settings {
		name, _, _ := strings.Cut(s, "=")
		found := false
		for j, l := range list {
			if n, _, _ := strings.Cut(l, "="); strings.TrimSpace(n) == strings.TrimSpace(name) {
				list[j], found = s, true
			}
		}
		if !found {
			list = append(list, s)
		}
	}
	return stmt[:i] + "\nSETTINGS " + strings.Join(list, ", ")
}

// splitTop splits s at each sep outside quotes and parentheses, and trims
// the parts.
func splitTop(s string, sep byte) []string {
	var out []string
	from := 0
	for i := range topLevel(s) {
		if s[i] == sep {
			out = append(out, strings.TrimSpace(s[from:i]))
			from = i + 1
		}
	}
	if t := strings.TrimSpace(s[from:]); t != "" {
		out = append(out, t)
	}
	return out
}

// topLevel yields the index of each byte of s outside quotes (with their
// backslash escapes) and parentheses; quotes and parentheses themselves
// are not yielded.
func topLevel(s string) iter.Seq[int] {
	return func(yield func(int) bool) {
		depth, quote := 0, byte(0)
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case quote != 0:
				switch c {
				case '\\':
					i++
				case quote:
					quote = 0
				}
			case c == '\'' || c == '"' || c == '`':
				quote = c
			case c == '(':
				depth++
			case c == ')':
				depth--
			case depth == 0:
				if !yield(i) {
					return
				}
			}
		}
	}
}

// ttlStatements set the TTL of storage and the default of its sourceTTL,
// when o asks for a TTL.
// Without TTLDays, a migration keeps the old table's TTL and default as
// they were.
func ttlStatements(o Options, storage string) []string {
	if o.TTLDays == 0 {
		var out []string
		if o.oldTTL != "" {
			out = append(out, alterTable(o, storage, "MODIFY TTL "+o.oldTTL))
		}
		if o.oldSourceTTL > 0 {
			out = append(out, alterTable(o, storage, fmt.Sprintf("MODIFY COLUMN `sourceTTL` UInt32 DEFAULT %d", o.oldSourceTTL)))
		}
		return out
	}
	return []string{
		alterTable(o, storage, fmt.Sprintf("MODIFY TTL eventTime + INTERVAL %d DAY", o.TTLDays)),
		alterTable(o, storage, fmt.Sprintf("MODIFY COLUMN `sourceTTL` UInt32 DEFAULT %d", o.TTLDays)),
	}
}

func alterTable(o Options, table, change string) string {
	return fmt.Sprintf("ALTER TABLE %s%s %s", o.ident(table), o.onCluster(), change)
}

// firstLine is the first line of a statement, for messages.
func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// Script is the statements for o as one SQL script, each ended by a
// semicolon (on a line of its own after a trailing comment), for
// `clickhouse-client --multiquery`.
func Script(o Options) string {
	return script(StatementsFor(o))
}

func script(stmts []string) string {
	var b strings.Builder
	for _, s := range stmts {
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
