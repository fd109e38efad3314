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
