package simulator

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The detection scenarios (detections/scenarios, served to the receiver by
// the e2e tests) are Hub events in the export schema, and every expected ID
// is one of their events. A scenario lists in unknownTypes the types outside
// the published enum it uses on purpose (the catalogue grows).
func TestDetectionScenariosFollowTheSchema(t *testing.T) {
	files, err := filepath.Glob("../../detections/scenarios/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var s struct {
			Expect           []string         `json:"expect"`
			Events           []map[string]any `json:"events"`
			WithoutRaw       []map[string]any `json:"withoutRaw"`
			ExpectWithoutRaw []string         `json:"expectWithoutRaw"`
			UnknownTypes     []string         `json:"unknownTypes"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		extra := append([]string{ExportEventType}, s.UnknownTypes...)
		var ids []string
		for _, part := range []struct {
			events []map[string]any
			expect []string
		}{{s.Events, s.Expect}, {s.WithoutRaw, s.ExpectWithoutRaw}} {
			var partIDs []string
			for i, ev := range part.events {
				if err := validateEvent(ev, extra...); err != nil {
					t.Errorf("%s: event %d: %v", filepath.Base(f), i, err)
				}
				id, _ := ev["_id"].(string)
				if slices.Contains(ids, id) {
					t.Errorf("%s: duplicate _id %s", filepath.Base(f), id)
				}
				ids, partIDs = append(ids, id), append(partIDs, id)
			}
			for _, id := range part.expect {
				if !slices.Contains(partIDs, id) {
					t.Errorf("%s: expected ID %s is not an event of the scenario", filepath.Base(f), id)
				}
			}
		}
	}
}
