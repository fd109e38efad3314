package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hfauditlog/huggingfaceauditreceiver/detections"
)

func testFinding() finding {
	d := detections.Detection{Name: "mass-delete", DisplayName: "Mass delete", Severity: "High", RiskScore: 70,
		MitreAttacks: []string{"TA0040"}, MitreTechniques: []string{"T1485"}}
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	return finding{
		detection: d,
		columns:   []string{"actor", "event_count", "event_ids", "first_seen", "last_seen", "severity"},
		values: []json.RawMessage{raw(`"vera"`), raw(`5`), raw(`["a","b","c","d","e"]`), raw(`"2026-06-01 10:00:00"`),
			raw(`"2026-06-01 10:05:00"`), raw(`"row's own"`)},
	}
}

func TestPrintJSON(t *testing.T) {
	var b bytes.Buffer
	if err := printJSON(&b, []finding{testFinding(), testFinding()}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := `{"detection":"mass-delete","display_name":"Mass delete","severity":"High","risk_score":70,` +
		`"mitre":{"tactics":["TA0040"],"techniques":["T1485"]},"actor":"vera","event_count":5,"event_ids":["a","b","c","d","e"],` +
		`"first_seen":"2026-06-01 10:00:00","last_seen":"2026-06-01 10:05:00","row_severity":"row's own"}`
	if len(lines) != 2 || lines[0] != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestPrintTable(t *testing.T) {
	var b bytes.Buffer
	cfg := config{from: time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC), to: time.Date(2026, 6, 1, 11, 0, 0, 0, time.UTC), jobs: make([]job, 3)}
	printTable(&b, cfg, []finding{testFinding()}, 1)
	out := b.String()
	for _, s := range []string{"DETECTION    SEVERITY  ACTOR  COUNT  FIRST", "mass-delete  High      vera   5      2026-06-01 10:00:00",
		"a,b,c (+2 more)", "1 of 3 detections fired (1 findings), 1 could not run (see the errors), on events received from 2026-06-01T09:00:00Z to 2026-06-01T11:00:00Z"} {
		if !strings.Contains(out, s) {
			t.Errorf("no %q in:\n%s", s, out)
		}
	}
}

func TestUnquote64(t *testing.T) {
	for _, tc := range []struct{ typ, in, want string }{
		{"UInt64", `"12"`, `12`},
		{"Int64", `"-3"`, `-3`},
		{"Nullable(UInt64)", `"18446744073709551615"`, `18446744073709551615`},
		{"UInt64", `12`, `12`},
		{"String", `"12"`, `"12"`},
		{"UInt64", `"x"`, `"x"`},
		{"Nullable(UInt64)", `null`, `null`},
	} {
		if got := string(unquote64(tc.typ, json.RawMessage(tc.in))); got != tc.want {
			t.Errorf("unquote64(%s, %s) = %s, want %s", tc.typ, tc.in, got, tc.want)
		}
	}
}
