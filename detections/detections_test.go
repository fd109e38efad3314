package detections

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	ds, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) == 0 {
		t.Fatal("no detections embedded")
	}
	for i, d := range ds {
		if i > 0 && ds[i-1].Name >= d.Name {
			t.Errorf("not sorted by name: %q before %q", ds[i-1].Name, d.Name)
		}
		if d.SQL == "" || d.Notes == "" && strings.Contains(d.SQL, "update_settings") {
			t.Errorf("%s: SQL empty, or a legacy settings match without notes on the data shape", d.Name)
		}
	}
}

const goodYAML = `name: x-y
displayName: X
description: d
file: x-y.sql
categories: [attack.defense-impairment, attack.t1556, c]
mitreAttacks: [TA0112]
mitreTechniques: [T1556]
severity: High
riskScore: 80
schedule: "*/15 * * * *"
sourceTypes: [huggingface]
parameters:
  threshold:
    type: UInt32
    default: 5
    description: how many
triage: [look, ask]
response: [revoke]
falsePositives: [fp]
references: [https://example.com]
`

const goodSQL = `SELECT workspaceID AS organization, authorUser AS actor, count() AS event_count,
  arraySort(groupArray(id)) AS event_ids, min(eventTime) AS first_seen, max(eventTime) AS last_seen,
  concatWithSeparator('|', 'x-y', organization, actor, toString(first_seen)) AS dedup_key
FROM huggingface_logs
WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime} -- {ignored:String}
GROUP BY organization, actor
HAVING count() >= {threshold:UInt32}`

func loadOne(t *testing.T, yaml, sql string) ([]Detection, error) {
	t.Helper()
	return load(fstest.MapFS{"x-y.yaml": {Data: []byte(yaml)}, "x-y.sql": {Data: []byte(sql)}})
}

func TestValidateAcceptsGood(t *testing.T) {
	ds, err := loadOne(t, goodYAML, goodSQL)
	if err != nil {
		t.Fatal(err)
	}
	d := ds[0]
	if d.Name != "x-y" || d.DisplayName != "X" || d.Description != "d" || d.File != "x-y.sql" || d.Severity != "High" ||
		d.RiskScore != 80 || d.Schedule != "*/15 * * * *" || d.MitreAttacks[0] != "TA0112" || d.References[0] != "https://example.com" || d.SQL != goodSQL {
		t.Fatalf("metadata: %+v", d)
	}
	p := ds[0].Parameters
	if len(p) != 1 || p[0].Name != "threshold" || p[0].Type != "UInt32" || p[0].Default != uint64(5) || p[0].Description != "how many" {
		t.Fatalf("parameters: %+v", p)
	}
	if got := ds[0].Defaults()["threshold"]; got != "5" {
		t.Errorf("Defaults: %q", got)
	}
}

func TestValidateRejects(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, sql, want string
	}{
		{"undeclared parameter", goodYAML, goodSQL + " AND {window:UInt32} > 0", `{window:UInt32} but the parameter is not declared`},
		{"unused parameter", goodYAML, strings.Replace(goodSQL, "HAVING count() >= {threshold:UInt32}", "", 1), `"threshold" is declared but the SQL does not use it`},
		{"type mismatch", goodYAML, strings.Replace(goodSQL, "{threshold:UInt32}", "{threshold:String}", 1), `declared UInt32 but the SQL uses {threshold:String}`},
		{"no from", goodYAML, strings.Replace(goodSQL, "{from:DateTime}", "now()", 1), `does not use {from:DateTime}`},
		{"to of wrong type", goodYAML, strings.Replace(goodSQL, "{to:DateTime}", "{to:Date}", 1), `want {to:DateTime}`},
		{"no mitre", strings.Replace(goodYAML, "mitreTechniques: [T1556]", "mitreTechniques: []", 1), goodSQL, "mitreTechniques is empty"},
		{"bad technique", strings.Replace(goodYAML, "[T1556]", "[persistence]", 1), goodSQL, "not a MITRE ATT&CK technique"},
		{"no description", strings.Replace(goodYAML, "description: d\n", "", 1), goodSQL, "description is empty"},
		{"no triage", strings.Replace(goodYAML, "triage: [look, ask]\n", "", 1), goodSQL, "triage is empty"},
		{"no response", strings.Replace(goodYAML, "response: [revoke]", "response: ['  ']", 1), goodSQL, "response has an empty entry"},
		{"no false positives", strings.Replace(goodYAML, "falsePositives: [fp]\n", "", 1), goodSQL, "falsePositives is empty"},
		{"bad severity", strings.Replace(goodYAML, "severity: High", "severity: huge", 1), goodSQL, `severity "huge"`},
		{"bad cron", strings.Replace(goodYAML, `"*/15 * * * *"`, `"every hour"`, 1), goodSQL, "want 5 fields"},
		{"bad default", strings.Replace(goodYAML, "default: 5", "default: -5", 1), goodSQL, `default -5`},
		{"other source", strings.Replace(goodYAML, "[huggingface]", "[github]", 1), goodSQL, "want huggingface"},
		{"name differs", strings.Replace(goodYAML, "name: x-y", "name: x-z", 1), goodSQL, "differs from the file name"},
		{"unknown field", goodYAML + "colour: red\n", goodSQL, "field colour not found"},
		{"unknown technique", strings.ReplaceAll(goodYAML, "1556", "1999"), goodSQL, "T1999 is not in the pack's ATT&CK"},
		{"retired tactic name", strings.Replace(goodYAML, "attack.defense-impairment", "attack.defense-evasion", 1), goodSQL, "want [attack.defense-impairment attack.t1556]"},
		{"technique of another tactic", strings.Replace(goodYAML, "[TA0112]", "[TA0040]", 1), goodSQL, "none of them in mitreAttacks"},
		{"no event_ids", goodYAML, strings.Replace(goodSQL, "AS event_ids", "AS ids", 1), "does not return the column event_ids"},
		{"no dedup_key", goodYAML, strings.Replace(goodSQL, "AS dedup_key", "AS key", 1), "does not return the column dedup_key"},
		{"range on eventTime", goodYAML, strings.ReplaceAll(goodSQL, "receivedAt", "eventTime"), "does not judge the events received in the range"},
		{"eventTime against from", goodYAML, strings.Replace(goodSQL, "GROUP BY", "AND eventTime >= {from:DateTime} GROUP BY", 1), "compares eventTime with the run's range"},
		{"only from on receivedAt", goodYAML, strings.Replace(goodSQL, "receivedAt < {to:DateTime}", "eventTime < {to:DateTime}", 1), "does not judge the events received"},
		{"unsorted event_ids", goodYAML, strings.Replace(goodSQL, "arraySort(groupArray(id))", "groupArray(id)", 1), "want it sorted"},
		{"dedup_key without the name", goodYAML, strings.Replace(goodSQL, "'x-y'", "'other'", 1), "want it to start with the detection's name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadOne(t, tc.yaml, tc.sql)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestShortFormParameter(t *testing.T) {
	y := strings.Replace(goodYAML, "  threshold:\n    type: UInt32\n    default: 5\n    description: how many\n", "  threshold: \"5\"\n", 1)
	_, err := loadOne(t, y, goodSQL)
	// RunReveal's short form parses, but our packs demand a description.
	if err == nil || !strings.Contains(err.Error(), `"threshold" has no description`) {
		t.Fatalf("got %v", err)
	}
}

// Every detection has its scenario (run on chDB by e2e/clickhouse).
func TestEveryDetectionHasAScenario(t *testing.T) {
	ds, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if _, err := os.Stat(filepath.Join("scenarios", d.Name+".json")); err != nil {
			t.Errorf("%s: no scenario: %v", d.Name, err)
		}
	}
}

func TestLoadAlerts(t *testing.T) {
	alerts, err := LoadAlerts()
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) < 2 {
		t.Fatalf("%d alerts, want at least 2", len(alerts))
	}
	pack, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, d := range pack {
		known[d.Name] = true
	}
	for _, a := range alerts {
		if !a.Alert {
			t.Errorf("%s: not marked as an alert", a.Name)
		}
		// The chain's steps name detections of the pack.
		for _, p := range a.Parameters {
			if p.Type != "String" {
				continue
			}
			for _, n := range strings.Split(fmt.Sprint(p.Default), ",") {
				if !known[n] {
					t.Errorf("%s: parameter %s names %q, not a detection of the pack", a.Name, p.Name, n)
				}
			}
		}
	}
	// A detection's framing is refused for an alert, and the reverse.
	y := strings.Replace(goodYAML, "name: x-y", "name: huggingface-alert-x", 1)
	y = strings.Replace(y, "file: x-y.sql", "file: huggingface-alert-x.sql", 1)
	sql := strings.Replace(goodSQL, "'x-y'", "'huggingface-alert-x'", 1)
	_, err = loadAlerts(fstest.MapFS{"huggingface-alert-x.yaml": {Data: []byte(y)}, "huggingface-alert-x.sql": {Data: []byte(sql)}})
	if err == nil || !strings.Contains(err.Error(), "found_at >= {from:DateTime}") {
		t.Errorf("alert framed on receivedAt: %v", err)
	}
	sql = strings.ReplaceAll(sql, "receivedAt", "found_at")
	if _, err := loadAlerts(fstest.MapFS{"huggingface-alert-x.yaml": {Data: []byte(y)}, "huggingface-alert-x.sql": {Data: []byte(sql)}}); err != nil {
		t.Errorf("alert framed on found_at: %v", err)
	}
	if _, err := loadOne(t, goodYAML, strings.ReplaceAll(goodSQL, "receivedAt", "found_at")); err == nil {
		t.Error("a detection framed on found_at was accepted")
	}
}

func TestSigmaRules(t *testing.T) {
	rules, err := SigmaRules()
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) == 0 {
		t.Fatal("no Sigma rules embedded")
	}
}
