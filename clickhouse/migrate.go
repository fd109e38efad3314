package clickhouse

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// SortingKey is the sorting key of huggingface_logs, as system.tables shows
// it. An existing table with another key is migrated.
const SortingKey = "eventType, eventName, eventTime, id"

// Names of the tables a migration leaves behind.
const (
	// OldTable keeps the rows of huggingface_logs as they were before the
	// migration, until Options.DropOld drops it.
	OldTable = Table + oldSuffix
	// OldLocalTable is OldTable on a cluster: the old local table of each
	// shard.
	OldLocalTable = LocalTable + oldSuffix
)

const (
	oldSuffix = "_old"
	// nextSuffix names the table built with the new key before the swap.
	// A replicated table keeps in Keeper the path of the name it was
	// created with, so a later change of the key takes a new suffix.
	nextSuffix = "_v2"
)

// state is what the server holds before Apply.
type state struct {
	// key is the sorting key of the storage table; "" when it does not exist.
	key string
	// exists tells which of the tables Apply looks at exist.
	exists map[string]bool
	// sourceTTL is the default of the storage table's sourceTTL column.
	sourceTTL uint32
	// ttl is the storage table's TTL expression; "" when it has none.
	ttl string
	// settings are the storage table's SETTINGS, as "name = value".
	settings []string
	// viewSource is the database and name of the table View reads; empty
	// when unknown.
	viewSource [2]string
	// tableEngine is the engine of Table ("Distributed" on a cluster); ""
	// when it does not exist.
	tableEngine string
	// dbEngine is the database's engine; "" when it does not exist.
	dbEngine string
	// logAttrs and resAttrs are the types of the logs table's LogAttributes
	// and ResourceAttributes; "" when the table does not exist.
	logAttrs, resAttrs string
}

// inspect reads the state of o's tables from system.tables and
// system.columns.
func inspect(ctx context.Context, t Target, o Options) (state, error) {
	st := state{exists: map[string]bool{}}
	storage := o.storage()
	names := []string{storage, storage + nextSuffix, storage + oldSuffix, View}
	if storage != Table {
		names = append(names, Table)
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = quoteString(n)
	}
	type table struct {
		Name   string `json:"name"`
		Kind   string `json:"engine"`
		Key    string `json:"sorting_key"`
		Engine string `json:"engine_full"`
	}
	tables, err := queryRows[table](ctx, t, fmt.Sprintf("SELECT name, engine, sorting_key, engine_full FROM system.tables WHERE database = %s AND name IN (%s)",
		quoteString(o.Database), strings.Join(quoted, ", ")))
	if err != nil {
		return st, err
	}
	for _, tb := range tables {
		st.exists[tb.Name] = true
		if tb.Name == Table {
			st.tableEngine = tb.Kind
		}
		if tb.Name == storage {
			st.key = tb.Key
			st.ttl = clause(tb.Engine, "TTL")
			st.settings = splitTop(clause(tb.Engine, "SETTINGS"), ',')
		}
	}
	type database struct {
		Engine string `json:"engine"`
	}
	dbs, err := queryRows[database](ctx, t, "SELECT engine FROM system.databases WHERE name = "+quoteString(o.Database))
	if err != nil {
		return st, err
	}
	if len(dbs) == 1 {
		st.dbEngine = dbs[0].Engine
	}
	type source struct {
		Database string `json:"database"`
		Name     string `json:"name"`
	}
	sources, err := queryRows[source](ctx, t, fmt.Sprintf("SELECT database, name FROM system.tables "+
		"WHERE arrayExists((d, n) -> d = %s AND n = %s, dependencies_database, dependencies_table)",
		quoteString(o.Database), quoteString(View)))
	if err != nil {
		return st, err
	}
	if len(sources) == 1 {
		st.viewSource = [2]string{sources[0].Database, sources[0].Name}
	}
	type column struct {
		Table   string `json:"table"`
		Name    string `json:"name"`
		Type    string `json:"type"`
		Default string `json:"default_expression"`
	}
	cols, err := queryRows[column](ctx, t, fmt.Sprintf("SELECT table, name, type, default_expression FROM system.columns WHERE database = %s AND "+
		"((table = %s AND name IN ('LogAttributes', 'ResourceAttributes')) OR (table = %s AND name = 'sourceTTL'))",
		quoteString(o.Database), quoteString(o.LogsTable), quoteString(storage)))
	if err != nil {
		return st, err
	}
	for _, c := range cols {
		switch {
		case c.Table == o.LogsTable && c.Name == "LogAttributes":
			st.logAttrs = c.Type
		case c.Table == o.LogsTable && c.Name == "ResourceAttributes":
			st.resAttrs = c.Type
		case c.Table == storage && c.Name == "sourceTTL":
			if n, err := strconv.ParseUint(c.Default, 10, 32); err == nil {
				st.sourceTTL = uint32(n)
			}
		}
	}
	return st, nil
}

// queryRows runs sql with FORMAT JSONEachRow and decodes each row.
func queryRows[T any](ctx context.Context, t Target, sql string) ([]T, error) {
	body, err := t.Query(ctx, sql+" FORMAT JSONEachRow", nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", firstLine(sql), err)
	}
	out, err := DecodeRows[T](body)
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %w", firstLine(sql), err)
	}
	return out, nil
}

// DecodeRows decodes an answer in FORMAT JSONEachRow, a T per row.
func DecodeRows[T any](body []byte) ([]T, error) {
	var out []T
	dec := json.NewDecoder(bytes.NewReader(body))
	for dec.More() {
		var v T
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// plan returns the statements that bring a server in state st to the
// schema of o (with defaults): the migration when the table has another
// sorting key, or the end of one that was interrupted after its swap, then
// StatementsFor(o), then the removal of the old table when o.DropOld.
func plan(o Options, st state) ([]string, error) {
	for _, c := range [][2]string{{"LogAttributes", st.logAttrs}, {"ResourceAttributes", st.resAttrs}} {
		if col, typ := c[0], c[1]; typ != "" && !strings.HasPrefix(typ, "Map(") {
			return nil, fmt.Errorf("%s.%s column %s is %s, not a Map: the clickhouseexporter writes it with `json: true`, "+
				"and huggingface_logs reads the Map layout; set `json: false` (the default) on the exporter with a new logs_table_name, "+
				"then run hfauditschema with -logs-table set to it", o.Database, o.LogsTable, col, typ)
		}
	}
	switch {
	case o.Cluster == "" && st.tableEngine == "Distributed":
		return nil, fmt.Errorf("%s.%s is a Distributed table: the schema was applied with -cluster; "+
			"run hfauditschema with -cluster and the exporter's cluster_name", o.Database, Table)
	case o.Cluster != "" && st.tableEngine != "" && st.tableEngine != "Distributed":
		return nil, fmt.Errorf("%s.%s is a %s table, not Distributed: the schema was applied without -cluster; "+
			"run hfauditschema without -cluster", o.Database, Table, st.tableEngine)
	}
	if src := st.viewSource; src[1] != "" && src != [2]string{o.Database, o.LogsTable} {
		return nil, fmt.Errorf("%s reads %s.%s, not %s.%s: run hfauditschema with -logs-table %s (the exporter's logs_table_name), "+
			"or, to read the other table from now on, drop the view first (DROP VIEW %s)",
			View, src[0], src[1], o.Database, o.LogsTable, src[1], o.ident(View))
	}
	storage := o.storage()
	next, old := storage+nextSuffix, storage+oldSuffix
	var out []string
	migrating := false
	switch {
	case st.key == "":
		// A new installation.
	case !sameKey(st.key, SortingKey):
		if st.exists[old] {
			return nil, fmt.Errorf("%s has the sorting key (%s) and %s from an earlier migration still exists: "+
				"check it, drop it (DROP TABLE %s%s SYNC), then run again", storage, st.key, old, o.ident(old), o.onCluster())
		}
		// The swap is EXCHANGE TABLES: refused before the copy, which
		// would otherwise run again on every try.
		// Only Ordinary is known to refuse it (Atomic, Replicated and
		// ClickHouse Cloud's Shared exchange tables).
		if st.dbEngine == "Ordinary" {
			return nil, fmt.Errorf("%s has the sorting key (%s) and needs a migration, which swaps tables with EXCHANGE TABLES: "+
				"database %s has the engine %s, which cannot exchange tables; convert it to Atomic "+
				"(ClickHouse's convert_ordinary_to_atomic flag), then run again; nothing was changed", storage, st.key, o.Database, st.dbEngine)
		}
		if o.Cluster != "" && !strings.Contains(o.ReplicaPath, "{table}") && !strings.Contains(o.ReplicaPath, "{uuid}") {
			return nil, fmt.Errorf("%s has the sorting key (%s) and needs a migration, which builds a second replicated table: "+
				"its replica path %q must hold {table} or {uuid}, or both tables would share one Keeper path", storage, st.key, o.ReplicaPath)
		}
		o2 := o
		o2.oldTTL, o2.oldSourceTTL = st.ttl, st.sourceTTL // kept unless -ttl is given
		o2.oldSettings = st.settings
		out = append(out, migrationStart(o2)...)
		out = append(out, migrationFinish(o, st.exists[View])...)
		migrating = true
	case st.exists[next]:
		// A migration stopped after the swap: next holds the old rows.
		if st.exists[old] {
			return nil, fmt.Errorf("%s and %s both exist: an earlier migration stopped half-way; keep the one you need, "+
				"rename it to %s, drop the other, then run again", next, old, old)
		}
		out = append(out, migrationFinish(o, st.exists[View])...)
		migrating = true
	}
	out = append(out, StatementsFor(o)...)
	if o.DropOld && (migrating || st.exists[old]) {
		out = append(out, dropOld(o)...)
	}
	return out, nil
}

// MigrationStatements returns what Apply runs on an installation with the
// first sorting key and its view: the migration, then StatementsFor(o),
// then, with o.DropOld, the removal of the old table. It fails when o
// cannot migrate (a fixed replica path on a cluster).
func MigrationStatements(o Options) ([]string, error) {
	o = o.withDefaults()
	return plan(o, state{key: "eventType, eventName, authorUser, eventTime, id", exists: map[string]bool{View: true}})
}

// migrationStart builds the table with the new key next to the old one,
// copies every row and swaps the two. Rows that reach the old table during
// the copy are in otel_logs: the backfill that follows brings them over.
func migrationStart(o Options) []string {
	storage := o.storage()
	next := storage + nextSuffix
	cols := columnList()
	var out []string
	if o.Cluster == "" {
		out = append(out, fmt.Sprintf("DROP TABLE IF EXISTS %s SYNC", o.ident(next))) // a copy an interrupted run left
		out = append(out, build(o, next, next, View).tables...)
		out = append(out, fmt.Sprintf("INSERT INTO %s\n(%s)\nSELECT %s\nFROM %s", o.ident(next), cols, cols, o.ident(Table)))
	} else {
		// The copy goes through a Distributed table over the new local
		// tables, sharded as huggingface_logs is: every row stays on its
		// shard. Foreground inserts make it finish before the swap.
		dist := Table + nextSuffix
		out = append(out,
			fmt.Sprintf("DROP TABLE IF EXISTS %s%s SYNC", o.ident(dist), o.onCluster()),
			fmt.Sprintf("DROP TABLE IF EXISTS %s%s SYNC", o.ident(next), o.onCluster()))
		out = append(out, build(o, dist, next, View).tables...)
		out = append(out, fmt.Sprintf("INSERT INTO %s\n(%s)\nSETTINGS distributed_foreground_insert = 1\nSELECT %s\nFROM %s",
			o.ident(dist), cols, cols, o.ident(Table)))
	}
	return append(out, fmt.Sprintf("EXCHANGE TABLES %s AND %s%s", o.ident(storage), o.ident(next), o.onCluster()))
}

// migrationFinish runs after the swap: next holds the old rows. It points
// the view at the new table, and renames next to the old table's name.
func migrationFinish(o Options, viewExists bool) []string {
	storage := o.storage()
	next, old := storage+nextSuffix, storage+oldSuffix
	var out []string
	if o.Cluster == "" {
		if viewExists {
			// A view may follow its target through the swap. A new view
			// bound to huggingface_logs by name replaces it in one
			// EXCHANGE: at every moment one view feeds a table, and rows
			// the old view sent to the old table are backfilled.
			nextView := View + nextSuffix
			out = append(out,
				fmt.Sprintf("DROP VIEW IF EXISTS %s SYNC", o.ident(nextView)),
				build(o, Table, Table, nextView).view,
				fmt.Sprintf("EXCHANGE TABLES %s AND %s", o.ident(View), o.ident(nextView)),
				fmt.Sprintf("DROP VIEW %s SYNC", o.ident(nextView)))
		}
	} else {
		// The view writes into the Distributed huggingface_logs, which
		// finds huggingface_logs_local by name: it already reaches the new
		// table. The copy's Distributed table goes, and huggingface_logs
		// takes the new column types.
		var types []string
		for _, c := range Columns {
			if strings.HasPrefix(c[1], "LowCardinality(") {
				types = append(types, fmt.Sprintf("MODIFY COLUMN `%s` %s", c[0], c[1]))
			}
		}
		out = append(out,
			fmt.Sprintf("DROP TABLE IF EXISTS %s%s SYNC", o.ident(Table+nextSuffix), o.onCluster()),
			alterTable(o, Table, strings.Join(types, ", ")))
	}
	return append(out, fmt.Sprintf("RENAME TABLE %s TO %s%s", o.ident(next), o.ident(old), o.onCluster()))
}

// dropOld drops the old table once every id it holds is in huggingface_logs.
// The check fails the statement (throwIf) otherwise, and Apply stops there.
func dropOld(o Options) []string {
	old := o.storage() + oldSuffix
	from, notIn := o.ident(old), "NOT IN"
	if o.Cluster != "" {
		from, notIn = fmt.Sprintf("cluster(%s, %s, %s)", quoteString(o.Cluster), quoteString(o.Database), quoteString(old)), "GLOBAL NOT IN"
	}
	msg := quoteString(fmt.Sprintf("%s holds event ids that are not in %s: it is kept", old, Table))
	return []string{
		fmt.Sprintf("SELECT throwIf(count() > 0, %s)\nFROM %s\nWHERE id %s (SELECT id FROM %s)", msg, from, notIn, o.ident(Table)),
		fmt.Sprintf("DROP TABLE IF EXISTS %s%s SYNC", o.ident(old), o.onCluster()),
	}
}

// MigrationScript is MigrationStatements(o) as one SQL script, like Script.
func MigrationScript(o Options) (string, error) {
	stmts, err := MigrationStatements(o)
	if err != nil {
		return "", err
	}
	return script(stmts), nil
}

// columnList is every column of huggingface_logs, comma separated.
func columnList() string {
	names := make([]string, len(Columns))
	for i, c := range Columns {
		names[i] = "`" + c[0] + "`"
	}
	return strings.Join(names, ", ")
}

// clause returns the text of engine_full's top-level clause that starts
// with keyword ("TTL"), up to the next clause; "" when there is none.
func clause(engineFull, keyword string) string {
	start := -1
	for i := range topLevel(engineFull) {
		switch rest := engineFull[i:]; {
		case start < 0 && strings.HasPrefix(rest, " "+keyword+" "):
			start = i + len(keyword) + 2
		case start >= 0 && strings.HasPrefix(rest, " SETTINGS "):
			return strings.TrimSpace(engineFull[start:i])
		}
	}
	if start < 0 {
		return ""
	}
	return strings.TrimSpace(engineFull[start:])
}

func sameKey(a, b string) bool {
	strip := strings.NewReplacer(" ", "", "\t", "", "\n", "")
	return strip.Replace(a) == strip.Replace(b)
}
