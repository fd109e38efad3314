package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bradleyjkemp/sigma-go"
	"github.com/bradleyjkemp/sigma-go/evaluator"
	"github.com/bradleyjkemp/sigma-go/evaluator/modifiers"
	"gopkg.in/yaml.v3"

	"github.com/hfauditlog/huggingfaceauditreceiver/detections"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

// The Sigma rules of the pack (detections/sigma/NAME.yml) load in a Go Sigma
// implementation (sigma-go) and match, on the raw Hub events of every
// scenario and of the benign history, exactly the events the hand-written
// SQL detection of the same name returns from huggingface_logs.
//
// pySigma and pysigma-backend-clickhouse (tools/sigma/) cannot be installed
// here; this test is the executable check of the rules meanwhile.

// notSigma are the detections Sigma cannot express (detections/sigma/README.md).
var notSigma = map[string]string{
	"huggingface-mass-repo-deletion":       "aggregation over a sliding window",
	"huggingface-bulk-secret-removal":      "aggregation over a sliding window, weighted by keys",
	"huggingface-bulk-member-removal":      "aggregation over a sliding window",
	"huggingface-first-compute-job":        "new terms: needs the history before the range",
	"huggingface-token-new-network":        "new terms: needs the history before the range",
	"huggingface-admin-action-new-country": "new terms: needs the history before the range",
	"huggingface-log-silence":              "absence of events",
	"huggingface-payment-method-removed":   "absence of a follow-up event (the replacement card)",
	"huggingface-audit-health":             "new terms (a type first seen) and the absence of fields, grouped per type",
	"huggingface-oauth-client-new":         "new terms: needs the history before the range",
	"huggingface-invite-outside-domain":    "new terms: needs the history before the range",
	"huggingface-sso-login-unusual":        "new terms: needs the history before the range, and the IP enrichment",
	"huggingface-token-approval-abuse":     "correlation with the request and count over a window",
	"huggingface-sso-provider-changed":     "compares with the provider of earlier events",
}

// sqlOnly are the reasons of findings a rule's Sigma twin cannot make
// (detections/sigma/README.md, "What the single-event rules lose"): those
// rows are left out of the comparison, and only those.
var sqlOnly = map[string][]string{
	"huggingface-audit-log-exported": {"new_address"},  // needs the collector's earlier addresses
	"huggingface-repo-made-public":   {"unknown_flag"}, // a flag's JSON type
}

// sigmaComparable drops the rows of d whose reason its Sigma rule cannot make.
func sigmaComparable(d string, rows []map[string]any) []map[string]any {
	return slices.DeleteFunc(rows, func(r map[string]any) bool {
		reason, _ := r["reason"].(string)
		return slices.Contains(sqlOnly[d], reason)
	})
}

var (
	uuidRE   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	attackRE = regexp.MustCompile(`^attack\.t[0-9]{4}(\.[0-9]{3})?$`)
)

// expand is Sigma's placeholder modifier. sigma-go v0.6.6 expands every
// %name% value by itself (WithPlaceholderExpander) but does not know the
// modifier's name: register it as a no-op.
type expand struct{}

func (expand) Modify(v any) (any, error) { return v, nil }

func init() { modifiers.ValueModifiers["expand"] = expand{} }

type sigmaRule struct {
	name string
	rule sigma.Rule
}

// loadSigma parses every rule and checks the SigmaHQ metadata.
func loadSigma(t *testing.T, ds []detections.Detection) []sigmaRule {
	t.Helper()
	files, err := detections.SigmaRules()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]bool{}
	for _, d := range ds {
		byName[d.Name] = true
	}
	var out []sigmaRule
	for file, b := range files {
		name := strings.TrimSuffix(file, ".yml")
		r, err := sigma.ParseRule(b)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		var meta struct {
			Date           string   `json:"date"`
			FalsePositives []string `json:"falsepositives"`
		}
		if raw, err := json.Marshal(r.AdditionalFields); err == nil {
			_ = json.Unmarshal(raw, &meta)
		}
		var problems []string
		if !byName[name] {
			problems = append(problems, "no SQL detection of the same name")
		}
		if _, ok := notSigma[name]; ok {
			problems = append(problems, "listed as not expressible in Sigma")
		}
		if r.Title == "" || r.Description == "" || r.Author == "" || r.Status == "" || r.Level == "" || len(r.References) == 0 || meta.Date == "" || len(meta.FalsePositives) == 0 {
			problems = append(problems, "title, description, author, status, level, references, date and falsepositives are required")
		}
		if !uuidRE.MatchString(r.ID) {
			problems = append(problems, fmt.Sprintf("id %q is not a UUID", r.ID))
		}
		if r.Logsource.Product != "huggingface" || r.Logsource.Service != "audit" {
			problems = append(problems, fmt.Sprintf("logsource %+v, want product huggingface, service audit", r.Logsource))
		}
		if !slices.ContainsFunc(r.Tags, attackRE.MatchString) {
			problems = append(problems, "no attack.tXXXX tag")
		}
		if len(r.Detection.Conditions) == 0 || len(r.Detection.Searches) == 0 {
			problems = append(problems, "no detection")
		}
		for _, c := range r.Detection.Conditions {
			if c.Aggregation != nil {
				problems = append(problems, "aggregations are not used (the SQL detections do that)")
			}
		}
		if len(problems) > 0 {
			t.Errorf("%s: %s", file, strings.Join(problems, "; "))
			continue
		}
		out = append(out, sigmaRule{name, r})
	}
	for _, d := range ds {
		if _, ok := files[d.Name+".yml"]; !ok && notSigma[d.Name] == "" {
			t.Errorf("detection %s has no Sigma rule and is not listed as inexpressible", d.Name)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// evaluatorFor builds the evaluator with the field "pipeline": every field
// the rule names (type, author.user, data.sso.enabled ...) is looked up by
// its dotted path in the flattened event, and the placeholders are expanded
// for the organization under test.
func evaluatorFor(r sigma.Rule, org string) *evaluator.RuleEvaluator {
	cfg := sigma.Config{FieldMappings: map[string]sigma.FieldMapping{}}
	for _, search := range r.Detection.Searches {
		for _, em := range search.EventMatchers {
			for i, fm := range em {
				cfg.FieldMappings[fm.Field] = sigma.FieldMapping{TargetNames: []string{fm.Field}}
				// Sigma's `field: null` (absent or null) reaches sigma-go v0.6.6
				// as a nil value, which it rejects; its comparators spell that
				// match "null".
				for j, v := range fm.Values {
					if v == nil {
						em[i].Values[j] = "null"
					}
				}
			}
		}
	}
	placeholders := map[string][]string{
		"%organization_repo_prefix%": {org + "/"},
		"%collector_token_last4%":    {simulator.DefaultToken[len(simulator.DefaultToken)-4:]},
		"%collector_token_id%":       {simulator.SelfExportTokenID},
		"%collector_token_owner%":    {simulator.DefaultTokenOwner},
	}
	return evaluator.ForRule(r, evaluator.WithConfig(cfg),
		evaluator.WithPlaceholderExpander(func(_ context.Context, name string) ([]string, error) {
			if v, ok := placeholders[name]; ok {
				return v, nil
			}
			return nil, fmt.Errorf("unknown placeholder %s", name)
		}))
}

// flatten maps every dotted path of a Hub event to its value. Objects inside
// arrays contribute their fields to the array's path (data.role of an array
// of {user, role}), as a list: a rule matches when any element does.
func flatten(prefix string, v any, out map[string]any) {
	if prefix != "" {
		if prev, ok := out[prefix]; ok {
			if list, isList := prev.(multi); isList {
				out[prefix] = append(list, v)
			} else {
				out[prefix] = multi{prev, v}
			}
		} else {
			out[prefix] = v
		}
	}
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, c, out)
		}
	case []any:
		for _, c := range x {
			if m, ok := c.(map[string]any); ok {
				for k, cc := range m {
					flatten(prefix+"."+k, cc, out)
				}
			}
		}
	}
}

// multi holds the values of one path collected from the elements of an array.
type multi []any

// sigmaMatches returns the sorted IDs of the events in [from, to) that r matches.
func sigmaMatches(t *testing.T, ev *evaluator.RuleEvaluator, events []json.RawMessage, from, to time.Time) []string {
	t.Helper()
	var ids []string
	for _, raw := range events {
		var e map[string]any
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		at, err := time.Parse(time.RFC3339, e["createdAt"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if at.Before(from) || !at.Before(to) {
			continue
		}
		flat := map[string]any{}
		flatten("", e, flat)
		for k, v := range flat {
			if m, ok := v.(multi); ok {
				flat[k] = []any(m)
			}
		}
		res, err := ev.Matches(context.Background(), flat)
		if err != nil {
			t.Fatalf("evaluating %s: %v", e["_id"], err)
		}
		if res.Match {
			ids = append(ids, e["_id"].(string))
		}
	}
	sort.Strings(ids)
	return ids
}

func TestSigmaAgreesWithSQL(t *testing.T) {
	ds, scn := setupDetections(t)
	rules := loadSigma(t, ds)
	if len(rules)+len(notSigma) != len(ds) {
		t.Errorf("%d Sigma rules + %d inexpressible != %d detections", len(rules), len(notSigma), len(ds))
	}
	byName := map[string]detections.Detection{}
	for _, d := range ds {
		byName[d.Name] = d
	}
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			d := byName[r.name]
			fired := 0
			// Every scenario, not only the rule's own: the other attacks are
			// near misses for this rule.
			for _, other := range ds {
				s := scn[other.Name]
				// The SQL judges what the middle ingestion inserted: the
				// events of [From, To) (detections_test.go).
				want := eventIDs(sigmaComparable(d.Name, runDetection(t, d, detectionData.judged.from, detectionData.judged.to, nil, s.Organization)))
				got := sigmaMatches(t, evaluatorFor(r.rule, s.Organization), s.Events, s.From, s.To)
				if !slices.Equal(got, want) {
					t.Errorf("scenario %s: Sigma matched %v, SQL returned %v", other.Name, got, want)
				}
				if other.Name == r.name && len(got) == 0 {
					t.Errorf("Sigma did not fire on its own scenario")
				}
				fired += len(got)
			}
			to := benignEnd.Add(time.Minute)
			want := eventIDs(sigmaComparable(d.Name, runDetection(t, d, detectionData.judged.from, detectionData.judged.to, nil, benignOrg)))
			if got := sigmaMatches(t, evaluatorFor(r.rule, benignOrg), detectionData.benign, benignFrom, to); !slices.Equal(got, want) {
				t.Errorf("benign history: Sigma matched %v, SQL returned %v", got, want)
			}
			t.Logf("%d events matched by both over %d scenarios and the benign history", fired, len(ds))
		})
	}
}

// TestSigmaCorrelationChain evaluates the pack's temporal_ordered
// correlation rules the way a Sigma backend would: each referenced rule
// through sigma-go, its matches grouped by the group-by fields, the rules'
// first matches in order within the timespan. The simulator's attack story
// must fire; the benign month must not.
func TestSigmaCorrelationChain(t *testing.T) {
	rules, err := detections.SigmaRules()
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]sigma.Rule{}
	for _, b := range rules {
		r, err := sigma.ParseRule(b)
		if err != nil {
			t.Fatal(err)
		}
		byID[r.ID] = r
	}
	corr, err := detections.SigmaCorrelations()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	sim, err := simulator.New(simulator.Options{Org: "chain-org", InitialEvents: 200, Seed: 5, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	attack := sim.InjectAttack(now.Add(-time.Hour))
	month := simulator.BenignMonth("chain-month", 7, now)
	for file, b := range corr {
		var c struct {
			Correlation struct {
				Type     string   `yaml:"type"`
				Rules    []string `yaml:"rules"`
				GroupBy  []string `yaml:"group-by"`
				Timespan string   `yaml:"timespan"`
			} `yaml:"correlation"`
		}
		if err := yaml.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		if c.Correlation.Type != "temporal_ordered" {
			continue
		}
		span, err := time.ParseDuration(c.Correlation.Timespan)
		if err != nil {
			t.Fatalf("%s: timespan %q: %v", file, c.Correlation.Timespan, err)
		}
		chains := func(org string, events []json.RawMessage) map[string]bool {
			// Per group, the times each rule matched.
			matched := map[string][][]time.Time{}
			for i, id := range c.Correlation.Rules {
				ev := evaluatorFor(byID[id], org)
				for _, raw := range events {
					var e map[string]any
					if err := json.Unmarshal(raw, &e); err != nil {
						t.Fatal(err)
					}
					flat := map[string]any{}
					flatten("", e, flat)
					for k, v := range flat {
						if m, ok := v.(multi); ok {
							flat[k] = []any(m)
						}
					}
					res, err := ev.Matches(context.Background(), flat)
					if err != nil || !res.Match {
						continue
					}
					// An event without a group-by field belongs to no group.
					var key []string
					for _, f := range c.Correlation.GroupBy {
						if flat[f] == nil {
							key = nil
							break
						}
						key = append(key, fmt.Sprint(flat[f]))
					}
					if key == nil {
						continue
					}
					k := strings.Join(key, "|")
					if matched[k] == nil {
						matched[k] = make([][]time.Time, len(c.Correlation.Rules))
					}
					at, _ := time.Parse(time.RFC3339, e["createdAt"].(string))
					matched[k][i] = append(matched[k][i], at)
				}
			}
			fired := map[string]bool{}
			for k, times := range matched {
				// Greedy: from each first-rule match, the earliest match of
				// each next rule at or after the previous one, within span.
				for _, start := range times[0] {
					prev, ok := start, true
					for _, next := range times[1:] {
						found := false
						for _, at := range next {
							if !at.Before(prev) && at.Sub(start) <= span {
								prev, found = at, true
								break
							}
						}
						ok = ok && found
					}
					if ok {
						fired[k] = true
					}
				}
			}
			return fired
		}
		if got := chains("chain-org", sim.EventsJSON()); !got[attack.TokenID] {
			t.Errorf("%s: did not fire on the attack story's token %s (fired for %v)", file, attack.TokenID, got)
		}
		if got := chains("chain-month", month.Events); len(got) > 0 {
			t.Errorf("%s: fired on the benign month: %v", file, got)
		}
	}
}
