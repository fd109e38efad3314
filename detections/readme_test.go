package detections

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"
)

var updateREADME = flag.Bool("update-readme", false, "rewrite the detection table of README.md from the YAML files")

const (
	tableBegin = "<!-- BEGIN DETECTION TABLE: generated from the YAML by `go test ./detections -run TestREADMETable -update-readme` -->\n"
	tableEnd   = "<!-- END DETECTION TABLE -->"
)

// TestREADMETable keeps the table of README.md in step with the pack: a
// detection added, removed or changed without regenerating it fails here.
func TestREADMETable(t *testing.T) {
	pack, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i, j := strings.Index(readme, tableBegin), strings.Index(readme, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q ... %q markers", strings.TrimSpace(tableBegin), tableEnd)
	}
	got, want := readme[i+len(tableBegin):j], readmeTable(pack, benignCounts(t))
	if got == want {
		return
	}
	if *updateREADME {
		if err := os.WriteFile("README.md", []byte(readme[:i+len(tableBegin)]+want+readme[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	for _, d := range pack {
		if !strings.Contains(got, "["+d.Name+"]") {
			t.Errorf("README.md does not list %s", d.Name)
		}
	}
	t.Errorf("the table in README.md is out of date: run `go test ./detections -run TestREADMETable -update-readme`\nwant:\n%s", want)
}

func TestREADMETableCells(t *testing.T) {
	d := Detection{
		Name: "x-y", DisplayName: "X | Y", Severity: "High", RiskScore: 70,
		Description:     "Something happened. More words.",
		MitreAttacks:    []string{"TA0005"},
		MitreTechniques: []string{"T1556"},
		FalsePositives:  []string{"a | b", "c"},
		SQL:             "SELECT 1 -- 'org.not_this'\nWHERE eventName IN ('org.settings.sso.disable', 'org.update_settings') OR startsWith(eventName, 'billing.') AND tags['oauth.client_id'] != ''",
	}
	row := readmeTable([]Detection{d}, map[string]int{"x-y": 3})
	want := "| [x-y](x-y.yaml) | High (70) | TA0005 · T1556 | Something happened. Events: `org.settings.sso.disable`, `org.update_settings`, `billing.*` | 3 | a \\| b. c. | [runbook](RUNBOOKS.md#x-y) |\n"
	if !strings.HasSuffix(row, want) {
		t.Fatalf("row:\n%s\nwant:\n%s", row, want)
	}
}

// eventLiteral matches an event type (or a prefix of one) quoted in SQL:
// a known scope, a dot, more.
var eventLiteral = regexp.MustCompile(`'((?:org|repo|collection|spaces|resource_group|jobs|scheduled_job|billing|oauth)\.[a-z0-9_.]*)'`)

// mapKey matches a quoted map key (tags['oauth.client_id']), not an event.
var mapKey = regexp.MustCompile(`\[\s*'[^']*'\s*\]`)

// maxEvents is how many event types a row names before "and N more".
const maxEvents = 6

// benignCountsFile holds the findings of each detection on the benign month,
// as e2e/clickhouse's TestNoiseBudget measured them.
const benignCountsFile = "benign-month.json"

// benignCounts reads benignCountsFile; a missing file is no counts.
func benignCounts(t *testing.T) map[string]int {
	t.Helper()
	b, err := os.ReadFile(benignCountsFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var counts map[string]int
	if err := json.Unmarshal(b, &counts); err != nil {
		t.Fatalf("%s: %v", benignCountsFile, err)
	}
	return counts
}

// TestBenignCounts: every detection has its count on the benign month.
func TestBenignCounts(t *testing.T) {
	pack, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	counts := benignCounts(t)
	for _, d := range pack {
		if _, ok := counts[d.Name]; !ok {
			t.Errorf("%s: no count in %s (run TestNoiseBudget -update-noise in e2e/clickhouse)", d.Name, benignCountsFile)
		}
	}
	if len(counts) != len(pack) {
		t.Errorf("%s has %d counts for %d detections", benignCountsFile, len(counts), len(pack))
	}
}

// TestRunbooks keeps RUNBOOKS.md in step with the YAML's triage and
// response.
func TestRunbooks(t *testing.T) {
	pack, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	want := runbooks(pack)
	got, _ := os.ReadFile("RUNBOOKS.md")
	if string(got) == want {
		return
	}
	if *updateREADME {
		if err := os.WriteFile("RUNBOOKS.md", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("RUNBOOKS.md is out of date: run `go test ./detections -run TestRunbooks -update-readme`")
}

// runbooks renders every detection's runbook, one section per detection.
func runbooks(pack []Detection) string {
	var b strings.Builder
	b.WriteString("# Runbooks\n\n<!-- Generated from the YAML files by `go test ./detections -run TestRunbooks -update-readme`: edit the YAML. -->\n\n")
	b.WriteString("What to check when a detection fires (triage) and what to do when it is an attack (response).\n")
	b.WriteString("A finding's `event_ids` are the events to start from, in `huggingface_logs`.\n")
	for _, d := range pack {
		fmt.Fprintf(&b, "\n## %s\n\n**%s**: %s, risk %d. %s\n\nTriage:\n\n", d.Name, d.DisplayName, d.Severity, d.RiskScore, firstSentence(d.Description))
		for i, s := range d.Triage {
			fmt.Fprintf(&b, "%d. %s\n", i+1, strings.Join(strings.Fields(s), " "))
		}
		b.WriteString("\nResponse:\n\n")
		for i, s := range d.Response {
			fmt.Fprintf(&b, "%d. %s\n", i+1, strings.Join(strings.Fields(s), " "))
		}
		b.WriteString("\nKnown false positives:\n\n")
		for _, s := range d.FalsePositives {
			fmt.Fprintf(&b, "- %s\n", strings.Join(strings.Fields(s), " "))
		}
	}
	return b.String()
}

// readmeTable renders one row per detection: what a reader needs to pick,
// trust and tune it. counts are the findings on the benign month.
func readmeTable(pack []Detection, counts map[string]int) string {
	var b strings.Builder
	b.WriteString("| Detection | Severity (risk) | MITRE ATT&CK | What it looks at | Benign month | Known false positives | Runbook |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, d := range pack {
		looks := firstSentence(d.Description)
		if events := eventsOf(d.SQL); len(events) > maxEvents {
			looks += fmt.Sprintf(" Events: `%s` and %d more", strings.Join(events[:maxEvents], "`, `"), len(events)-maxEvents)
		} else if len(events) > 0 {
			looks += " Events: `" + strings.Join(events, "`, `") + "`"
		}
		var fps []string
		for _, fp := range d.FalsePositives {
			fp = strings.TrimSpace(fp)
			if !strings.HasSuffix(fp, ".") {
				fp += "."
			}
			fps = append(fps, fp)
		}
		count := "not measured"
		if n, ok := counts[d.Name]; ok {
			count = fmt.Sprint(n)
		}
		fmt.Fprintf(&b, "| [%s](%s.yaml) | %s (%d) | %s · %s | %s | %s | %s | [runbook](RUNBOOKS.md#%s) |\n", d.Name, d.Name, d.Severity, d.RiskScore,
			strings.Join(d.MitreAttacks, ", "), strings.Join(d.MitreTechniques, ", "), cell(looks), count, cell(strings.Join(fps, " ")), d.Name)
	}
	return b.String()
}

// eventsOf lists the event types the SQL compares with, in order of first
// mention; a prefix ('billing.') is shown as billing.*.
func eventsOf(sql string) []string {
	var out []string
	for _, m := range eventLiteral.FindAllStringSubmatch(mapKey.ReplaceAllString(stripComments(sql), ""), -1) {
		e := m[1]
		if strings.HasSuffix(e, ".") {
			e += "*"
		}
		if !contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

func firstSentence(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

// cell escapes what would break a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.Join(strings.Fields(s), " "), "|", `\|`)
}
