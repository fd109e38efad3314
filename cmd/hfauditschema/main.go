// Command hfauditschema creates (or updates, idempotently) the typed
// huggingface_logs table, its materialized view and the backfill in a
// ClickHouse server that the contrib clickhouseexporter writes to, and the
// tables of hfauditdetect -watch (clickhouse/huggingface_findings.sql).
//
//	hfauditschema -dsn http://default:secret@clickhouse:8123 -database otel [-ttl 400d]
//	hfauditschema -dsn http://clickhouse-1:8123 -database otel -cluster audit
//
// With -cluster (the exporter's cluster_name) every statement runs ON
// CLUSTER: huggingface_logs_local is a ReplicatedReplacingMergeTree on each
// shard ({shard} and {replica} macros), huggingface_logs a Distributed table
// over it sharded by the event id, and the view exists on every node.
//
// It POSTs each statement of clickhouse/huggingface_logs.sql to the HTTP
// interface, stops at the first error printing ClickHouse's error text, and
// prints what it did. Passwords are never printed.
//
// A huggingface_logs with the first sorting key (authorUser in it) is
// migrated first: a new table is filled from it and swapped in, the view is
// pointed at it, and the old rows stay in huggingface_logs_old until a run
// with -drop-old. A logs table written with the exporter's `json: true` is
// refused.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hfauditlog/huggingfaceauditreceiver/clickhouse"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/chconn"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hfauditschema", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conn := chconn.Register(fs)
	database := fs.String("database", clickhouse.DefaultDatabase, "database of the exporter's logs table (the exporter's `database`)")
	logsTable := fs.String("logs-table", clickhouse.DefaultLogsTable, "the exporter's logs table (its `logs_table_name`)")
	ttl := fs.String("ttl", "", "optional retention of huggingface_logs, in days (\"400d\" or \"400\") or a Go duration that is whole days (\"9600h\"); empty leaves it as it is")
	timeout := fs.Duration("timeout", 10*time.Minute, "timeout of each statement (the backfill can take a while)")
	printOnly := fs.Bool("print", false, "print the statements of a new installation instead of running them")
	printMigration := fs.Bool("print-migration", false, "print the statements that migrate a table with the first sorting key instead of running them")
	dropOld := fs.Bool("drop-old", false, "drop "+clickhouse.OldTable+" ("+clickhouse.OldLocalTable+" with -cluster), which a migration keeps, once every event id it holds is in huggingface_logs")
	cluster := fs.String("cluster", "", "ClickHouse cluster (the exporter's `cluster_name`): every statement ON CLUSTER, a replicated local table and a Distributed huggingface_logs over it")
	replicaPath := fs.String("replica-path", clickhouse.DefaultReplicaPath, "with -cluster: Keeper path of the replicated table ({shard}, {database}, {table} are expanded by the server)")
	replicaName := fs.String("replica-name", clickhouse.DefaultReplicaName, "with -cluster: replica name (the server's {replica} macro)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		// Not shown: after a boolean flag given "true" apart, the rest of
		// the command line (a -password) lands here.
		fmt.Fprintf(stderr, "hfauditschema: %d unexpected arguments after the flags (not shown: they may hold a secret); a boolean flag takes its value after '=', as -drop-old=true\n", fs.NArg())
		return 2
	}
	days, err := parseTTL(*ttl)
	if err != nil {
		fmt.Fprintf(stderr, "hfauditschema: -ttl: %v\n", err)
		return 2
	}
	if *database == "" || *logsTable == "" {
		fmt.Fprintln(stderr, "hfauditschema: -database and -logs-table must not be empty")
		return 2
	}
	if *cluster == "" && (*replicaPath != clickhouse.DefaultReplicaPath || *replicaName != clickhouse.DefaultReplicaName) {
		fmt.Fprintln(stderr, "hfauditschema: -replica-path and -replica-name need -cluster")
		return 2
	}
	if *cluster != "" && (*replicaPath == "" || *replicaName == "") {
		fmt.Fprintln(stderr, "hfauditschema: -replica-path and -replica-name must not be empty")
		return 2
	}
	opts := clickhouse.Options{Database: *database, LogsTable: *logsTable, TTLDays: days,
		Cluster: *cluster, ReplicaPath: *replicaPath, ReplicaName: *replicaName, DropOld: *dropOld}
	switch {
	case *printOnly && *printMigration:
		fmt.Fprintln(stderr, "hfauditschema: -print and -print-migration exclude each other")
		return 2
	case *printOnly:
		_, _ = io.WriteString(stdout, clickhouse.Script(opts))
		for _, stmt := range clickhouse.FindingsStatements(opts) {
			_, _ = io.WriteString(stdout, stmt+";\n\n")
		}
		return 0
	case *printMigration:
		script, err := clickhouse.MigrationScript(opts)
		if err != nil {
			fmt.Fprintf(stderr, "hfauditschema: %v\n", err)
			return 2
		}
		_, _ = io.WriteString(stdout, script)
		return 0
	}
	target := conn.Target(&http.Client{Timeout: *timeout})
	where := ""
	if *cluster != "" {
		where = ", on cluster " + *cluster
	}
	fmt.Fprintf(stdout, "applying huggingface_logs schema to %s (database %s, logs table %s%s)\n", target.Endpoint(), *database, *logsTable, where)
	migrated, dropped := false, false
	printResult := func(r clickhouse.Result) {
		migrated = migrated || strings.HasPrefix(r.Statement, "RENAME TABLE")
		dropped = dropped || strings.HasPrefix(r.Statement, "DROP TABLE") && strings.Contains(r.Statement, ".`"+old(*cluster)+"`")
		line := "ok: " + r.Statement
		if r.Summary != "" {
			line += " " + r.Summary
		}
		fmt.Fprintln(stdout, line)
	}
	err = clickhouse.Apply(context.Background(), target, opts, printResult)
	if err == nil {
		// The tables of hfauditdetect -watch (findings, checkpoints, deliveries).
		err = clickhouse.ApplyFindings(context.Background(), target, opts, printResult)
	}
	if err != nil {
		fmt.Fprintf(stderr, "hfauditschema: %v\n", err)
		if strings.Contains(err.Error(), "UNKNOWN_TABLE") {
			fmt.Fprintf(stderr, "hfauditschema: the logs table must exist first: start the collector with the clickhouse exporter (create_schema: true) or create %s.%s, then run this again\n", *database, *logsTable)
		}
		return 1
	}
	switch {
	case migrated && !dropped:
		fmt.Fprintf(stdout, "migrated: the rows as they were are kept in %s; check huggingface_logs, then run again with -drop-old to drop it\n", old(*cluster))
	case dropped:
		fmt.Fprintf(stdout, "dropped %s: every event id it held is in huggingface_logs\n", old(*cluster))
	case *dropOld:
		fmt.Fprintf(stdout, "-drop-old: there is no %s\n", old(*cluster))
	}
	if *cluster != "" {
		fmt.Fprintf(stdout, "done: huggingface_logs_local (replicated), huggingface_logs (Distributed), huggingface_logs_mv and the backfill are in place on cluster %s\n", *cluster)
		return 0
	}
	fmt.Fprintln(stdout, "done: huggingface_logs, huggingface_logs_mv and the backfill are in place")
	return 0
}

// parseTTL reads "400d", "400" (days) or a Go duration of whole days.
func parseTTL(s string) (uint32, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	var days uint64
	if n, err := strconv.ParseUint(strings.TrimSuffix(s, "d"), 10, 32); err == nil {
		days = n
	} else {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 || d%(24*time.Hour) != 0 {
			return 0, fmt.Errorf("%q is not a number of days (\"400d\") or a Go duration of whole days (\"9600h\")", s)
		}
		days = uint64(d / (24 * time.Hour))
	}
	if days == 0 || days > 1<<20 {
		return 0, fmt.Errorf("%q: want between 1 and %d days", s, 1<<20)
	}
	return uint32(days), nil
}

// old is the table a migration keeps the old rows in.
func old(cluster string) string {
	if cluster != "" {
		return clickhouse.OldLocalTable
	}
	return clickhouse.OldTable
}
