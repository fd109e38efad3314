package clickhouse

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator/simtest"
)

// detectSecret is the ClickHouse password the runner is given; chdbserver
// does not check it, the test checks that the runner never prints it.
const detectSecret = "pw-detect-e2e-5ecret"

// TestDetectRunner runs cmd/hfauditdetect, built as users build it, against
// huggingface_logs filled the way users fill it (simulator with the attack
// story → receiver → clickhouseexporter → the view), and checks its table
// and JSON output and its exit codes.
func TestDetectRunner(t *testing.T) {
	const db = "detect"
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	sim, err := simulator.New(simulator.Options{InitialEvents: 300, Seed: 11, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	attack := sim.InjectAttack(now.Add(-time.Hour))

	// The history (the organization's and vera's) reaches ClickHouse first,
	// then the attack: the runs below judge what each ingestion inserted.
	exp := newExporter(t, db)
	applySchema(t, db)
	cons := &countingConsumer{next: exp}
	attackIDs := map[string]bool{}
	for _, id := range attack.EventIDs() {
		attackIDs[id] = true
	}
	var history, attackEvents []json.RawMessage
	for _, e := range sim.EventsJSON() {
		var ev struct {
			ID string `json:"_id"`
		}
		if err := json.Unmarshal(e, &ev); err != nil {
			t.Fatal(err)
		}
		if attackIDs[ev.ID] {
			attackEvents = append(attackEvents, e)
		} else {
			history = append(history, e)
		}
	}
	historyReceived := ingestReceived(func() {
		ingest(t, exportServer(t, simulator.DefaultOrg, history).URL, simulator.DefaultOrg, cons, int64(len(history)))
	})
	attackReceived := ingestReceived(func() {
		ingest(t, exportServer(t, simulator.DefaultOrg, attackEvents).URL, simulator.DefaultOrg, cons, int64(len(attackEvents)))
	})

	bin := buildDetect(t)
	dsn := strings.Replace(baseURL, "http://", "http://default:"+detectSecret+"@", 1)
	runDetect := func(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			code = ee.ExitCode()
		default:
			t.Fatal(err)
		}
		if strings.Contains(out.String()+errb.String(), detectSecret) {
			t.Fatalf("the password is in the output:\n%s\n%s", out.String(), errb.String())
		}
		return out.String(), errb.String(), code
	}
	// The attack, judged when it reached ClickHouse.
	attackRange := []string{"-from", attackReceived.from.Format(time.RFC3339), "-to", attackReceived.to.Format(time.RFC3339)}
	base := []string{"-dsn", dsn, "-database", db}

	t.Run("json", func(t *testing.T) {
		out, errOut, code := runDetect(t, nil, append(base, append(attackRange, "-format", "json")...)...)
		if code != 1 {
			t.Fatalf("exit %d, want 1 (findings); stderr:\n%s", code, errOut)
		}
		stepOf := map[string]int{}
		for i, st := range attack.Steps {
			for _, id := range st.EventIDs {
				stepOf[id] = i
			}
		}
		caught := map[int][]string{}
		sc := bufio.NewScanner(strings.NewReader(out))
		sc.Buffer(nil, 16<<20)
		n := 0
		for sc.Scan() {
			n++
			var f map[string]any
			if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
				t.Fatalf("line %d is not a JSON object: %v\n%s", n, err, sc.Text())
			}
			for _, k := range []string{"detection", "display_name", "severity", "risk_score", "mitre", "event_ids", "actor", "event_count", "first_seen", "last_seen"} {
				if _, ok := f[k]; !ok {
					t.Errorf("finding %d has no %q: %s", n, k, sc.Text())
				}
			}
			if m, _ := f["mitre"].(map[string]any); m == nil || len(m["tactics"].([]any)) == 0 || len(m["techniques"].([]any)) == 0 {
				t.Errorf("mitre: %v", f["mitre"])
			}
			if r, _ := f["risk_score"].(float64); r < 1 || r > 100 {
				t.Errorf("risk_score %v", f["risk_score"])
			}
			ids := f["event_ids"].([]any)
			if c, _ := f["event_count"].(float64); int(c) != len(ids) {
				t.Errorf("%s: event_count %v with %d event_ids (a count must be a JSON number)", f["detection"], f["event_count"], len(ids))
			}
			for _, id := range ids {
				if i, ok := stepOf[id.(string)]; ok && !slices.Contains(caught[i], f["detection"].(string)) {
					caught[i] = append(caught[i], f["detection"].(string))
				}
			}
			if f["detection"] == "huggingface-sso-disabled" {
				if !reflect.DeepEqual(ids, []any{attack.Steps[0].EventIDs[0]}) || f["actor"] != simulator.AttackActor || f["severity"] != "Critical" {
					t.Errorf("SSO finding: %s", sc.Text())
				}
			}
		}
		if n == 0 {
			t.Fatal("no findings")
		}
		for i, st := range attack.Steps {
			if len(caught[i]) == 0 {
				t.Errorf("step %d (%s): no detection cites its events", i+1, st.What)
			}
		}
		t.Logf("%d findings; per step: %v", n, caught)
	})

	t.Run("table", func(t *testing.T) {
		out, errOut, code := runDetect(t, nil, append(base, attackRange...)...)
		if code != 1 {
			t.Fatalf("exit %d, want 1; stderr:\n%s", code, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if !strings.HasPrefix(lines[0], "DETECTION") || !strings.Contains(lines[0], "EVENT IDS") {
			t.Fatalf("no header:\n%s", out)
		}
		var sso string
		for _, l := range lines {
			if strings.HasPrefix(l, "huggingface-sso-disabled ") {
				sso = l
			}
		}
		if f := strings.Fields(sso); len(f) < 8 || f[1] != "Critical" || f[2] != simulator.AttackActor || f[3] != "1" || f[len(f)-1] != attack.Steps[0].EventIDs[0] {
			t.Errorf("SSO row %q", sso)
		}
		if !strings.Contains(out, "(+") {
			t.Errorf("no truncated list of event IDs (the 12 deletions):\n%s", out)
		}
		if last := lines[len(lines)-1]; !strings.Contains(last, "detections fired") {
			t.Errorf("no summary: %q", last)
		}
		t.Logf("\n%s", out)
	})

	t.Run("nothing fires", func(t *testing.T) {
		out, errOut, code := runDetect(t, nil, append(base, "-from", "2020-01-01T00:00:00Z", "-to", "2020-01-02T00:00:00Z")...)
		if code != 0 || !strings.HasPrefix(out, "0 of ") || errOut != "" {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		out, _, code = runDetect(t, nil, append(base, "-from", "2020-01-01T00:00:00Z", "-to", "2020-01-02T00:00:00Z", "-format", "json")...)
		if code != 0 || out != "" {
			t.Fatalf("json: exit %d, %q", code, out)
		}
	})

	t.Run("vera's history stays silent", func(t *testing.T) {
		hist := []string{"-from", historyReceived.from.Format(time.RFC3339), "-to", historyReceived.to.Format(time.RFC3339), "-format", "json"}
		out, errOut, code := runDetect(t, nil, append(base, hist...)...)
		if code == 2 {
			t.Fatal(errOut)
		}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			for _, id := range attack.History {
				if strings.Contains(l, id) {
					t.Errorf("a finding cites vera's ordinary history: %s", l)
				}
			}
		}
	})

	t.Run("-set reaches the query", func(t *testing.T) {
		// The mass-deletion threshold above the 12 deletions: silent.
		var name, param string
		for _, l := range strings.Split(mustRun(t, bin, "-list"), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "-set" && strings.Contains(f[1], "deletion") && strings.Contains(f[1], ".threshold=") {
				name, param, _ = strings.Cut(strings.SplitN(f[1], "=", 2)[0], ".")
			}
		}
		if name == "" {
			t.Fatal("-list shows no mass-deletion detection with a threshold parameter")
		}
		args := append(base, append(attackRange, "-only", name, "-format", "json")...)
		if out, errOut, code := runDetect(t, nil, args...); code != 1 || !strings.Contains(out, attack.Steps[5].EventIDs[0]) {
			t.Fatalf("default threshold: exit %d\n%s%s", code, out, errOut)
		}
		if out, errOut, code := runDetect(t, nil, append(args, "-set", name+"."+param+"=13")...); code != 0 {
			t.Fatalf("threshold 13: exit %d\n%s%s", code, out, errOut)
		}
	})

	t.Run("errors name the detection", func(t *testing.T) {
		// An SQL error from the engine: the database does not exist.
		_, errOut, code := runDetect(t, nil, "-dsn", dsn, "-database", "no_such_db", "-only", "huggingface-sso-disabled")
		if code != 2 || !strings.Contains(errOut, "detection huggingface-sso-disabled: HTTP 500: Code: 81") || !strings.Contains(errOut, "UNKNOWN_DATABASE") {
			t.Fatalf("exit %d, stderr:\n%s", code, errOut)
		}
		// Nothing listens there: the first detection is named, the rest not run.
		_, errOut, code = runDetect(t, nil, "-dsn", "http://default:"+detectSecret+"@127.0.0.1:1", "-database", db)
		if code != 2 || !strings.Contains(errOut, "detection ") || !strings.Contains(errOut, "connection refused") || !strings.Contains(errOut, "not run") {
			t.Fatalf("exit %d, stderr:\n%s", code, errOut)
		}
		// A DSN that is not a URL.
		_, errOut, code = runDetect(t, nil, "-dsn", "http://default:"+detectSecret+"@host:port", "-only", "huggingface-sso-disabled")
		if code != 2 || !strings.Contains(errOut, "detection huggingface-sso-disabled: dsn") {
			t.Fatalf("exit %d, stderr:\n%s", code, errOut)
		}
		// Credentials from the environment are not printed either.
		_, errOut, code = runDetect(t, []string{"CLICKHOUSE_USER=default", "CLICKHOUSE_PASSWORD=" + detectSecret}, "-dsn", baseURL, "-database", "no_such_db", "-only", "huggingface-sso-disabled")
		if code != 2 || !strings.Contains(errOut, "UNKNOWN_DATABASE") {
			t.Fatalf("exit %d, stderr:\n%s", code, errOut)
		}
		// A bad -set fails before any query.
		_, errOut, code = runDetect(t, nil, append(base, "-set", "huggingface-sso-disabled.nope=1")...)
		if code != 2 || !strings.Contains(errOut, `no parameter "nope"`) {
			t.Fatalf("exit %d, stderr:\n%s", code, errOut)
		}
	})
}

// buildDetect builds cmd/hfauditdetect as users build it.
func buildDetect(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hfauditdetect")
	build := exec.Command("go", "build", "-o", bin, "./cmd/hfauditdetect")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building hfauditdetect: %v\n%s", err, out)
	}
	return bin
}

func mustRun(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return string(out)
}

// TestDetectREADMEView runs the refreshable materialized view of
// detections/README.md ("Scheduling") on the attack story, written minutes
// ago, and checks that it appends the same finding as the runner.
func TestDetectREADMEView(t *testing.T) {
	const db = "detect_view"
	b, err := os.ReadFile(filepath.Join(repoRoot, "detections", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```sql\n(.*?)```").FindSubmatch(b)
	if block == nil {
		t.Fatal("no SQL block in detections/README.md")
	}
	sim, url := simtest.Start(t, simulator.Options{})
	attack := sim.InjectAttack(time.Now().Add(-2 * time.Minute))
	exp := newExporter(t, db)
	applySchema(t, db)
	cons := &countingConsumer{next: exp}
	want := int64(sim.Len())
	// The view's first refresh, at its creation, judges what was received
	// before that second (receivedAt < now()).
	ingestReceived(func() {
		rcv := startReceiver(t, url, cons, 0)
		waitFor(t, time.Minute, "the backfill", func() bool { return cons.records.Load() >= want })
		if err := rcv.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})

	for _, stmt := range regexp.MustCompile(`;\s*\n`).Split(string(block[1]), -1) {
		if strings.TrimSpace(stmt) != "" {
			query(t, strings.ReplaceAll(stmt, "otel.", db+"."))
		}
	}
	t.Cleanup(func() { query(t, "DROP VIEW IF EXISTS "+db+".hf_sso_disabled") })
	type row struct {
		Detection string   `json:"detection"`
		Actor     string   `json:"actor"`
		EventIDs  []string `json:"event_ids"`
	}
	var rows []row
	waitFor(t, time.Minute, "the view's first refresh", func() bool {
		rows = jsonRows[row](t, "SELECT detection, actor, event_ids FROM "+db+".hf_findings")
		return len(rows) > 0
	})
	if len(rows) != 1 || rows[0].Detection != "huggingface-sso-disabled" || rows[0].Actor != simulator.AttackActor ||
		!reflect.DeepEqual(rows[0].EventIDs, attack.Steps[0].EventIDs) {
		t.Fatalf("hf_findings: %+v, want the SSO step %v", rows, attack.Steps[0].EventIDs)
	}
}
