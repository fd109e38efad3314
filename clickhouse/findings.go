package clickhouse

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"net/url"
	"strings"
)

// FindingsSQL is huggingface_findings.sql: the tables of hfauditdetect
// -watch (findings, checkpoints, deliveries), with {{database}},
// {{on_cluster}} and an {{engine_TABLE}} placeholder per table.
//
//go:embed huggingface_findings.sql
var FindingsSQL string

// The tables FindingsSQL creates.
const (
	FindingsTable    = "huggingface_findings"
	CheckpointsTable = "huggingface_detection_checkpoints"
	DeliveriesTable  = "huggingface_finding_deliveries"
)

// findingsVersion is the version column of each table's ReplacingMergeTree.
var findingsVersion = map[string]string{
	"findings": "found_at", "checkpoints": "updated_at", "deliveries": "sent_at",
}

// FindingsStatements returns the statements that create the watcher's
// tables for o (Database and Cluster are used). With a cluster every node
// holds every row: the tables are replicated with one Keeper path per table
// (no {shard}), so a watcher reads the same state through any node.
func FindingsStatements(o Options) []string {
	if o.Database == "" {
		o.Database = DefaultDatabase
	}
	onCluster := ""
	if o.Cluster != "" {
		onCluster = " ON CLUSTER `" + quoteIdent(o.Cluster) + "`"
	}
	pairs := []string{"{{database}}", quoteIdent(o.Database), "{{on_cluster}}", onCluster}
	for table, version := range findingsVersion {
		engine := fmt.Sprintf("ReplacingMergeTree(%s)", version)
		if o.Cluster != "" {
			name := o.ReplicaName
			if name == "" {
				name = DefaultReplicaName
			}
			engine = fmt.Sprintf("ReplicatedReplacingMergeTree(%s, %s, %s)", quoteString("/clickhouse/tables/{database}/{table}"), quoteString(name), version)
		}
		pairs = append(pairs, "{{engine_"+table+"}}", engine)
	}
	return split(strings.NewReplacer(pairs...).Replace(FindingsSQL))
}

// ApplyFindings POSTs FindingsStatements(o) to t, as Apply does.
func ApplyFindings(ctx context.Context, t Target, o Options, done func(Result)) error {
	return applyStatements(ctx, t, FindingsStatements(o), done)
}

// Insert sends rows, JSON objects one per line, with insert (such as
// "INSERT INTO db.t FORMAT JSONEachRow") in the URL and the rows as the
// body, the way the HTTP interface streams data into a table.
func (t Target) Insert(ctx context.Context, insert string, rows [][]byte) error {
	if len(rows) == 0 {
		return nil
	}
	_, _, err := t.post(ctx, string(bytes.Join(rows, []byte("\n"))), url.Values{"query": {insert}})
	return err
}
