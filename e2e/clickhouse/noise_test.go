package clickhouse

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hfauditlog/huggingfaceauditreceiver/detections"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

// The noise budget: the pack run over a benign month of a 200-member
// organization (simulator.BenignMonth) raises at most noiseBudget notifying
// findings (High and above, one per dedup_key), and each benign action that
// must stay quiet stays quiet while the attack beside it fires.

const (
	noiseDB  = "noise"
	noiseOrg = "acme-ml"
	// noiseBudget is the most notifying findings a month may raise.
	noiseBudget = 4
)

var updateNoise = flag.Bool("update-noise", false, "rewrite detections/benign-month.json with the findings counted on the benign month")

// noiseCounts is where the month's finding counts are kept for the README.
var noiseCounts = filepath.Join(repoRoot, "detections", "benign-month.json")

// monthParams are the deployment's settings for the month: its second
// SIEM's token is allowlisted.
func monthParams(m simulator.Month) map[string]map[string]string {
	return map[string]map[string]string{
		"huggingface-audit-log-exported": {"allowed_tokens": m.SIEMTokenLast4},
		// Every event of the month arrived at once: judge them all now.
		"huggingface-payment-method-removed": {"judge_delay_minutes": "0"},
	}
}

// quietByDesign: benign actions of the month that a detection must not
// report, each beside the attack (its scenario) that the same detection must
// report.
var quietByDesign = []struct {
	action    string
	detection string
	attack    string
}{
	{"card-swap", "huggingface-payment-method-removed", "a payment method removed and not replaced"},
	{"card-swap", "huggingface-billing-tampering", "a subscription cancelled, cloud billing added"},
	{"admin-two-countries", "huggingface-admin-action-new-country", "a dormant admin acting from a country never seen"},
	{"siem-export", "huggingface-audit-log-exported", "the log exported by a token that is neither the collector's nor allowlisted"},
	{"repo-rename", "huggingface-repo-moved-out", "a repository moved to another namespace"},
	{"offboarding", "huggingface-bulk-member-removal", "many members removed within minutes"},
	{"token-approvals", "huggingface-token-approval-abuse", "a member approving their own token, an admin approving many at once"},
	{"space-secrets", "huggingface-bulk-secret-removal", "many secrets removed within minutes"},
	{"nightly-jobs", "huggingface-scheduled-job-persistence", "a scheduled job every 5 minutes"},
	{"auto-join", "huggingface-invite-outside-domain", "an invitation to a domain the organization never used"},
	{"admin-two-countries", "huggingface-sso-login-unusual", "an SSO login from a hosting network"},
	{"collector-polls", "huggingface-log-silence", "the collector's polls stopping for 30 minutes"},
}

// notifyingByDesign are the benign actions of the month that may notify:
// risky enough that a person should look, even when planned. Every
// notifying finding of the month must come from one of them.
var notifyingByDesign = []string{"sso-migration", "model-release", "service-account-rotation"}

// notifying tells whether a finding row notifies: High and above, the row's
// own severity (a lower one for unknown_shape) when it has one.
func notifying(d detections.Detection, row map[string]any) bool {
	sev := d.Severity
	if s, ok := row["severity"].(string); ok && s != "" {
		sev = s
	}
	return sev == "High" || sev == "Critical"
}

// dedupKey is the finding's dedup_key, or its event IDs where a detection
// has none.
func dedupKey(row map[string]any) string {
	if k, ok := row["dedup_key"].(string); ok {
		return k
	}
	return fmt.Sprint(row["event_ids"])
}

func TestNoiseBudget(t *testing.T) {
	ds, scn := setupDetections(t)
	end := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	start := time.Now()
	m := simulator.BenignMonth(noiseOrg, 7, end)
	exp := newExporter(t, noiseDB)
	applySchema(t, noiseDB)
	next := &countingConsumer{next: exp}
	// History first, then the month: the month is what the detections judge.
	history, month, _ := splitAt(t, m.Events, m.Start, m.End)
	ingestReceived(func() {
		ingest(t, exportServer(t, noiseOrg, history).URL, noiseOrg, next, int64(len(history)))
	})
	judged := ingestReceived(func() {
		ingest(t, exportServer(t, noiseOrg, month).URL, noiseOrg, next, int64(len(month)))
	})
	t.Logf("benign month: %d events (%d before the month) through the receiver, the exporter and the view in %v",
		len(m.Events), len(history), time.Since(start).Round(time.Millisecond))
	if n := queryInt(t, fmt.Sprintf("SELECT count() FROM %s.huggingface_logs FINAL WHERE workspaceID = '%s'", noiseDB, noiseOrg)); n != int64(len(m.Events)) {
		t.Fatalf("%d rows in huggingface_logs, want %d", n, len(m.Events))
	}

	byDesign := map[string]string{} // event ID -> action
	for _, name := range notifyingByDesign {
		for _, id := range m.Action(name).EventIDs {
			byDesign[id] = name
		}
	}
	params := monthParams(m)
	counts := map[string]int{}
	found := map[string][]map[string]any{}
	notify := map[string]string{} // dedup key -> detection
	for _, d := range ds {
		rows := runDetectionIn(t, noiseDB, d, judged.from, judged.to, params[d.Name], noiseOrg)
		counts[d.Name] = len(rows)
		found[d.Name] = rows
		for _, r := range rows {
			if !notifying(d, r) {
				continue
			}
			notify[d.Name+" "+dedupKey(r)] = d.Name
			for _, id := range r["event_ids"].([]any) {
				if byDesign[id.(string)] == "" {
					t.Errorf("%s notified on %s, which no benign action that may notify wrote: %v", d.Name, id, r)
				}
			}
		}
	}
	var report []string
	for _, d := range ds {
		report = append(report, fmt.Sprintf("%s %d", d.Name, counts[d.Name]))
	}
	t.Logf("findings on the benign month:\n%s", strings.Join(report, "\n"))
	if len(notify) > noiseBudget {
		var keys []string
		for k := range notify {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Errorf("%d notifying findings (High and above) in the benign month, the budget is %d:\n%s", len(notify), noiseBudget, strings.Join(keys, "\n"))
	}

	byName := map[string]detections.Detection{}
	for _, d := range ds {
		byName[d.Name] = d
	}
	for _, q := range quietByDesign {
		t.Run(q.action+"/"+q.detection, func(t *testing.T) {
			a := m.Action(q.action)
			if len(a.EventIDs) == 0 {
				t.Fatalf("the month has no action %s", q.action)
			}
			for _, r := range found[q.detection] {
				for _, id := range r["event_ids"].([]any) {
					if slices.Contains(a.EventIDs, id.(string)) {
						t.Errorf("reported %q (%s): %v", a.What, q.detection, r)
					}
				}
			}
			// The attack beside it fires.
			s := scn[q.detection]
			if rows := runDetection(t, byName[q.detection], detectionData.judged.from, detectionData.judged.to, s.Params, s.Organization); len(rows) == 0 {
				t.Errorf("did not report the attack %q (scenario %s)", q.attack, q.detection)
			}
		})
	}

	// The counts in the README are the ones measured here.
	b, _ := json.MarshalIndent(counts, "", "  ")
	b = append(b, '\n')
	if *updateNoise {
		if err := os.WriteFile(noiseCounts, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if old, err := os.ReadFile(noiseCounts); err != nil || string(old) != string(b) {
		t.Errorf("%s is out of date (run `go test -run TestNoiseBudget -update-noise` in e2e/clickhouse, then `go test ./detections -update-readme`):\n%s", noiseCounts, b)
	}
}
