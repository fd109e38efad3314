package clickhouse

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	hfreceiver "github.com/hfauditlog/huggingfaceauditreceiver"
	"github.com/hfauditlog/huggingfaceauditreceiver/detections"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

// The detection pack on the real engine: every detection's scenario and a
// benign history go through the receiver, the contrib clickhouseexporter,
// otel_logs and the view into huggingface_logs of one database, each in its
// own organization; every detection then runs with its parameters as query
// parameters, the way cmd/hfauditdetect runs it.

const detectionsDB = "detections"

var (
	scenarioDir = filepath.Join(repoRoot, "detections", "scenarios")
	// benign history: four weeks of the simulator's benign profile.
	benignOrg    = "benign-org"
	benignEnd    = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	benignSpan   = 28 * 24 * time.Hour
	benignEvents = 8000
	// The benign runs start after two weeks of history, so that the
	// new-terms detections have a lookback to compare with.
	benignFrom = benignEnd.Add(-14 * 24 * time.Hour)
)

// scenario is a detections/scenarios/NAME.json file.
type scenario struct {
	Description  string            `json:"description"`
	Organization string            `json:"organization"`
	From         time.Time         `json:"from"`
	To           time.Time         `json:"to"`
	Params       map[string]string `json:"params"`
	Expect       []string          `json:"expect"`
	Events       []json.RawMessage `json:"events"`
	// WithoutRaw are events polled by a receiver with include_raw: false
	// (rawLog empty), for organization + noRawSuffix; the detection fires
	// on ExpectWithoutRaw among them.
	WithoutRaw       []json.RawMessage `json:"withoutRaw"`
	ExpectWithoutRaw []string          `json:"expectWithoutRaw"`
	// UnknownShape and UnknownShapeWithoutRaw, when given, are exactly the
	// event IDs reported with reason unknown_shape; the other expected
	// events are reported for what they are.
	UnknownShape           []string `json:"unknownShape"`
	UnknownShapeWithoutRaw []string `json:"unknownShapeWithoutRaw"`
}

// noRawSuffix names the organization of a scenario's WithoutRaw events.
const noRawSuffix = "-noraw"

// noRaw turns include_raw off.
func noRaw(c *hfreceiver.Config) { c.IncludeRaw = false }

func loadScenario(t testing.TB, name string) scenario {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(scenarioDir, name+".json"))
	if err != nil {
		t.Fatalf("detection %s has no scenario: %v", name, err)
	}
	var s scenario
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("scenario %s: %v", name, err)
	}
	if s.Organization == "" || s.From.IsZero() || !s.To.After(s.From) || len(s.Expect) == 0 || len(s.Events) == 0 {
		t.Fatalf("scenario %s: organization, from < to, expect and events are required", name)
	}
	return s
}

// exportServer serves events as the Hub's export endpoint of org, and the
// whoami endpoint for the simulator's default token.
func exportServer(t testing.TB, org string, events []json.RawMessage) *httptest.Server {
	t.Helper()
	body, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/organizations/{org}/audit-log/export", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("org") != org || r.Header.Get("Authorization") != "Bearer "+simulator.DefaultToken {
			http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("GET /api/whoami-v2", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"type":"user","name":"`+simulator.DefaultTokenOwner+`"}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// ingest runs one receiver poll of org at endpoint into the exporter and
// waits until want records went through.
func ingest(t testing.TB, endpoint, org string, next *countingConsumer, want int64, opts ...func(*hfreceiver.Config)) {
	t.Helper()
	before := next.records.Load()
	rcv := startReceiverOrg(t, endpoint, org, next, 0, opts...)
	waitFor(t, 2*time.Minute, fmt.Sprintf("%d records of %s", want, org), func() bool { return next.records.Load()-before >= want })
	if err := rcv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// postDetection runs sql on detectionsDB with the time range and d's
// parameters (defaults, overridden by params) as query parameters, the way
// the ClickHouse HTTP interface takes them.
func postDetection(d detections.Detection, sql string, from, to time.Time, params map[string]string) (string, error) {
	return postDetectionIn(detectionsDB, d, sql, from, to, params)
}

// postDetectionIn is postDetection on database db.
func postDetectionIn(db string, d detections.Detection, sql string, from, to time.Time, params map[string]string) (string, error) {
	v := url.Values{}
	v.Set("database", db)
	v.Set("default_format", "JSONEachRow")
	v.Set("param_from", from.UTC().Format(time.DateTime))
	v.Set("param_to", to.UTC().Format(time.DateTime))
	for k, val := range d.Defaults() {
		v.Set("param_"+k, val)
	}
	for k, val := range params {
		v.Set("param_"+k, val)
	}
	return post(sql, v)
}

// runDetection runs d and returns its finding rows for org, checking that
// every row carries the columns every detection promises.
func runDetection(t testing.TB, d detections.Detection, from, to time.Time, params map[string]string, org string) []map[string]any {
	t.Helper()
	return runDetectionIn(t, detectionsDB, d, from, to, params, org)
}

// runDetectionIn is runDetection on database db.
func runDetectionIn(t testing.TB, db string, d detections.Detection, from, to time.Time, params map[string]string, org string) []map[string]any {
	t.Helper()
	body, err := postDetectionIn(db, d, d.SQL, from, to, params)
	if err != nil {
		t.Fatalf("detection %s: %v", d.Name, err)
	}
	var rows []map[string]any
	dec := json.NewDecoder(strings.NewReader(body))
	for dec.More() {
		var r map[string]any
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("detection %s: decoding a row: %v", d.Name, err)
		}
		for _, col := range detections.FindingColumns {
			if _, ok := r[col]; !ok {
				t.Fatalf("detection %s: row without column %q: %v", d.Name, col, r)
			}
		}
		if r["organization"] == org {
			rows = append(rows, r)
		}
	}
	return rows
}

// eventIDs returns the sorted union of the rows' event_ids.
func eventIDs(rows []map[string]any) []string {
	var ids []string
	for _, r := range rows {
		for _, id := range r["event_ids"].([]any) {
			ids = append(ids, id.(string))
		}
	}
	sort.Strings(ids)
	return ids
}

// loadDetectionData fills detectionsDB once for every test of this file.
var detectionData struct {
	tried  bool
	loaded bool
	ds     []detections.Detection
	scn    map[string]scenario
	benign []json.RawMessage // the benign events the receiver polled
	// judged is when the events of every scenario's range and of the benign
	// runs reached ClickHouse: the range the detections judge.
	judged received
}

// splitAt splits events by createdAt: before at, from at on to before to,
// and from to on.
func splitAt(t testing.TB, events []json.RawMessage, at, to time.Time) (history, inRange, after []json.RawMessage) {
	t.Helper()
	for _, e := range events {
		var ev struct {
			CreatedAt time.Time `json:"createdAt"`
		}
		if err := json.Unmarshal(e, &ev); err != nil {
			t.Fatalf("event without a createdAt: %v\n%s", err, e)
		}
		switch {
		case ev.CreatedAt.Before(at):
			history = append(history, e)
		case ev.CreatedAt.Before(to):
			inRange = append(inRange, e)
		default:
			after = append(after, e)
		}
	}
	return history, inRange, after
}

func setupDetections(t *testing.T) ([]detections.Detection, map[string]scenario) {
	t.Helper()
	if detectionData.loaded {
		return detectionData.ds, detectionData.scn
	}
	if detectionData.tried {
		t.Fatal("loading the detection data failed in an earlier test")
	}
	detectionData.tried = true
	ds, err := detections.Load()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	exp := newExporter(t, detectionsDB)
	applySchema(t, detectionsDB)
	next := &countingConsumer{next: exp}
	scn := map[string]scenario{}
	sim, err := simulator.NewBenign(simulator.Options{
		Org: benignOrg, Seed: 42, InitialEvents: benignEvents, InitialSpan: benignSpan,
		Now: func() time.Time { return benignEnd },
	})
	if err != nil {
		t.Fatal(err)
	}
	detectionData.benign = sim.EventsJSON()
	// Three ingestions, the way events reach ClickHouse in production:
	// first the history (events before a scenario's from, and the benign
	// history before benignFrom), then the events of the ranges, which the
	// detections judge, then what comes after. The Hub's export endpoint
	// serves each part in turn.
	type part struct {
		org    string
		events []json.RawMessage
		opts   []func(*hfreceiver.Config)
	}
	var phases [3][]part
	for _, d := range ds {
		s := loadScenario(t, d.Name)
		scn[d.Name] = s
		h, in, after := splitAt(t, s.Events, s.From, s.To)
		phases[0], phases[1], phases[2] = append(phases[0], part{s.Organization, h, nil}), append(phases[1], part{s.Organization, in, nil}), append(phases[2], part{s.Organization, after, nil})
		if len(s.WithoutRaw) > 0 {
			h, in, after := splitAt(t, s.WithoutRaw, s.From, s.To)
			o, opts := s.Organization+noRawSuffix, []func(*hfreceiver.Config){noRaw}
			phases[0], phases[1], phases[2] = append(phases[0], part{o, h, opts}), append(phases[1], part{o, in, opts}), append(phases[2], part{o, after, opts})
		}
	}
	h, in, after := splitAt(t, detectionData.benign, benignFrom, benignEnd.Add(time.Minute))
	phases[0], phases[1], phases[2] = append(phases[0], part{benignOrg, h, nil}), append(phases[1], part{benignOrg, in, nil}), append(phases[2], part{benignOrg, after, nil})
	for i, parts := range phases {
		r := ingestReceived(func() {
			for _, p := range parts {
				if len(p.events) > 0 {
					ingest(t, exportServer(t, p.org, p.events).URL, p.org, next, int64(len(p.events)), p.opts...)
				}
			}
		})
		if i == 1 {
			detectionData.judged = r
		}
	}
	for _, d := range ds {
		s := scn[d.Name]
		if n := queryInt(t, fmt.Sprintf("SELECT count() FROM %s.huggingface_logs FINAL WHERE workspaceID = '%s'", detectionsDB, s.Organization)); n != int64(len(s.Events)) {
			t.Fatalf("scenario %s: %d rows in huggingface_logs, want %d", d.Name, n, len(s.Events))
		}
	}
	t.Logf("ingested %d scenarios and %d benign events through the receiver and the exporter in %v",
		len(ds), benignEvents, time.Since(start).Round(time.Millisecond))
	detectionData.loaded, detectionData.ds, detectionData.scn = true, ds, scn
	return ds, scn
}

// TestDetectionScenarios: each detection fires on its scenario with exactly
// the expected event IDs.
func TestDetectionScenarios(t *testing.T) {
	ds, scn := setupDetections(t)
	if len(ds) < 20 {
		t.Errorf("%d detections, want at least 20", len(ds))
	}
	for _, d := range ds {
		t.Run(d.Name, func(t *testing.T) {
			s := scn[d.Name]
			rows := runDetection(t, d, detectionData.judged.from, detectionData.judged.to, s.Params, s.Organization)
			if len(rows) == 0 {
				t.Fatalf("did not fire on its scenario (%s)", s.Description)
			}
			want := slices.Clone(s.Expect)
			sort.Strings(want)
			if got := eventIDs(rows); !slices.Equal(got, want) {
				t.Errorf("event_ids %v, want %v\nrows: %v", got, want, rows)
			}
			checkUnknownShape(t, d, rows, s.UnknownShape)
			if len(s.WithoutRaw) == 0 {
				return
			}
			// The same detection with include_raw: false (rawLog empty).
			rows = runDetection(t, d, detectionData.judged.from, detectionData.judged.to, s.Params, s.Organization+noRawSuffix)
			want = slices.Clone(s.ExpectWithoutRaw)
			sort.Strings(want)
			if got := eventIDs(rows); !slices.Equal(got, want) {
				t.Errorf("include_raw false: event_ids %v, want %v\nrows: %v", got, want, rows)
			}
			checkUnknownShape(t, d, rows, s.UnknownShapeWithoutRaw)
		})
	}
}

// severities ranks the pack's severities.
var severities = []string{"Low", "Medium", "High", "Critical"}

// checkUnknownShape: a row with reason unknown_shape reports, in its own
// severity column, a severity below the detection's (Low stays Low), so a
// blind spot is seen without being mistaken for the attack. When the
// scenario lists them (want), those rows hold exactly its events.
func checkUnknownShape(t *testing.T, d detections.Detection, rows []map[string]any, want []string) {
	t.Helper()
	var unknown []map[string]any
	for _, r := range rows {
		if r["reason"] == "unknown_shape" {
			unknown = append(unknown, r)
		}
	}
	if want != nil {
		want = slices.Clone(want)
		sort.Strings(want)
		if got := eventIDs(unknown); !slices.Equal(got, want) {
			t.Errorf("unknown_shape rows hold %v, want %v", got, want)
		}
	}
	for _, r := range unknown {
		sev, _ := r["severity"].(string)
		got, own := slices.Index(severities, sev), slices.Index(severities, d.Severity)
		if got < 0 || (got >= own && own > 0) {
			t.Errorf("unknown_shape row with severity %q, want one below the detection's %s: %v", sev, d.Severity, r)
		}
	}
}

// TestDetectionsBenign: no detection fires on two weeks of ordinary activity
// (after two weeks of history), with default parameters.
func TestDetectionsBenign(t *testing.T) {
	ds, _ := setupDetections(t)
	if n := queryInt(t, fmt.Sprintf("SELECT count() FROM %s.huggingface_logs WHERE workspaceID = '%s'", detectionsDB, benignOrg)); n != int64(benignEvents) {
		t.Fatalf("benign history: %d rows in huggingface_logs, want %d", n, benignEvents)
	}
	byName := map[string]detections.Detection{}
	for _, d := range ds {
		byName[d.Name] = d
		t.Run(d.Name, func(t *testing.T) {
			if rows := runDetection(t, d, detectionData.judged.from, detectionData.judged.to, nil, benignOrg); len(rows) > 0 {
				t.Errorf("fired on the benign history: %v", rows)
			}
		})
	}
	// Controls: the runs above do see the benign history. With a threshold
	// of 1 every deletion is "mass"; with no lookback every job creator is new.
	for name, params := range map[string]map[string]string{
		"huggingface-mass-repo-deletion": {"threshold": "1"},
		"huggingface-first-compute-job":  {"lookback_days": "0"},
	} {
		if rows := runDetection(t, byName[name], detectionData.judged.from, detectionData.judged.to, params, benignOrg); len(rows) == 0 {
			t.Errorf("control: %s with %v did not fire on the benign history", name, params)
		}
	}
}

// TestDetectionsParse: every detection's SQL parses and analyzes in chDB
// with its parameters (EXPLAIN AST, then EXPLAIN SYNTAX, which also resolves
// the tables and columns), and the pack's metadata is valid.
func TestDetectionsParse(t *testing.T) {
	ds, _ := setupDetections(t)
	for _, d := range ds {
		t.Run(d.Name, func(t *testing.T) {
			if err := d.Validate(); err != nil {
				t.Fatal(err)
			}
			for _, explain := range []string{"EXPLAIN AST ", "EXPLAIN SYNTAX "} {
				if _, err := postDetection(d, explain+d.SQL, benignFrom, benignEnd, nil); err != nil {
					t.Errorf("%s: %v", explain, err)
				}
			}
		})
	}
	// A broken detection is caught: bad SQL fails in chDB, an undeclared
	// parameter fails validation.
	bad := ds[0]
	bad.SQL = strings.Replace(bad.SQL, "SELECT", "SELEC", 1)
	if _, err := postDetection(bad, "EXPLAIN AST "+bad.SQL, benignFrom, benignEnd, nil); err == nil {
		t.Error("EXPLAIN AST accepted SQL with a syntax error")
	}
	bad = ds[0]
	bad.SQL += " LIMIT {limit:UInt32}"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "not declared") {
		t.Errorf("undeclared parameter: Validate = %v", err)
	}
	bad = ds[0]
	bad.MitreTechniques = nil
	if err := bad.Validate(); err == nil {
		t.Error("missing metadata: Validate = nil")
	}
}
