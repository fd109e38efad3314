package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hfauditlog/huggingfaceauditreceiver/clickhouse"
	"github.com/hfauditlog/huggingfaceauditreceiver/detections"
)

// fakeDeliveries is the pending and sent state in memory.
type fakeDeliveries struct {
	findings []pendingFinding
	sent     map[string]bool // channel/key
}

func (f *fakeDeliveries) pending(_ context.Context, channel string, _ time.Duration, limit int) ([]pendingFinding, error) {
	var out []pendingFinding
	for _, p := range f.findings {
		if !f.sent[channel+"/"+p.DedupKey] && len(out) < limit {
			out = append(out, p)
		}
	}
	return out, nil
}

func (f *fakeDeliveries) givenUp(context.Context, string, time.Duration, int64) ([]givenUpFinding, error) {
	return nil, nil
}

func (f *fakeDeliveries) markSent(_ context.Context, channel, key string) error {
	f.sent[channel+"/"+key] = true
	return nil
}

// flaky is a channel that fails until up, on the test's clock.
type flaky struct {
	now      func() time.Time
	up       time.Time
	attempts []time.Time
	got      map[string]int
}

func (c *flaky) ID() string { return "test:flaky" }

func (c *flaky) Send(_ context.Context, f pendingFinding) error {
	c.attempts = append(c.attempts, c.now())
	if c.now().Before(c.up) {
		return &sendError{status: 503}
	}
	c.got[f.DedupKey]++
	return nil
}

// deliverOnClock runs delivery passes on the test's clock until end, as the
// service does: it sleeps until the first channel's next retry or the next
// run (every 15 s here). before runs before each pass.
func deliverOnClock(w *watcher, clock *time.Time, end time.Time, before func()) {
	for clock.Before(end) {
		before()
		w.deliver(context.Background())
		next := clock.Add(15 * time.Second)
		if cs := w.channels[0]; cs.next.After(*clock) && cs.next.Before(next) {
			next = cs.next
		}
		*clock = next
	}
}

// TestDeliveryOutage: a channel down for 10 minutes, on a fake clock, with
// findings made before and during the outage. The watcher retries with a
// growing backoff (at most a minute apart, never a storm), delivers every
// finding once within a minute of the channel's return, and loses nothing.
func TestDeliveryOutage(t *testing.T) {
	clock := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	ch := &flaky{now: now, up: clock.Add(10 * time.Minute), got: map[string]int{}}
	store := &fakeDeliveries{sent: map[string]bool{}}
	w := &watcher{
		deliveries: store, wcfg: watchConfig{maxAge: 24 * time.Hour},
		channels: []*channelState{{ch: ch}}, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		now: now, newBackoff: defaultBackoff,
	}
	w.initChannels()
	store.findings = append(store.findings, pendingFinding{DedupKey: "a"}, pendingFinding{DedupKey: "b"})
	deliverOnClock(w, &clock, ch.up.Add(5*time.Minute), func() {
		if clock.After(ch.up.Add(-5*time.Minute)) && len(store.findings) == 2 {
			store.findings = append(store.findings, pendingFinding{DedupKey: "c"}) // found during the outage
		}
	})
	for _, k := range []string{"a", "b", "c"} {
		if ch.got[k] != 1 {
			t.Errorf("finding %s delivered %d times, want once", k, ch.got[k])
		}
	}
	var during int
	for i, at := range ch.attempts {
		if at.Before(ch.up) {
			during++
		}
		if i > 0 && at.Sub(ch.attempts[i-1]) > time.Minute+7*time.Second {
			t.Errorf("attempts %v apart: the backoff is capped at a minute (plus jitter)", at.Sub(ch.attempts[i-1]))
		}
	}
	// 1, 2, 4, ... 64 s, then a minute: about 16 attempts in 10 minutes.
	if during < 8 || during > 25 {
		t.Errorf("%d attempts during the 10-minute outage, want a backoff (not a storm, not giving up)", during)
	}
	var firstOK time.Time
	for _, at := range ch.attempts {
		if !at.Before(ch.up) {
			firstOK = at
			break
		}
	}
	if d := firstOK.Sub(ch.up); d < 0 || d > time.Minute+7*time.Second {
		t.Errorf("delivered %v after the channel came back, want within the backoff cap", d)
	}
}

// TestDeliveryRetryAfter: a 429 with Retry-After waits at least that long.
func TestDeliveryRetryAfter(t *testing.T) {
	clock := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	store := &fakeDeliveries{sent: map[string]bool{}, findings: []pendingFinding{{DedupKey: "a"}}}
	ch := retryAfterChannel{}
	w := &watcher{deliveries: store, wcfg: watchConfig{maxAge: time.Hour}, channels: []*channelState{{ch: ch}},
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: func() time.Time { return clock }, newBackoff: defaultBackoff}
	w.initChannels()
	w.deliver(context.Background())
	if got := w.channels[0].next.Sub(clock); got < 90*time.Second {
		t.Errorf("next attempt in %v, want the 90s of Retry-After", got)
	}
}

type retryAfterChannel struct{}

func (retryAfterChannel) ID() string { return "test:429" }
func (retryAfterChannel) Send(context.Context, pendingFinding) error {
	return &sendError{status: 429, retryAfter: 90 * time.Second}
}

// TestRowsNotify: every finding is stored; notify follows -min-severity and
// the per-detection override; the payload is the -format json object.
func TestRowsNotify(t *testing.T) {
	f := func(d detections.Detection) finding {
		return finding{detection: d, columns: []string{"organization", "actor", "event_count", "event_ids", "first_seen", "last_seen", "dedup_key", "repos"},
			values: []json.RawMessage{[]byte(`"acme"`), []byte(`"mallory"`), []byte(`2`), []byte(`["b","a"]`), []byte(`"2026-06-01 12:00:00"`),
				[]byte(`"2026-06-01 12:05:00"`), []byte(`"` + d.Name + `|acme|mallory"`), []byte(`["acme/x"]`)}}
	}
	high := detections.Detection{Name: "x-high", Severity: "High", RiskScore: 70, MitreAttacks: []string{"TA0040"}, MitreTechniques: []string{"T1485"}}
	medium := detections.Detection{Name: "x-medium", Severity: "Medium", RiskScore: 50}
	w := &watcher{}
	for _, tc := range []struct {
		d      detections.Detection
		min    string
		notify bool
	}{{high, "High", true}, {medium, "High", false}, {medium, "Medium", true}, {high, "Critical", false}} {
		rows, err := w.rows([]finding{f(tc.d)}, &watchJob{job: job{detection: tc.d}, minSeverity: tc.min}, time.Unix(0, 0), time.Unix(60, 0))
		if err != nil {
			t.Fatal(err)
		}
		r := rows[0]
		if r.Notify != tc.notify || r.DedupKey != tc.d.Name+"|acme|mallory" || r.Org != "acme" || r.EventCount != 2 || r.Details["repos"] != `["acme/x"]` {
			t.Errorf("%s with min %s: %+v", tc.d.Name, tc.min, r)
		}
		var p map[string]any
		if err := json.Unmarshal([]byte(r.Payload), &p); err != nil || p["detection"] != tc.d.Name || p["dedup_key"] != r.DedupKey || p["severity"] != tc.d.Severity {
			t.Errorf("payload %s: %v", r.Payload, err)
		}
	}
	// A row of unknown shape carries its own, lower severity: it is stored
	// and sent with it, and -min-severity judges it.
	lower := f(high)
	lower.columns = append(lower.columns, "severity")
	lower.values = append(lower.values, []byte(`"Medium"`))
	for _, tc := range []struct {
		min    string
		notify bool
	}{{"High", false}, {"Medium", true}} {
		rows, err := w.rows([]finding{lower}, &watchJob{job: job{detection: high}, minSeverity: tc.min}, time.Unix(0, 0), time.Unix(60, 0))
		if err != nil {
			t.Fatal(err)
		}
		var p map[string]any
		_ = json.Unmarshal([]byte(rows[0].Payload), &p)
		if rows[0].Severity != "Medium" || rows[0].Notify != tc.notify || p["severity"] != "Medium" {
			t.Errorf("row severity Medium, min %s: %+v", tc.min, rows[0])
		}
	}

	// A finding without a dedup_key cannot be told from the next run's.
	bad := f(high)
	bad.columns[6] = "key"
	if _, err := w.rows([]finding{bad}, &watchJob{job: job{detection: high}, minSeverity: "High"}, time.Time{}, time.Time{}); err == nil ||
		!strings.Contains(err.Error(), "dedup_key") {
		t.Errorf("no dedup_key: %v", err)
	}
}

func TestSeverityRank(t *testing.T) {
	if !(severityRank("Low") < severityRank("Medium") && severityRank("Medium") < severityRank("High") && severityRank("High") < severityRank("Critical")) ||
		severityRank("urgent") != 0 {
		t.Error("severities out of order")
	}
}

// Every schedule of the pack and of the alerts is one the watcher runs on.
func TestWatchSchedules(t *testing.T) {
	pack, err := detections.Load()
	if err != nil {
		t.Fatal(err)
	}
	alerts, err := detections.LoadAlerts()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseArgsAlerts([]string{"-watch"}, pack, alerts, time.Now(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.alerts) != len(alerts) || len(cfg.jobs) != len(pack) {
		t.Fatalf("%d jobs and %d alerts", len(cfg.jobs), len(cfg.alerts))
	}
	w, err := newWatcher(cfg, cfg.wcfg, cfg.alerts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 6, 1, 12, 0, 30, 0, time.UTC)
	for _, j := range w.jobs {
		if j.schedule == nil {
			t.Fatalf("%s: no schedule", j.detection.Name)
		}
		if next := w.nextRun(j, start); !next.After(start) || next.Sub(start) > 7*24*time.Hour {
			t.Errorf("%s (%q): next run %v", j.detection.Name, j.detection.Schedule, next)
		}
	}
}

// fakeClickHouse answers the statements of a detection run: ClickHouse's
// clock (now), the detection's checkpoint, its query (found gives the
// JSONCompact answer; none by default), the lookup of known findings, and
// the inserts, which it records.
type fakeClickHouse struct {
	now, checkpoint time.Time
	found           func() string
	judged          [][2]int64 // the ranges queried, Unix seconds
	saved           []int64    // the checkpoints written
	stored          int        // the finding rows inserted
}

func (f *fakeClickHouse) serve(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		params := r.URL.Query()
		sql := params.Get("query") + string(body)
		unix := func(name string) int64 {
			n, _ := strconv.ParseInt(params.Get(name), 10, 64)
			return n
		}
		switch {
		case strings.Contains(sql, "now()"):
			fmt.Fprintln(w, f.now.Unix())
		case strings.Contains(sql, "SELECT toUnixTimestamp(checkpoint)"):
			fmt.Fprintln(w, f.checkpoint.Unix())
		case strings.Contains(sql, "SELECT DISTINCT dedup_key"):
		case strings.Contains(params.Get("query"), "INSERT INTO"): // findings, as rows in the body
			f.stored += strings.Count(string(body), "\n") + 1
		case strings.Contains(sql, "INSERT INTO"): // a checkpoint
			f.saved = append(f.saved, unix("param_cp"))
		case strings.Contains(sql, "FORMAT JSONCompact"):
			f.judged = append(f.judged, [2]int64{unix("param_from"), unix("param_to")})
			if f.found == nil {
				fmt.Fprint(w, `{"meta":[],"data":[]}`)
				return
			}
			fmt.Fprint(w, f.found())
		default:
			t.Errorf("unexpected statement %q", sql)
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// runOn runs one detection against f with the host's clock at host.
func runOn(t *testing.T, f *fakeClickHouse, host time.Time, wcfg watchConfig, log *slog.Logger) error {
	t.Helper()
	cfg := config{target: clickhouse.Target{DSN: f.serve(t).URL}, database: "db"}
	w := &watcher{store: store{target: cfg.target, database: "db"}, cfg: cfg, wcfg: wcfg,
		log: log, now: func() time.Time { return host }, newBackoff: defaultBackoff}
	j := &watchJob{job: job{detection: detections.Detection{Name: "huggingface-test", Severity: "Low", SQL: "SELECT 1"}}}
	return w.runJob(context.Background(), j)
}

// TestRunJudgesOnClickHousesClock: receivedAt is ClickHouse's now() at
// insert. With the watcher's host 10 minutes ahead of the server, a run
// judged on the host's clock would end past rows the server has not
// written yet, and the next run would start after them. The range ends at
// the server's now - settle, and the checkpoint is saved there.
func TestRunJudgesOnClickHousesClock(t *testing.T) {
	server := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	host := server.Add(10 * time.Minute)
	f := &fakeClickHouse{now: server, checkpoint: server.Add(-5 * time.Minute)}
	if err := runOn(t, f, host, watchConfig{settle: time.Minute}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	want := server.Add(-time.Minute).Unix()
	if len(f.judged) != 1 || f.judged[0][1] != want || !slices.Equal(f.saved, []int64{want}) {
		t.Errorf("judged %v and saved checkpoints %v, want up to the server's now - settle (%d), not the host's (%d)",
			f.judged, f.saved, want, host.Add(-time.Minute).Unix())
	}
}

// TestRunStoresManyFindings: a run that finds 10,000 findings (a noisy
// detection after a long outage) stores them and moves its checkpoint.
// Their dedup_keys in the URL of one lookup went past ClickHouse's
// http_max_uri_size (1 MiB, as Go's server here): every run of the
// detection failed on the same growing range, and none of its findings
// was ever stored or sent.
func TestRunStoresManyFindings(t *testing.T) {
	server := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	const n = 10000
	f := &fakeClickHouse{now: server, checkpoint: server.Add(-time.Hour), found: func() string {
		var b strings.Builder
		b.WriteString(`{"meta":[{"name":"organization","type":"String"},{"name":"actor","type":"String"},{"name":"first_seen","type":"DateTime"},{"name":"last_seen","type":"DateTime"},{"name":"dedup_key","type":"String"}],"data":[`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `["acme-research","member-%d","2026-06-01 11:30:00","2026-06-01 11:30:00","huggingface-test|acme-research|member-%d|2026-06-01T11:30:00Z|6650f1c2a1b2c3d4e5f6%06d"]`, i, i, i)
		}
		b.WriteString(`]}`)
		return b.String()
	}}
	if err := runOn(t, f, server, watchConfig{settle: time.Minute}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("run with %d findings: %v", n, err)
	}
	if f.stored != n || !slices.Equal(f.saved, []int64{server.Add(-time.Minute).Unix()}) {
		t.Errorf("stored %d of %d findings, checkpoints %v", f.stored, n, f.saved)
	}
}

// refusing is a channel that answers 413 to one finding (its payload is
// too large for the receiver's proxy) and 200 to the others.
type refusing struct {
	now      func() time.Time
	attempts map[string]int
	got      map[string]int
}

func (c *refusing) ID() string { return "test:refusing" }

func (c *refusing) Send(_ context.Context, f pendingFinding) error {
	c.attempts[f.DedupKey]++
	if f.DedupKey == "huge" {
		return &sendError{status: 413}
	}
	c.got[f.DedupKey]++
	return nil
}

// TestDeliveryRefusedFindingDoesNotBlock: a finding the channel refuses
// (413: a mass deletion listing 50,000 event IDs, past nginx's 1 MB) must
// not hold back the findings after it. It was retried first at every
// pass, so nothing else reached that channel until it was given up a day
// later.
func TestDeliveryRefusedFindingDoesNotBlock(t *testing.T) {
	clock := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	ch := &refusing{now: now, attempts: map[string]int{}, got: map[string]int{}}
	store := &fakeDeliveries{sent: map[string]bool{}, findings: []pendingFinding{{DedupKey: "huge"}, {DedupKey: "sso-disabled"}}}
	w := &watcher{
		deliveries: store, wcfg: watchConfig{maxAge: 24 * time.Hour},
		channels: []*channelState{{ch: ch}}, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		now: now, newBackoff: defaultBackoff,
	}
	w.initChannels()
	end := clock.Add(30 * time.Minute)
	deliverOnClock(w, &clock, end, func() {
		if clock.After(end.Add(-20*time.Minute)) && len(store.findings) == 2 {
			store.findings = append(store.findings, pendingFinding{DedupKey: "repo-made-public"}) // found later
		}
	})
	for _, k := range []string{"sso-disabled", "repo-made-public"} {
		if ch.got[k] != 1 {
			t.Errorf("finding %s delivered %d times, want once: the refused one blocks the channel", k, ch.got[k])
		}
	}
	if n := ch.attempts["huge"]; n < 2 || n > 30 {
		t.Errorf("the refused finding was tried %d times in 30 minutes, want a few (retried, not a storm)", n)
	}
}

// TestRunAfterClickHousesClockWentBack: ClickHouse's clock ran 2 hours
// ahead, then NTP stepped it back 40 minutes ago. The checkpoint saved
// while it was ahead is in the future, and every event since (receivedAt
// from the right clock) is before it: the runs judged nothing, silently,
// until the clock caught up with the checkpoint, and those events were
// never judged. The run judges them again instead, and says why.
func TestRunAfterClickHousesClockWentBack(t *testing.T) {
	server := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	ingested := server.Add(-30 * time.Minute) // an event since the step back
	f := &fakeClickHouse{now: server, checkpoint: server.Add(80 * time.Minute)}
	var logs strings.Builder
	if err := runOn(t, f, server, watchConfig{settle: time.Minute, initialLookback: time.Hour}, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	end := server.Add(-time.Minute).Unix()
	if len(f.judged) != 1 || f.judged[0][0] > ingested.Unix() || f.judged[0][1] != end || !slices.Equal(f.saved, []int64{end}) {
		t.Errorf("judged %v and saved %v: the event received at %d is never judged", f.judged, f.saved, ingested.Unix())
	}
	if !strings.Contains(logs.String(), "ahead") {
		t.Errorf("no warning about the checkpoint ahead of the clock: %s", logs.String())
	}
}

// agingDeliveries drops the findings found longer than maxAge ago, as the
// store's pending query does.
type agingDeliveries struct {
	fakeDeliveries
	now   func() time.Time
	found map[string]time.Time
}

func (a *agingDeliveries) pending(ctx context.Context, channel string, maxAge time.Duration, limit int) ([]pendingFinding, error) {
	all, _ := a.fakeDeliveries.pending(ctx, channel, maxAge, limit)
	var out []pendingFinding
	for _, p := range all {
		if a.now().Sub(a.found[p.DedupKey]) <= maxAge {
			out = append(out, p)
		}
	}
	return out, nil
}

func (a *agingDeliveries) givenUp(_ context.Context, channel string, maxAge time.Duration, after int64) ([]givenUpFinding, error) {
	var out []givenUpFinding
	for _, p := range a.findings {
		found := a.found[p.DedupKey]
		if !a.sent[channel+"/"+p.DedupKey] && a.now().Sub(found) > maxAge && found.UnixMilli() > after {
			out = append(out, givenUpFinding{DedupKey: p.DedupKey, Detection: p.Detection, FoundMs: found.UnixMilli()})
		}
	}
	return out, nil
}

// TestDeliveryGivenUpIsLogged: a webhook down for 25 hours. Each finding
// found before the outage is given up after -max-delivery-age, as
// documented, and each says so. One vanished from the pending list without
// a line in the log; of a flood of 600 (more than one pending read,
// deliveryBatch) none was logged, the capped list not being compared.
func TestDeliveryGivenUpIsLogged(t *testing.T) {
	for _, n := range []int{1, 600} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			clock := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
			now := func() time.Time { return clock }
			ch := &flaky{now: now, up: clock.Add(25 * time.Hour), got: map[string]int{}}
			store := &agingDeliveries{fakeDeliveries: fakeDeliveries{sent: map[string]bool{}}, now: now, found: map[string]time.Time{}}
			for i := range n {
				key := fmt.Sprintf("huggingface-sso-disabled|acme|u%03d", i)
				store.findings = append(store.findings, pendingFinding{DedupKey: key, Detection: "huggingface-sso-disabled"})
				store.found[key] = clock.Add(time.Duration(i) * time.Millisecond)
			}
			var logs strings.Builder
			w := &watcher{
				deliveries: store, wcfg: watchConfig{maxAge: 24 * time.Hour},
				channels: []*channelState{{ch: ch}}, log: slog.New(slog.NewTextHandler(&logs, nil)),
				now: now, newBackoff: defaultBackoff,
			}
			w.initChannels()
			for clock.Before(ch.up.Add(time.Hour)) {
				w.deliver(context.Background())
				clock = clock.Add(time.Minute)
			}
			if got := strings.Count(logs.String(), "given up"); got != n || !strings.Contains(logs.String(), "huggingface-sso-disabled|acme|u000") {
				t.Errorf("%d 'given up' lines for %d findings never delivered, want one naming each", got, n)
			}
		})
	}
}

// TestRunAfterALongOutageIsJudgedADayAtATime: a watcher back after three
// days judges the gap in ranges of at most a day, each with its checkpoint,
// so no single query has to cover months and a failure keeps what was done.
func TestRunAfterALongOutageIsJudgedADayAtATime(t *testing.T) {
	server := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	f := &fakeClickHouse{now: server, checkpoint: server.Add(-74 * time.Hour)}
	if err := runOn(t, f, server, watchConfig{settle: time.Minute, initialLookback: time.Hour}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	next := f.checkpoint.Unix()
	for i, r := range f.judged {
		if r[0] != next || r[1] <= r[0] || r[1]-r[0] > int64(24*time.Hour/time.Second) {
			t.Errorf("range %d: [%d, %d), want one of at most a day from %d", i, r[0], r[1], next)
		}
		if i >= len(f.saved) || f.saved[i] != r[1] {
			t.Errorf("range %d: checkpoints %v, want %d saved after it", i, f.saved, r[1])
		}
		next = r[1]
	}
	if end := server.Add(-time.Minute).Unix(); next != end || len(f.judged) != 4 {
		t.Errorf("judged %d ranges up to %d, want 4 up to %d", len(f.judged), next, end)
	}
}

// unauthorized answers 401 to everything until up (a rotated API key, a
// webhook being recreated), then accepts.
type unauthorized struct {
	now  func() time.Time
	up   time.Time
	sent []string
}

func (c *unauthorized) ID() string { return "test:unauthorized" }

func (c *unauthorized) Send(_ context.Context, f pendingFinding) error {
	if c.now().Before(c.up) {
		return &sendError{status: http.StatusUnauthorized}
	}
	c.sent = append(c.sent, f.DedupKey)
	return nil
}

// TestDeliveryAfterAChannelOutageKeepsTheOrder: a 401, 403 or 404 says the
// channel is broken (its key or URL), not that one finding is refused. Once
// it is fixed, the findings go out at once and in order, not each after a
// wait of its own that grew while the channel was down.
func TestDeliveryAfterAChannelOutageKeepsTheOrder(t *testing.T) {
	clock := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	ch := &unauthorized{now: now, up: clock.Add(20 * time.Minute)}
	store := &fakeDeliveries{sent: map[string]bool{}, findings: []pendingFinding{{DedupKey: "a"}, {DedupKey: "b"}, {DedupKey: "c"}}}
	w := &watcher{
		deliveries: store, wcfg: watchConfig{maxAge: 24 * time.Hour},
		channels: []*channelState{{ch: ch}}, log: slog.New(slog.DiscardHandler),
		now: now, newBackoff: defaultBackoff,
	}
	w.initChannels()
	deliverOnClock(w, &clock, ch.up.Add(90*time.Second), func() {})
	if !slices.Equal(ch.sent, []string{"a", "b", "c"}) {
		t.Errorf("delivered %v within 90 s of the fix, want [a b c]", ch.sent)
	}
}
