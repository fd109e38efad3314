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
// is one of their events.
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
			Expect []string         `json:"expect"`
			Events []map[string]any `json:"events"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var ids []string
		for i, ev := range s.Events {
			if err := validateEvent(ev, ExportEventType); err != nil {
				t.Errorf("%s: event %d: %v", filepath.Base(f), i, err)
			}
			id, _ := ev["_id"].(string)
			if slices.Contains(ids, id) {
				t.Errorf("%s: duplicate _id %s", filepath.Base(f), id)
			}
			ids = append(ids, id)
		}
		for _, id := range s.Expect {
			if !slices.Contains(ids, id) {
				t.Errorf("%s: expected ID %s is not an event of the scenario", filepath.Base(f), id)
			}
		}
	}
}
