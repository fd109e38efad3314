package detections

import (
	"bytes"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// SigmaHQ's rule conventions, checked in Go because pySigma cannot be
// installed here: the Sigma detection-rule schema (sigma-specification
// v2.1.0, which SigmaHQ's CI validates with), the checks of SigmaHQ's
// tests/test_rules.py that still run, and the pack's own rules (tags equal to
// the detection's MITRE metadata, level equal to its severity).

var (
	sigmaUUID     = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	sigmaTag      = regexp.MustCompile(`^[a-z0-9_-]+\.[a-z0-9._-]+$`)
	sigmaDate     = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	sigmaTimespan = regexp.MustCompile(`^[0-9]+[smhdwMy]$`)
	sigmaStatus   = []string{"stable", "test", "experimental", "deprecated", "unsupported"}
	sigmaLevel    = []string{"informational", "low", "medium", "high", "critical"}
	// sigmaKeys are the top-level keys the schema allows in a rule.
	sigmaKeys = []string{"title", "id", "related", "name", "taxonomy", "status", "description", "license", "references",
		"author", "date", "modified", "tags", "logsource", "detection", "fields", "falsepositives", "level", "scope"}
	// sigmaModifiers are the value modifiers of the specification.
	sigmaModifiers = []string{"contains", "startswith", "endswith", "all", "base64", "base64offset", "utf16le", "utf16be",
		"wide", "utf16", "windash", "re", "i", "m", "s", "cidr", "exists", "expand", "fieldref", "gt", "gte", "lt", "lte",
		"cased", "neq", "minute", "hour", "day", "week", "month", "year"}
	// hubFields are the fields of an audit event in the export schema
	// (shared/hf-audit-log-export.schema.json); data is free-form.
	hubFields = []string{"_id", "createdAt", "type", "message", "ip", "userAgent", "data",
		"location.formatted", "location.country", "location.city",
		"author._id", "author.user", "author.avatarUrl", "author.type", "author.deleted",
		"token.type", "token.id", "token.role", "token.last4", "token.deleted", "oauth.clientId", "oauth.name"}
)

// sigmaDoc is what every Sigma document (rule or correlation) shares.
type sigmaDoc struct {
	Title          string   `yaml:"title"`
	ID             string   `yaml:"id"`
	Status         string   `yaml:"status"`
	Description    string   `yaml:"description"`
	References     []string `yaml:"references"`
	Author         string   `yaml:"author"`
	Date           string   `yaml:"date"`
	Modified       string   `yaml:"modified"`
	Tags           []string `yaml:"tags"`
	FalsePositives []string `yaml:"falsepositives"`
	Level          string   `yaml:"level"`
}

// checkCommon reports the problems of the fields rules and correlations share.
func (r sigmaDoc) checkCommon(first string) []string {
	var p []string
	bad := func(f string, a ...any) { p = append(p, fmt.Sprintf(f, a...)) }
	if first != "title" {
		bad("the first key is %q, want title (SigmaHQ test_title_in_first_line)", first)
	}
	if r.Title == "" || len(r.Title) > 256 || strings.HasSuffix(r.Title, ".") {
		bad("title %q: want 1..256 characters, no final period", r.Title)
	}
	if !sigmaUUID.MatchString(r.ID) {
		bad("id %q is not a lower-case UUID", r.ID)
	}
	if !slices.Contains(sigmaStatus, r.Status) {
		bad("status %q: want one of %v", r.Status, sigmaStatus)
	}
	if r.Description == "" || len(r.Description) > 65535 {
		bad("description empty or too long")
	}
	if r.Author == "" {
		bad("author is empty")
	}
	for _, f := range []struct{ name, v string }{{"date", r.Date}, {"modified", r.Modified}} {
		if f.v == "" && f.name == "modified" {
			continue
		}
		if _, err := time.Parse(time.DateOnly, f.v); err != nil || !sigmaDate.MatchString(f.v) {
			bad("%s %q: want YYYY-MM-DD", f.name, f.v)
		}
	}
	if r.Modified != "" && r.Modified < r.Date {
		bad("modified %s before date %s", r.Modified, r.Date)
	}
	if len(r.References) == 0 {
		bad("no references")
	}
	for _, ref := range r.References {
		if u, err := url.Parse(ref); err != nil || u.Scheme != "https" || u.Host == "" {
			bad("reference %q is not an https URL", ref)
		}
	}
	seen := map[string]bool{}
	for _, tag := range r.Tags {
		if !sigmaTag.MatchString(tag) {
			bad("tag %q: want namespace.name in lower case", tag)
		}
		if seen[tag] {
			bad("tag %q twice", tag)
		}
		seen[tag] = true
		if name, ok := strings.CutPrefix(tag, "attack."); ok && !knownAttackTag(name) {
			bad("tag %q is not an ATT&CK v%s tactic or a technique of detections/attack.go", tag, AttackVersion)
		}
	}
	if !slices.Contains(sigmaLevel, r.Level) {
		bad("level %q: want one of %v", r.Level, sigmaLevel)
	}
	return p
}

func knownAttackTag(name string) bool {
	for _, t := range Tactics {
		if t == name {
			return true
		}
	}
	_, ok := Techniques[strings.ToUpper(name)]
	return ok
}

// firstKey returns the first key of a YAML mapping document.
func firstKey(b []byte) (string, *yaml.Node, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		return "", nil, err
	}
	if len(n.Content) == 0 || n.Content[0].Kind != yaml.MappingNode || len(n.Content[0].Content) == 0 {
		return "", nil, fmt.Errorf("not a mapping")
	}
	return n.Content[0].Content[0].Value, n.Content[0], nil
}

// checkRule reports every convention a single-event rule breaks, against
// the detection of the same name.
func checkRule(b []byte, d Detection) []string {
	first, root, err := firstKey(b)
	if err != nil {
		return []string{err.Error()}
	}
	var p []string
	bad := func(f string, a ...any) { p = append(p, fmt.Sprintf(f, a...)) }
	for i := 0; i < len(root.Content); i += 2 {
		if k := root.Content[i].Value; !slices.Contains(sigmaKeys, k) {
			bad("unknown top-level key %q", k)
		}
	}
	var r struct {
		sigmaDoc  `yaml:",inline"`
		Logsource map[string]string    `yaml:"logsource"`
		Detection map[string]yaml.Node `yaml:"detection"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&r); err != nil {
		return []string{err.Error()}
	}
	p = append(p, r.checkCommon(first)...)
	if len(r.FalsePositives) == 0 {
		bad("no falsepositives")
	}
	if r.Logsource["product"] != "huggingface" || r.Logsource["service"] != "audit" {
		bad("logsource %v: want product huggingface, service audit", r.Logsource)
	}
	if want := strings.ToLower(d.Severity); r.Level != want {
		bad("level %q, the detection's severity is %s", r.Level, d.Severity)
	}
	var attack []string
	for _, tag := range r.Tags {
		if strings.HasPrefix(tag, "attack.") {
			attack = append(attack, tag)
		}
	}
	slices.Sort(attack)
	if want := d.AttackTags(); !slices.Equal(attack, want) {
		bad("attack tags %v, the detection's MITRE metadata says %v", attack, want)
	}
	cond, ok := r.Detection["condition"]
	if !ok || cond.Value == "" && len(cond.Content) == 0 {
		bad("detection has no condition")
	}
	if len(r.Detection) < 2 {
		bad("detection has no search identifier")
	}
	for name, n := range r.Detection {
		if name == "condition" || name == "timeframe" {
			continue
		}
		p = append(p, checkSearch(name, &n)...)
	}
	return p
}

// checkSearch checks a search identifier: a map (or a list of maps) of
// field|modifiers to values, fields of the Hub's event, known modifiers, and
// no one-element list (SigmaHQ test_selection_list_one_value).
func checkSearch(name string, n *yaml.Node) []string {
	var p []string
	switch n.Kind {
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if c.Kind == yaml.MappingNode {
				p = append(p, checkSearch(name, c)...)
			}
		}
		return p
	case yaml.MappingNode:
	default:
		return []string{fmt.Sprintf("%s: want a map of fields", name)}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, v := n.Content[i].Value, n.Content[i+1]
		parts := strings.Split(key, "|")
		field := parts[0]
		if !slices.Contains(hubFields, field) && !strings.HasPrefix(field, "data.") {
			p = append(p, fmt.Sprintf("%s: field %q is not a field of the Hub's audit event", name, field))
		}
		for _, m := range parts[1:] {
			if !slices.Contains(sigmaModifiers, m) {
				p = append(p, fmt.Sprintf("%s: unknown modifier %q", name, m))
			}
		}
		if v.Kind == yaml.SequenceNode && len(v.Content) == 1 {
			p = append(p, fmt.Sprintf("%s: %s is a list of one value; write the value", name, key))
		}
	}
	return p
}

// TestSigmaConventions: every Sigma rule follows SigmaHQ's conventions and
// agrees with its detection's metadata.
func TestSigmaConventions(t *testing.T) {
	pack, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Detection{}
	for _, d := range pack {
		byName[d.Name] = d
	}
	rules, err := SigmaRules()
	if err != nil {
		t.Fatal(err)
	}
	ids, titles := map[string]string{}, map[string]string{}
	for file, b := range rules {
		name := strings.TrimSuffix(file, ".yml")
		d, ok := byName[name]
		if !ok {
			t.Errorf("%s: no detection %s", file, name)
			continue
		}
		for _, problem := range checkRule(b, d) {
			t.Errorf("%s: %s", file, problem)
		}
		var r sigmaDoc
		_ = yaml.Unmarshal(b, &r)
		if prev, dup := ids[r.ID]; dup {
			t.Errorf("%s: id %s already used by %s", file, r.ID, prev)
		}
		if prev, dup := titles[r.Title]; dup {
			t.Errorf("%s: title already used by %s", file, prev)
		}
		ids[r.ID], titles[r.Title] = file, file
	}
}

// TestSigmaConventionsReject: the checks catch what they are for.
func TestSigmaConventionsReject(t *testing.T) {
	pack, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	rules, _ := SigmaRules()
	var d Detection
	var good string
	for _, c := range pack {
		if b, ok := rules[c.Name+".yml"]; ok {
			d, good = c, string(b)
			break
		}
	}
	if p := checkRule([]byte(good), d); len(p) > 0 {
		t.Fatalf("%s: %v", d.Name, p)
	}
	tag := d.AttackTags()[0]
	for _, tc := range []struct{ name, from, to, want string }{
		{"not a UUID", "id: ", "id: x", "is not a lower-case UUID"},
		{"bad status", "status: ", "status: wip\nx-status: ", "status \"wip"},
		{"bad date", "date: ", "date: 26/11/2026\nx-date: ", "want YYYY-MM-DD"},
		{"retired tactic", "    - " + tag, "    - attack.defense-evasion\n    - " + tag, "not an ATT&CK v"},
		{"unknown technique", "    - " + tag, "    - attack.t1999\n    - " + tag, "attack.t1999"},
		{"bad level", "level: ", "level: severe\nx-level: ", "level \"severe"},
		{"not a Hub field", "detection:\n", "detection:\n    extra:\n        actor.name: x\n", "is not a field of the Hub"},
		{"unknown modifier", "detection:\n", "detection:\n    extra:\n        type|like: x\n", "unknown modifier"},
		{"one-value list", "detection:\n", "detection:\n    extra:\n        type:\n            - x\n", "list of one value"},
		{"title not first", "title: ", "author2: x\ntitle: ", "want title"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.from) {
				t.Fatalf("%q not in the rule", tc.from)
			}
			p := checkRule([]byte(strings.Replace(good, tc.from, tc.to, 1)), d)
			if tc.want == "" {
				return
			}
			if !strings.Contains(strings.Join(p, "\n"), tc.want) {
				t.Errorf("problems %v, want %q", p, tc.want)
			}
		})
	}
}

// correlationKeys are the top-level keys of the correlation-rule schema.
var correlationKeys = []string{"title", "id", "name", "status", "description", "author", "references", "date", "modified",
	"taxonomy", "correlation", "falsepositives", "level", "generate"}

// checkCorrelation checks a correlation rule against the correlation-rule
// schema of sigma-specification v2.1.0 (sigma-go v0.6.6 cannot parse them):
// its fields, a known type with what the type requires, rules that are
// rules of the pack, group-by fields of the Hub's event, and the timespan.
func checkCorrelation(b []byte, ruleIDs map[string]string) []string {
	first, root, err := firstKey(b)
	if err != nil {
		return []string{err.Error()}
	}
	var p []string
	bad := func(f string, a ...any) { p = append(p, fmt.Sprintf(f, a...)) }
	for i := 0; i < len(root.Content); i += 2 {
		if k := root.Content[i].Value; !slices.Contains(correlationKeys, k) {
			bad("unknown top-level key %q", k)
		}
	}
	var r struct {
		sigmaDoc    `yaml:",inline"`
		Correlation struct {
			Type      string         `yaml:"type"`
			Rules     []string       `yaml:"rules"`
			GroupBy   []string       `yaml:"group-by"`
			Timespan  string         `yaml:"timespan"`
			Condition map[string]any `yaml:"condition"`
		} `yaml:"correlation"`
	}
	if err := yaml.Unmarshal(b, &r); err != nil {
		return []string{err.Error()}
	}
	p = append(p, r.checkCommon(first)...)
	c := r.Correlation
	types := []string{"event_count", "value_count", "temporal", "temporal_ordered", "value_sum", "value_avg", "value_percentile"}
	if !slices.Contains(types, c.Type) {
		bad("correlation type %q: want one of %v", c.Type, types)
	}
	if len(c.Rules) == 0 {
		bad("correlation refers to no rule")
	}
	seen := map[string]bool{}
	for _, id := range c.Rules {
		if _, ok := ruleIDs[id]; !ok {
			bad("correlation rule %q is not the id of a rule of the pack", id)
		}
		if seen[id] {
			bad("correlation rule %q twice", id)
		}
		seen[id] = true
	}
	if (c.Type == "temporal" || c.Type == "temporal_ordered") && len(c.Rules) < 2 {
		bad("a %s correlation needs two rules or more", c.Type)
	}
	if c.Type != "temporal" && c.Type != "temporal_ordered" && len(c.Condition) == 0 {
		bad("a %s correlation needs a condition", c.Type)
	}
	if len(c.GroupBy) == 0 {
		bad("no group-by")
	}
	for _, f := range c.GroupBy {
		if !slices.Contains(hubFields, f) && !strings.HasPrefix(f, "data.") {
			bad("group-by %q is not a field of the Hub's audit event", f)
		}
	}
	if !sigmaTimespan.MatchString(c.Timespan) || len(c.Timespan) > 10 {
		bad("timespan %q: want a number and one of s, m, h, d, w, M, y", c.Timespan)
	}
	return p
}

// TestSigmaCorrelations: the correlation rules are valid and refer to rules
// of the pack.
func TestSigmaCorrelations(t *testing.T) {
	rules, err := SigmaRules()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for file, b := range rules {
		var r sigmaDoc
		if err := yaml.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		ids[r.ID] = file
	}
	corr, err := SigmaCorrelations()
	if err != nil {
		t.Fatal(err)
	}
	if len(corr) == 0 {
		t.Fatal("no correlation rule embedded")
	}
	for file, b := range corr {
		for _, problem := range checkCorrelation(b, ids) {
			t.Errorf("%s: %s", file, problem)
		}
		good := string(b)
		// The checks catch what they are for.
		for _, tc := range []struct{ from, to, want string }{
			{"type: temporal_ordered", "type: sequence", "correlation type"},
			{"timespan: 1h", "timespan: an hour", "timespan"},
			{"        - token.id", "        - token.name", "group-by"},
			{"    rules:\n", "    rules:\n        - 00000000-0000-4000-8000-000000000000\n", "not the id of a rule"},
		} {
			if !strings.Contains(good, tc.from) {
				t.Errorf("%s: %q not in the rule", file, tc.from)
				continue
			}
			p := checkCorrelation([]byte(strings.Replace(good, tc.from, tc.to, 1)), ids)
			if !strings.Contains(strings.Join(p, "\n"), tc.want) {
				t.Errorf("%s with %q: problems %v, want %q", file, tc.to, p, tc.want)
			}
		}
	}
}
