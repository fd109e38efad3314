package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/hfauditlog/huggingfaceauditreceiver/clickhouse"
	"github.com/hfauditlog/huggingfaceauditreceiver/detections"
)

// finding is one row a detection returned.
type finding struct {
	detection detections.Detection
	columns   []string
	values    []json.RawMessage // as ClickHouse wrote them, one per column
}

// value returns the row's column name, or nil.
func (f finding) value(name string) json.RawMessage {
	for i, c := range f.columns {
		if c == name {
			return f.values[i]
		}
	}
	return nil
}

// severity is the finding's severity: the row's own `severity` column when
// it names one (a rule reports an event of unknown shape lower), else the
// detection's.
func (f finding) severity() string {
	var s string
	if err := json.Unmarshal(f.value("severity"), &s); err == nil && severityRank(s) > 0 {
		return s
	}
	return f.detection.Severity
}

// result is ClickHouse's JSONCompact output.
type result struct {
	Meta []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"meta"`
	Data [][]json.RawMessage `json:"data"`
}

// execute runs every job and returns the findings, and the number of
// detections that failed (each reported on stderr, naming the detection).
// After an error that is not ClickHouse's answer (the DSN, the network),
// the remaining detections would fail the same way: they are not run.
func execute(ctx context.Context, cfg config, stderr io.Writer) (findings []finding, failed int) {
	hinted := false
	for i, j := range cfg.jobs {
		rows, err := query(ctx, cfg, j)
		if err != nil {
			failed++
			fmt.Fprintf(stderr, "hfauditdetect: detection %s: %v\n", j.detection.Name, err)
			var se *clickhouse.ServerError
			if errors.As(err, &se) && !hinted && (strings.Contains(se.Message, "UNKNOWN_TABLE") || strings.Contains(se.Message, "UNKNOWN_DATABASE")) {
				hinted = true
				fmt.Fprintf(stderr, "hfauditdetect: is -database right? Create huggingface_logs in it with hfauditschema first\n")
			}
			if !errors.As(err, &se) {
				if left := len(cfg.jobs) - i - 1; left > 0 {
					fmt.Fprintf(stderr, "hfauditdetect: %d more detection(s) not run: ClickHouse at %s was not reached\n", left, cfg.target.Endpoint())
					failed += left
				}
				break
			}
			continue
		}
		findings = append(findings, rows...)
	}
	return findings, failed
}

// query runs one detection: its SQL as the body, the time range and its
// parameters as query parameters.
func query(ctx context.Context, cfg config, j job) ([]finding, error) {
	// No settings: a user with readonly=1, the right user for detections,
	// may not change any. Query parameters and the database are not settings.
	params := url.Values{
		"database": {cfg.database},
		// DateTime parameters as Unix seconds: no server time zone involved.
		"param_from": {strconv.FormatInt(cfg.from.Unix(), 10)},
		"param_to":   {strconv.FormatInt(cfg.to.Unix(), 10)},
	}
	for k, v := range j.params {
		params.Set("param_"+k, v)
	}
	// On its own line, after a trailing comment or SETTINGS clause.
	sql := strings.TrimSpace(strings.TrimRight(strings.TrimSpace(j.detection.SQL), ";")) + "\nFORMAT JSONCompact"
	body, err := cfg.target.Query(ctx, sql, params)
	if err != nil {
		return nil, err
	}
	var res result
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&res); err != nil {
		return nil, fmt.Errorf("reading ClickHouse's JSONCompact answer: %v", err)
	}
	columns := make([]string, len(res.Meta))
	for i, m := range res.Meta {
		columns[i] = m.Name
	}
	out := make([]finding, 0, len(res.Data))
	for _, row := range res.Data {
		if len(row) != len(columns) {
			return nil, fmt.Errorf("a row has %d values for %d columns", len(row), len(columns))
		}
		for i, m := range res.Meta {
			row[i] = unquote64(m.Type, row[i])
		}
		out = append(out, finding{detection: j.detection, columns: columns, values: row})
	}
	return out, nil
}

// unquote64 turns the quoted 64-bit integers of ClickHouse's JSON formats
// (count() is UInt64: "12") back into JSON numbers, so that counts are
// numbers without changing output_format_json_quote_64bit_integers, a
// setting that a readonly user may not change.
func unquote64(typ string, v json.RawMessage) json.RawMessage {
	switch strings.TrimSuffix(strings.TrimPrefix(typ, "Nullable("), ")") {
	case "UInt64", "Int64":
	default:
		return v
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return v
	}
	if _, err := strconv.ParseInt(s, 10, 64); err != nil {
		if _, err := strconv.ParseUint(s, 10, 64); err != nil {
			return v
		}
	}
	return json.RawMessage(s)
}
