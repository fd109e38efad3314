package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// The columns every detection's rows carry (see detections/README.md).
const (
	colActor    = "actor"
	colCount    = "event_count"
	colEventIDs = "event_ids"
	colFirst    = "first_seen"
	colLast     = "last_seen"
)

// shownIDs is how many event IDs a table row shows before "+N more".
const shownIDs = 3

// printTable prints one line per finding, for people, then a summary.
func printTable(w io.Writer, cfg config, findings []finding, failed int) {
	fired := map[string]bool{}
	if len(findings) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "DETECTION\tSEVERITY\tACTOR\tCOUNT\tFIRST\tLAST\tEVENT IDS")
		for _, f := range findings {
			fired[f.detection.Name] = true
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.detection.Name, f.severity(),
				text(f.value(colActor)), text(f.value(colCount)), text(f.value(colFirst)), text(f.value(colLast)), ids(f.value(colEventIDs)))
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	failures := ""
	if failed > 0 {
		failures = fmt.Sprintf(", %d could not run (see the errors)", failed)
	}
	fmt.Fprintf(w, "%d of %d detections fired (%d findings)%s, on events received from %s to %s\n", len(fired), len(cfg.jobs), len(findings), failures,
		cfg.from.UTC().Format(time.RFC3339), cfg.to.UTC().Format(time.RFC3339))
}

// text renders a JSON value for the table: strings bare, the rest as JSON.
func text(v json.RawMessage) string {
	if v == nil {
		return "-"
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		if s == "" {
			return "-"
		}
		return s
	}
	return string(v)
}

// ids renders the event IDs, the first few of them.
func ids(v json.RawMessage) string {
	var list []string
	if json.Unmarshal(v, &list) != nil {
		return text(v)
	}
	if len(list) <= shownIDs {
		return strings.Join(list, ",")
	}
	return fmt.Sprintf("%s (+%d more)", strings.Join(list[:shownIDs], ","), len(list)-shownIDs)
}

// printJSON prints one JSON object per finding, one per line (findingJSON).
func printJSON(w io.Writer, findings []finding) error {
	for _, f := range findings {
		b, err := findingJSON(f)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
			return err
		}
	}
	return nil
}

// mitre is the MITRE ATT&CK IDs of a detection.
type mitre struct {
	Tactics    []string `json:"tactics"`
	Techniques []string `json:"techniques"`
}

// findingJSON is the JSON object of a finding, as -format json prints it and
// the watcher sends it: the detection's metadata, then the row's columns in
// the order of the SQL.
func findingJSON(f finding) ([]byte, error) {
	d := f.detection
	var b bytes.Buffer
	keys := map[string]bool{}
	add := func(k string, v any) error {
		raw, ok := v.(json.RawMessage)
		if !ok {
			var err error
			if raw, err = json.Marshal(v); err != nil {
				return err
			}
		}
		if keys[k] {
			k = "row_" + k // a column named like the metadata keeps its value
		}
		keys[k] = true
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		key, _ := json.Marshal(k)
		b.Write(key)
		b.WriteByte(':')
		b.Write(raw)
		return nil
	}
	meta := []struct {
		k string
		v any
	}{
		{"detection", d.Name}, {"display_name", d.DisplayName}, {"severity", f.severity()}, {"risk_score", d.RiskScore},
		{"mitre", mitre{Tactics: nonNil(d.MitreAttacks), Techniques: nonNil(d.MitreTechniques)}},
	}
	for _, m := range meta {
		if err := add(m.k, m.v); err != nil {
			return nil, err
		}
	}
	if f.value(colEventIDs) == nil {
		if err := add(colEventIDs, []string{}); err != nil {
			return nil, err
		}
	}
	for i, c := range f.columns {
		if err := add(c, f.values[i]); err != nil {
			return nil, err
		}
	}
	return []byte("{" + b.String() + "}"), nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
