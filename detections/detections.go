// Package detections is the Hugging Face detection pack: one detection per
// pair of files, NAME.yaml (metadata, in the RunReveal detection-pack format)
// and NAME.sql (a ClickHouse query over huggingface_logs that takes the query
// parameters {from:DateTime}, {to:DateTime} and the ones it declares). The
// single-event detections also exist as Sigma rules under sigma/.
//
// The files are embedded: Load returns every detection, validated.
package detections // import "github.com/hfauditlog/huggingfaceauditreceiver/detections"

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

//go:embed *.yaml *.sql sigma/*.yml sigma/correlations/*.yml alerts/*.yaml alerts/*.sql
var files embed.FS

// Parameter is a query parameter a detection declares, with its default.
type Parameter struct {
	Name string
	// Type is a ClickHouse type: UInt32, String, DateTime ...
	Type        string
	Default     any
	Description string
}

// Detection is one detection: its metadata (NAME.yaml, decoded through the
// yaml tags) and its query (NAME.sql).
type Detection struct {
	Name            string     `yaml:"name"`
	DisplayName     string     `yaml:"displayName"`
	Description     string     `yaml:"description"`
	File            string     `yaml:"file"`
	Categories      []string   `yaml:"categories"`
	MitreAttacks    []string   `yaml:"mitreAttacks"`
	MitreTechniques []string   `yaml:"mitreTechniques"`
	Severity        string     `yaml:"severity"`
	RiskScore       int        `yaml:"riskScore"`
	Schedule        string     `yaml:"schedule"`
	SourceTypes     []string   `yaml:"sourceTypes"`
	Parameters      Parameters `yaml:"parameters"`
	// Triage are the steps to decide whether a finding is an attack;
	// Response what to do when it is. Together: the detection's runbook.
	Triage         []string `yaml:"triage"`
	Response       []string `yaml:"response"`
	FalsePositives []string `yaml:"falsePositives"`
	References     []string `yaml:"references"`
	// Notes is free text for people: the data shapes a detection assumes, tuning advice.
	Notes string `yaml:"notes"`
	SQL   string `yaml:"-"` // contents of File
	// Alert marks a correlation alert (alerts/): its SQL reads
	// huggingface_findings and judges the findings found in the range.
	Alert bool `yaml:"-"`
}

// Parameters are the declared parameters, in declaration order.
type Parameters []Parameter

// Load returns every detection embedded in the package, sorted by Name and
// validated. It fails on the first file that does not parse and reports
// every invalid detection.
func Load() ([]Detection, error) {
	return load(files)
}

// AlertPrefix starts the name of every correlation alert, so that alerts
// never read their own findings.
const AlertPrefix = "huggingface-alert-"

// LoadAlerts returns the correlation alerts (alerts/NAME.yaml and NAME.sql,
// over huggingface_findings), sorted by Name and validated.
func LoadAlerts() ([]Detection, error) {
	sub, err := fs.Sub(files, "alerts")
	if err != nil {
		return nil, err
	}
	return loadAlerts(sub)
}

func loadAlerts(fsys fs.FS) ([]Detection, error) {
	return loadKind(fsys, true)
}

func load(fsys fs.FS) ([]Detection, error) {
	return loadKind(fsys, false)
}

func loadKind(fsys fs.FS, alerts bool) ([]Detection, error) {
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, err
	}
	var out []Detection
	var errs []error
	seen := map[string]string{}
	for _, n := range names {
		d, err := parse(fsys, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d.Alert = alerts
		if err := d.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
		}
		if want := strings.TrimSuffix(n, ".yaml"); d.Name != want {
			errs = append(errs, fmt.Errorf("%s: name %q differs from the file name %q", n, d.Name, want))
		}
		if prev, ok := seen[d.Name]; ok {
			errs = append(errs, fmt.Errorf("%s: name %q already used by %s", n, d.Name, prev))
		}
		seen[d.Name] = n
		out = append(out, d)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// parameter is the long form of a parameter in NAME.yaml.
type parameter struct {
	Type        string    `yaml:"type"`
	Default     yaml.Node `yaml:"default"`
	Description string    `yaml:"description"`
}

func parse(fsys fs.FS, name string) (Detection, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return Detection{}, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var d Detection
	if err := dec.Decode(&d); err != nil {
		return Detection{}, fmt.Errorf("%s: %w", name, err)
	}
	d.Description, d.Notes = strings.TrimSpace(d.Description), strings.TrimSpace(d.Notes)
	if d.File != "" {
		sql, err := fs.ReadFile(fsys, path.Clean(d.File))
		if err != nil {
			return Detection{}, fmt.Errorf("%s: file: %w", name, err)
		}
		d.SQL = string(sql)
	}
	return d, nil
}

// UnmarshalYAML reads `parameters`, a mapping in declaration order. A value
// is either the RunReveal short form, a scalar default (`window: "30"`, its
// type then comes from the SQL placeholder), or the long form
// `{type: UInt32, default: 30, description: ...}`.
func (ps *Parameters) UnmarshalYAML(n *yaml.Node) error {
	out, err := parseParameters(n)
	if err != nil {
		return fmt.Errorf("parameters: %w", err)
	}
	*ps = out
	return nil
}

func parseParameters(n *yaml.Node) ([]Parameter, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping of name to default or {type, default, description}", n.Line)
	}
	var out []Parameter
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := Parameter{Name: k.Value}
		switch v.Kind {
		case yaml.ScalarNode:
			p.Default = v.Value
		case yaml.MappingNode:
			var lp parameter
			if err := v.Decode(&lp); err != nil {
				return nil, fmt.Errorf("%s: %w", k.Value, err)
			}
			p.Type, p.Description = lp.Type, strings.TrimSpace(lp.Description)
			if lp.Default.Kind == yaml.ScalarNode {
				p.Default = defaultValue(lp.Type, lp.Default.Value)
			} else if lp.Default.Kind != 0 {
				return nil, fmt.Errorf("%s: default must be a scalar", k.Value)
			}
		default:
			return nil, fmt.Errorf("%s (line %d): want a scalar or a mapping", k.Value, v.Line)
		}
		out = append(out, p)
	}
	return out, nil
}

// defaultValue types a default by its ClickHouse type when it parses as one,
// and keeps the text otherwise (Validate reports it).
func defaultValue(typ, s string) any {
	switch {
	case strings.HasPrefix(typ, "UInt"):
		if v, err := strconv.ParseUint(s, 10, 64); err == nil {
			return v
		}
	case strings.HasPrefix(typ, "Int"):
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			return v
		}
	case strings.HasPrefix(typ, "Float"):
		if v, err := strconv.ParseFloat(s, 64); err == nil {
			return v
		}
	}
	return s
}

// FindingColumns are the columns every detection returns in each finding
// row: the organization, the actor, how many events, their IDs
// (arraySort(groupArray(id))), the first and last event time, and the
// finding's identity (dedup_key: the detection, the grouping columns and the
// window, the same in every run that finds it again).
var FindingColumns = []string{"organization", "actor", "event_count", "event_ids", "first_seen", "last_seen", "dedup_key"}

var (
	// judgedFromRE and judgedToRE are the range every detection judges: the time the row reached
	// ClickHouse, never the event's own time (late events would be missed).
	judgedFromRE = regexp.MustCompile(`\breceivedAt\s*>=\s*\{from:DateTime\}`)
	judgedToRE   = regexp.MustCompile(`\breceivedAt\s*<\s*\{to:DateTime\}`)
	// An alert judges the findings found in the range.
	alertFromRE = regexp.MustCompile(`\bfound_at\s*>=\s*\{from:DateTime\}`)
	alertToRE   = regexp.MustCompile(`\bfound_at\s*<\s*\{to:DateTime\}`)
	// eventRangeRE is the range of the old framing, on the event's time.
	eventRangeRE  = regexp.MustCompile(`(?i)\beventTime\s*(>=|>|<=|<)\s*\{(from|to):DateTime\}`)
	placeholderRE = regexp.MustCompile(`\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([^{}]+?)\s*\}`)
	nameRE        = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	tacticRE      = regexp.MustCompile(`^TA[0-9]{4}$`)
	techniqueRE   = regexp.MustCompile(`^T[0-9]{4}(\.[0-9]{3})?$`)
	severities    = []string{"Low", "Medium", "High", "Critical"}
	paramTypes    = []string{"UInt8", "UInt16", "UInt32", "UInt64", "Int32", "Int64", "Float64", "String", "DateTime"}
)

// Placeholders returns the query parameters the SQL uses, name to type, in
// the order of first use. A name used with two types is returned with the
// first and reported by Validate.
func Placeholders(sql string) (names []string, types map[string]string) {
	types = map[string]string{}
	for _, m := range placeholderRE.FindAllStringSubmatch(stripComments(sql), -1) {
		if _, ok := types[m[1]]; !ok {
			names = append(names, m[1])
			types[m[1]] = m[2]
		}
	}
	return names, types
}

// stripComments removes `-- ...` line comments, so that placeholders quoted
// in a comment are neither required nor counted.
func stripComments(sql string) string {
	var b strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// Validate checks that the metadata is complete and that the SQL and the
// declared parameters agree: every {x:T} placeholder is from, to (both
// DateTime, both required) or a declared parameter of type T, and every
// declared parameter is used. It reports every problem at once.
func (d Detection) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !nameRE.MatchString(d.Name) {
		bad("name %q: want lower-case words joined by '-'", d.Name)
	}
	for field, v := range map[string]string{"displayName": d.DisplayName, "description": d.Description, "file": d.File, "schedule": d.Schedule} {
		if strings.TrimSpace(v) == "" {
			bad("%s is empty", field)
		}
	}
	if d.File != "" && d.File != d.Name+".sql" {
		bad("file %q: want %q", d.File, d.Name+".sql")
	}
	for field, v := range map[string][]string{
		"categories": d.Categories, "mitreAttacks": d.MitreAttacks, "mitreTechniques": d.MitreTechniques,
		"falsePositives": d.FalsePositives, "references": d.References, "sourceTypes": d.SourceTypes,
		"triage": d.Triage, "response": d.Response,
	} {
		if len(v) == 0 {
			bad("%s is empty", field)
		}
		for _, s := range v {
			if strings.TrimSpace(s) == "" {
				bad("%s has an empty entry", field)
			}
		}
	}
	for _, t := range d.MitreAttacks {
		if !tacticRE.MatchString(t) {
			bad("mitreAttacks: %q is not a MITRE ATT&CK tactic ID (TA0001)", t)
		}
	}
	for _, t := range d.MitreTechniques {
		if !techniqueRE.MatchString(t) {
			bad("mitreTechniques: %q is not a MITRE ATT&CK technique ID (T1078 or T1078.004)", t)
		}
	}
	d.checkAttack(bad)
	if !contains(d.SourceTypes, "huggingface") {
		bad("sourceTypes: want huggingface")
	}
	if !contains(severities, d.Severity) {
		bad("severity %q: want one of %s", d.Severity, strings.Join(severities, ", "))
	}
	if d.RiskScore < 1 || d.RiskScore > 100 {
		bad("riskScore %d: want 1..100", d.RiskScore)
	}
	if d.Schedule != "" {
		if err := validCron(d.Schedule); err != nil {
			bad("schedule %q: %v", d.Schedule, err)
		}
	}
	if strings.TrimSpace(d.SQL) == "" {
		bad("SQL is empty")
	}
	sql := stripComments(d.SQL)
	for _, col := range FindingColumns {
		if !regexp.MustCompile(`(?i)\bAS\s+` + col + `\b`).MatchString(sql) {
			bad("SQL does not return the column %s (every finding row carries %s)", col, strings.Join(FindingColumns, ", "))
		}
	}
	for _, err := range checkFraming(d.Name, sql, d.Alert) {
		bad("%v", err)
	}
	if d.Alert != strings.HasPrefix(d.Name, AlertPrefix) {
		bad("name %q: an alert's name, and only an alert's, starts with %s", d.Name, AlertPrefix)
	}

	used := map[string]string{}
	for _, m := range placeholderRE.FindAllStringSubmatch(sql, -1) {
		if prev, ok := used[m[1]]; ok && prev != m[2] {
			bad("SQL uses {%s} as %s and as %s", m[1], prev, m[2])
		}
		used[m[1]] = m[2]
	}
	declared := map[string]Parameter{}
	for _, p := range d.Parameters {
		if p.Name == "from" || p.Name == "to" {
			bad("parameter %q is reserved (the runner sets the time range)", p.Name)
		}
		if _, dup := declared[p.Name]; dup {
			bad("parameter %q declared twice", p.Name)
		}
		declared[p.Name] = p
		typ := p.Type
		if typ == "" {
			typ = used[p.Name] // short form: the SQL gives the type
		}
		switch {
		case p.Description == "":
			bad("parameter %q has no description", p.Name)
		case !contains(paramTypes, typ):
			bad("parameter %q: type %q, want one of %s", p.Name, typ, strings.Join(paramTypes, ", "))
		case p.Default == nil || fmt.Sprint(p.Default) == "":
			bad("parameter %q has no default", p.Name)
		default:
			if err := CheckValue(typ, fmt.Sprint(p.Default)); err != nil {
				bad("parameter %q: default %v: %v", p.Name, p.Default, err)
			}
		}
		if u, ok := used[p.Name]; !ok {
			bad("parameter %q is declared but the SQL does not use it", p.Name)
		} else if p.Type != "" && u != p.Type {
			bad("parameter %q is declared %s but the SQL uses {%s:%s}", p.Name, p.Type, p.Name, u)
		}
	}
	for _, r := range []string{"from", "to"} {
		if u, ok := used[r]; !ok {
			bad("SQL does not use {%s:DateTime}", r)
		} else if u != "DateTime" {
			bad("SQL uses {%s:%s}, want {%s:DateTime}", r, u, r)
		}
	}
	names := make([]string, 0, len(used))
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := declared[n]; !ok && n != "from" && n != "to" {
			bad("SQL uses {%s:%s} but the parameter is not declared", n, used[n])
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("detection %q: %w", d.Name, err)
	}
	return nil
}

// checkFraming checks the convention of README "Writing a detection": the
// judged range is on receivedAt, event_ids is sorted, and dedup_key names
// the detection. sql has no comments.
func checkFraming(name, sql string, alert bool) []error {
	var errs []error
	switch {
	case alert && (!alertFromRE.MatchString(sql) || !alertToRE.MatchString(sql)):
		errs = append(errs, errors.New("SQL does not judge the findings found in the range: want found_at >= {from:DateTime} AND found_at < {to:DateTime}"))
	case !alert && (!judgedFromRE.MatchString(sql) || !judgedToRE.MatchString(sql)):
		errs = append(errs, errors.New("SQL does not judge the events received in the range: want receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}"))
	}
	if m := eventRangeRE.FindString(sql); m != "" {
		errs = append(errs, fmt.Errorf("SQL compares eventTime with the run's range (%q): judge on receivedAt, keep eventTime for windows and baselines", m))
	}
	if e, ok := expression(sql, "event_ids"); ok && !regexp.MustCompile(`(?i)^arraySort\s*\(`).MatchString(e) {
		errs = append(errs, fmt.Errorf("event_ids is %q: want it sorted, arraySort(groupArray(id)), so that a finding found again has the same IDs", e))
	}
	if e, ok := expression(sql, "dedup_key"); ok && !strings.Contains(e, "'"+name+"'") {
		errs = append(errs, fmt.Errorf("dedup_key is %q: want it to start with the detection's name '%s', then the grouping columns and the window", e, name))
	}
	return errs
}

// expression returns the text of the select expression aliased AS alias:
// back from the alias to the comma or SELECT at the same parenthesis depth.
func expression(sql, alias string) (string, bool) {
	loc := regexp.MustCompile(`(?i)\bAS\s+` + alias + `\b`).FindStringIndex(sql)
	if loc == nil {
		return "", false
	}
	depth := 0
	i := loc[0] - 1
	for ; i >= 0; i-- {
		switch c := sql[i]; {
		case c == ')':
			depth++
		case c == '(':
			if depth == 0 {
				return strings.TrimSpace(sql[i+1 : loc[0]]), true
			}
			depth--
		case c == ',' && depth == 0:
			return strings.TrimSpace(sql[i+1 : loc[0]]), true
		case depth == 0 && i >= 6 && strings.EqualFold(sql[i-5:i+1], "SELECT"):
			return strings.TrimSpace(sql[i+1 : loc[0]]), true
		}
	}
	return strings.TrimSpace(sql[:loc[0]]), true
}

// Defaults returns the default of every declared parameter as text, the way
// the ClickHouse HTTP interface takes query parameters (param_NAME=VALUE).
func (d Detection) Defaults() map[string]string {
	out := make(map[string]string, len(d.Parameters))
	for _, p := range d.Parameters {
		out[p.Name] = fmt.Sprint(p.Default)
	}
	return out
}

// ParamType returns the ClickHouse type of the declared parameter name: its
// declared type, else (the short form) the type its placeholder has in the
// SQL. declared is false when d has no such parameter.
func (d Detection) ParamType(name string) (typ string, declared bool) {
	for _, p := range d.Parameters {
		if p.Name == name {
			if p.Type != "" {
				return p.Type, true
			}
			_, types := Placeholders(d.SQL)
			return types[name], true
		}
	}
	return "", false
}

// CheckValue reports whether s is a valid value of the ClickHouse type typ,
// one of the parameter types Validate accepts (String and other types take
// any text). A number out of the type's range is an error wrapping
// strconv.ErrRange.
func CheckValue(typ, s string) error {
	var err error
	switch typ {
	case "UInt8", "UInt16", "UInt32", "UInt64":
		bits, _ := strconv.Atoi(strings.TrimPrefix(typ, "UInt"))
		_, err = strconv.ParseUint(s, 10, bits)
	case "Int32", "Int64":
		bits, _ := strconv.Atoi(strings.TrimPrefix(typ, "Int"))
		_, err = strconv.ParseInt(s, 10, bits)
	case "Float64":
		_, err = strconv.ParseFloat(s, 64)
	case "DateTime":
		_, err = time.Parse(time.DateTime, s)
	}
	return err
}

// validCron accepts a five-field cron expression (minute hour day month
// weekday) of numbers, ranges, lists, steps and '*'.
func validCron(s string) error {
	fields := strings.Fields(s)
	if len(fields) != 5 {
		return fmt.Errorf("want 5 fields, got %d", len(fields))
	}
	limits := [5][2]int{{0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 7}}
	for i, f := range fields {
		for _, part := range strings.Split(f, ",") {
			rng, step, hasStep := strings.Cut(part, "/")
			if hasStep {
				if n, err := strconv.Atoi(step); err != nil || n < 1 {
					return fmt.Errorf("field %d: bad step %q", i+1, step)
				}
			}
			if rng == "*" {
				continue
			}
			lo, hi, isRange := strings.Cut(rng, "-")
			for _, v := range []string{lo, hi} {
				if v == "" && !isRange && v == hi {
					continue
				}
				n, err := strconv.Atoi(v)
				if err != nil || n < limits[i][0] || n > limits[i][1] {
					return fmt.Errorf("field %d: %q out of %d-%d", i+1, v, limits[i][0], limits[i][1])
				}
			}
		}
	}
	return nil
}

// SigmaRules returns the Sigma rules of the pack, file name (NAME.yml) to
// content, for the single-event detections.
func SigmaRules() (map[string][]byte, error) {
	return sigmaFiles("sigma/*.yml")
}

// SigmaCorrelations returns the Sigma correlation rules of the pack
// (sigma/correlations/NAME.yml), file name to content: they refer to the
// rules of SigmaRules by id.
func SigmaCorrelations() (map[string][]byte, error) {
	return sigmaFiles("sigma/correlations/*.yml")
}

func sigmaFiles(pattern string) (map[string][]byte, error) {
	names, err := fs.Glob(files, pattern)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(names))
	for _, n := range names {
		b, err := fs.ReadFile(files, n)
		if err != nil {
			return nil, err
		}
		out[path.Base(n)] = b
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
