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

// SQL is huggingface_logs.sql, with its {{database}} and {{logs_table}}
// placeholders, and {{select}}: the backfill reuses the view's SELECT (the
// text between the "-- BEGIN SELECT" and "-- END SELECT" lines), so the two
// cannot drift apart.
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
	r := strings.NewReplacer(
		"{{database}}", quoteIdent(o.Database),
		"{{logs_table}}", quoteIdent(o.LogsTable),
	)
	script := strings.Replace(SQL, "{{select}}", viewSelect(SQL), 1)
	var out []string
	for _, s := range split(script) {
		s = r.Replace(s)
		out = append(out, s)
		if o.TTLDays > 0 && strings.HasPrefix(s, "CREATE TABLE") {
			tbl := "`" + quoteIdent(o.Database) + "`.`" + Table + "`"
			out = append(out,
				fmt.Sprintf("ALTER TABLE %s MODIFY TTL eventTime + INTERVAL %d DAY", tbl, o.TTLDays),
				fmt.Sprintf("ALTER TABLE %s MODIFY COLUMN `sourceTTL` UInt32 DEFAULT %d", tbl, o.TTLDays))
		}
	}
	return out
}

var selectMarkers = regexp.MustCompile(`(?s)-- BEGIN SELECT\n(.*?)-- END SELECT`)

// viewSelect is the materialized view's SELECT.
func viewSelect(script string) string {
	return selectMarkers.FindStringSubmatch(script)[1]
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
