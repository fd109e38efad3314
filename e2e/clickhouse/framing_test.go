package clickhouse

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hfauditlog/huggingfaceauditreceiver/detections"
)

// hubEvent is one export event of the Hub, the shape the scenarios use.
func hubEvent(n int, at time.Time, typ, user string, data any) json.RawMessage {
	b, err := json.Marshal(map[string]any{
		"_id": fmt.Sprintf("6100000000000000%08x", n), "createdAt": at.UTC().Format("2006-01-02T15:04:05.000Z"),
		"type": typ, "message": typ, "data": data, "ip": "41.206.32.1",
		"location": map[string]any{"formatted": "Nairobi, Kenya", "country": "Kenya", "city": "Nairobi"},
		"author": map[string]any{"_id": "64f1a2b3c4d5e6f7000badbd", "user": user, "type": "user",
			"avatarUrl": "https://cdn-avatars.huggingface.co/v1/production/uploads/64f1a2b3c4d5e6f7000badbd/avatar.png"},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// TestDetectionFraming: the detections judge what reached ClickHouse in a
// range (receivedAt), look around it by eventTime, and name each finding by
// a dedup_key that a run finding it again (overlapping, repeated, a late
// event joining it, the same event inserted twice) reproduces.
func TestDetectionFraming(t *testing.T) {
	const db, org = "framing", "framing-org"
	exp := newExporter(t, db)
	applySchema(t, db)
	next := &countingConsumer{next: exp}
	pack, err := detections.Load()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]detections.Detection{}
	for _, d := range pack {
		byName[d.Name] = d
	}
	deletion, sso := byName["huggingface-mass-repo-deletion"], byName["huggingface-sso-disabled"]
	if deletion.Defaults()["threshold"] != "5" || deletion.Defaults()["window_minutes"] != "10" {
		t.Fatalf("the test assumes 5 deletions in 10 minutes: %v", deletion.Defaults())
	}
	send := func(events ...json.RawMessage) received {
		return ingestReceived(func() { ingest(t, exportServer(t, org, events).URL, org, next, int64(len(events))) })
	}
	del := func(n int, at time.Time) json.RawMessage {
		return hubEvent(n, at, "repo.delete", "mallory", map[string]any{"repo": map[string]any{"name": fmt.Sprintf("%s/r%d", org, n), "type": "model"}})
	}
	run := func(d detections.Detection, from, to time.Time) []map[string]any {
		return runDetectionIn(t, db, d, from, to, nil, org)
	}
	keyAndIDs := func(rows []map[string]any) (string, []string) {
		t.Helper()
		if len(rows) != 1 {
			t.Fatalf("%d findings, want 1: %v", len(rows), rows)
		}
		return rows[0]["dedup_key"].(string), eventIDs(rows)
	}
	ids := func(ns ...int) []string {
		var out []string
		for _, n := range ns {
			out = append(out, fmt.Sprintf("6100000000000000%08x", n))
		}
		return out
	}

	t0 := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Minute)
	ssoEvent := hubEvent(100, t0.Add(time.Minute), "org.settings.sso.disable", "mallory", nil)
	// A: five deletions in five minutes (the threshold) and SSO disabled.
	a := send(del(1, t0), del(2, t0.Add(time.Minute)), del(3, t0.Add(2*time.Minute)), del(4, t0.Add(3*time.Minute)), del(5, t0.Add(4*time.Minute)), ssoEvent)
	key, got := keyAndIDs(run(deletion, a.from, a.to))
	if !slices.Equal(got, ids(1, 2, 3, 4, 5)) {
		t.Fatalf("A: event_ids %v", got)
	}
	ssoKey, _ := keyAndIDs(run(sso, a.from, a.to))
	// Judged again, the same range gives the same finding.
	if k, _ := keyAndIDs(run(deletion, a.from, a.to)); k != key {
		t.Errorf("repeated range: dedup_key %q, then %q", key, k)
	}

	// B: the burst's last deletion arrives late, after A was judged: it is
	// judged with the burst around it: the same finding, grown.
	b := send(del(6, t0.Add(5*time.Minute)))
	k, got := keyAndIDs(run(deletion, b.from, b.to))
	if k != key || !slices.Equal(got, ids(1, 2, 3, 4, 5, 6)) {
		t.Errorf("late last event: dedup_key %q with %v, want %q with the six deletions", k, got, key)
	}
	// An overlapping run over A and B: the same finding.
	if k, got := keyAndIDs(run(deletion, a.from, b.to)); k != key || len(got) != 6 {
		t.Errorf("overlapping run: dedup_key %q with %v, want %q", k, got, key)
	}
	if k, _ := keyAndIDs(run(sso, a.from, b.to)); k != ssoKey {
		t.Errorf("overlapping run, SSO: dedup_key %q, want %q", k, ssoKey)
	}
	// Nothing new was judged for SSO in B.
	if rows := run(sso, b.from, b.to); len(rows) != 0 {
		t.Errorf("B judged the SSO event again: %v", rows)
	}

	// C: a deletion 8 minutes after the burst's last one: the same burst, but
	// no window holding it reaches the threshold: not reported.
	c := send(del(7, t0.Add(13*time.Minute)))
	if rows := run(deletion, c.from, c.to); len(rows) != 0 {
		t.Errorf("a window below the threshold was reported: %v", rows)
	}

	// D: after a collector crash the same events are inserted again, later:
	// they are judged again, and the findings are the same.
	d := send(ssoEvent, del(3, t0.Add(2*time.Minute)))
	if k, _ := keyAndIDs(run(sso, d.from, d.to)); k != ssoKey {
		t.Errorf("SSO event inserted twice: dedup_key %q, want %q", k, ssoKey)
	}
	if k, got := keyAndIDs(run(deletion, d.from, d.to)); k != key || !slices.Equal(got, ids(1, 2, 3, 4, 5, 6, 7)) {
		t.Errorf("deletion inserted twice: dedup_key %q with %v, want %q with the seven deletions", k, got, key)
	}

	// E: a late deletion before the burst's first one starts the burst
	// earlier: the burst is named by its first event, so it is a new finding.
	e := send(del(8, t0.Add(-3*time.Minute)))
	if k, got := keyAndIDs(run(deletion, e.from, e.to)); k == key || !slices.Equal(got, ids(1, 2, 3, 4, 5, 6, 7, 8)) {
		t.Errorf("late first event: dedup_key %q with %v, want a new key with the eight deletions", k, got)
	}
}
