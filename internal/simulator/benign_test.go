package simulator

import (
	"encoding/json"
	"testing"
	"time"
)

// The benign profile keeps its promises: only its types, each member on one
// address with one token, no admin role, private repositories, CPU hardware,
// no long pause, and the same events for the same seed.
func TestBenignProfile(t *testing.T) {
	end := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	opts := Options{Org: "benign", Seed: 7, InitialEvents: 3000, InitialSpan: 14 * 24 * time.Hour, Now: func() time.Time { return end }}
	s, err := NewBenign(opts)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{}
	for _, bt := range benignTypes {
		allowed[bt.typ] = true
	}
	ipOf, tokenOf := map[string]string{}, map[string]string{}
	var prev time.Time
	for _, ev := range s.Events() {
		if err := validateEvent(ev); err != nil {
			t.Fatalf("benign event against the export schema: %v", err)
		}
		typ, user := ev["type"].(string), ev["author"].(map[string]any)["user"].(string)
		if !allowed[typ] {
			t.Fatalf("type %s is not in the benign profile", typ)
		}
		if ip := ev["ip"].(string); ipOf[user] == "" {
			ipOf[user] = ip
		} else if ipOf[user] != ip {
			t.Fatalf("%s used %s and %s", user, ipOf[user], ip)
		}
		if tok, ok := ev["token"].(map[string]any); ok {
			if id := tok["id"].(string); tokenOf[user] == "" {
				tokenOf[user] = id
			} else if tokenOf[user] != id {
				t.Fatalf("%s used tokens %s and %s", user, tokenOf[user], id)
			}
		}
		data, _ := json.Marshal(ev["data"])
		var d struct {
			Role     string `json:"role"`
			Private  *bool  `json:"private"`
			Settings struct {
				Private *bool `json:"private"`
			} `json:"settings"`
			Hardware struct {
				To string `json:"to"`
			} `json:"hardware"`
		}
		_ = json.Unmarshal(data, &d)
		if d.Role == "admin" || (typ == "repo.create" && d.Private != nil && !*d.Private) || (d.Settings.Private != nil && !*d.Settings.Private) ||
			(d.Hardware.To != "" && d.Hardware.To[:3] != "cpu") {
			t.Fatalf("security-relevant event in the benign profile: %s %s", typ, data)
		}
		at, err := time.Parse(time.RFC3339, ev["createdAt"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if !prev.IsZero() && at.Sub(prev) > 2*time.Hour {
			t.Fatalf("a pause of %v in the benign history", at.Sub(prev))
		}
		prev = at
	}
	if len(ipOf) != len(benignTeam) {
		t.Errorf("%d members active, want %d", len(ipOf), len(benignTeam))
	}
	again, err := NewBenign(opts)
	if err != nil {
		t.Fatal(err)
	}
	a, b := s.EventIDs(), again.EventIDs()
	if len(a) != len(b) || a[0] != b[0] || a[len(a)-1] != b[len(b)-1] {
		t.Error("the same seed gave different events")
	}

	// Events added later follow the profile too.
	added := map[string]bool{}
	for _, id := range s.Add(300) {
		added[id] = true
	}
	n := 0
	for _, ev := range s.Events() {
		if !added[ev["_id"].(string)] {
			continue
		}
		n++
		typ, user := ev["type"].(string), ev["author"].(map[string]any)["user"].(string)
		if !allowed[typ] {
			t.Fatalf("added event of type %s, not in the benign profile", typ)
		}
		if ip := ev["ip"].(string); ipOf[user] != ip {
			t.Fatalf("added event: %s used %s, before %s", user, ip, ipOf[user])
		}
	}
	if n != 300 {
		t.Errorf("%d added events in the window, want 300", n)
	}
}

// The benign month: about 200 members, every event schema-valid, the same
// events for the same seed, every action inside the month, and fast.
func TestBenignMonth(t *testing.T) {
	end := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	m := BenignMonth("acme-ml", 42, end)
	if m.Start != end.Add(-30*24*time.Hour) || m.HistoryStart != m.Start.Add(-14*24*time.Hour) || m.End != end {
		t.Fatalf("range %v %v %v", m.HistoryStart, m.Start, m.End)
	}
	authors, types := map[string]bool{}, map[string]int{}
	ids := map[string]bool{}
	var prev time.Time
	for _, raw := range m.Events {
		var ev map[string]any
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		if err := validateEvent(ev, ExportEventType); err != nil {
			t.Fatalf("month event against the export schema: %v\n%s", err, raw)
		}
		at, _ := time.Parse(time.RFC3339, ev["createdAt"].(string))
		if at.Before(prev) || at.Before(m.HistoryStart) || !at.Before(m.End) {
			t.Fatalf("event at %v out of order or range", at)
		}
		prev = at
		ids[ev["_id"].(string)] = true
		if !at.Before(m.Start) {
			authors[ev["author"].(map[string]any)["user"].(string)] = true
			types[ev["type"].(string)]++
		}
	}
	if len(ids) != len(m.Events) {
		t.Errorf("%d distinct IDs for %d events", len(ids), len(m.Events))
	}
	// 200 members, the collector's token owner and the SIEM.
	if len(authors) < monthMembers-5 || len(authors) > monthMembers+2 {
		t.Errorf("%d authors in the month, want about %d", len(authors), monthMembers)
	}
	if want := int(monthLength / monthPollEvery); types[ExportEventType] < want {
		t.Errorf("%d exports in the month, want at least the collector's %d polls", types[ExportEventType], want)
	}
	for _, a := range m.Actions {
		if len(a.EventIDs) == 0 || a.Name == "" || a.What == "" {
			t.Errorf("action %+v: name, words and events are required", a)
		}
		for _, id := range a.EventIDs {
			if !ids[id] {
				t.Errorf("action %s: event %s is not in the month", a.Name, id)
			}
		}
	}
	for _, name := range []string{"auto-join", "space-secrets", "gpu-hardware", "card-swap", "sso-migration", "admin-two-countries", "siem-export"} {
		if len(m.Action(name).EventIDs) == 0 {
			t.Errorf("no %s action", name)
		}
	}
	again := BenignMonth("acme-ml", 42, end)
	if len(again.Events) != len(m.Events) || string(again.Events[len(m.Events)/2]) != string(m.Events[len(m.Events)/2]) {
		t.Error("the same seed gave different events")
	}
	n := 0
	for _, c := range types {
		n += c
	}
	t.Logf("%d events, %d in the month, %d actions", len(m.Events), n, len(m.Actions))
}
