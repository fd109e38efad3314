package main

import (
	"math/rand/v2"
	"testing"
	"time"
)

// The plan keeps the default counts of the flags (-kills, -ch-stops,
// -hub-outages, -long-outage) for a 2- and a 30-minute run, keeps every step inside the
// chaos window, brings back every service it takes down after the planned
// length, and never takes a service down while it is already down.
func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		duration, long        time.Duration
		kills, chStops, hubs  int
		wantShortCH, wantHubs int
	}{
		{duration: 2 * time.Minute, kills: 3, wantShortCH: 1, wantHubs: 1},
		{duration: 30 * time.Minute, long: 330 * time.Second, kills: 12, wantShortCH: 3, wantHubs: 2},
	} {
		for seed := range uint64(50) {
			pc := planConfig{duration: tc.duration, collectors: 2, kills: -1, chStops: -1, hubs: -1, longOutage: tc.long}
			p, err := newPlan(pc, rand.New(rand.NewPCG(seed, 1)))
			if err != nil {
				t.Fatalf("%s seed %d: %v", tc.duration, seed, err)
			}
			if p.kills != tc.kills || len(p.chOutages) != tc.wantShortCH || len(p.hubOutages) != tc.wantHubs {
				t.Fatalf("%s seed %d: %s", tc.duration, seed, p)
			}
			kills, chDowns, hubDowns := 0, 0, 0
			downUntil := map[string]time.Duration{} // service -> planned end of its outage
			var prev time.Duration
			for _, s := range p.steps {
				if s.at < prev {
					t.Fatalf("%s seed %d: steps out of order: %v", tc.duration, seed, p.steps)
				}
				prev = s.at
				if s.at < p.settle || s.at > tc.duration-p.tail {
					t.Fatalf("%s seed %d: step %s at %s outside the chaos window", tc.duration, seed, s.kind, s.at)
				}
				switch s.kind {
				case stepKill:
					kills++
					if s.target < 0 || s.target >= pc.collectors {
						t.Fatalf("kill of collector %d", s.target)
					}
				case stepCHDown, stepHubDown:
					if _, down := downUntil[s.kind]; down {
						t.Fatalf("%s seed %d: %s at %s while already down", tc.duration, seed, s.kind, s.at)
					}
					downUntil[s.kind] = s.at + s.length
					if s.kind == stepCHDown {
						chDowns++
					} else {
						hubDowns++
					}
				case stepCHUp, stepHubUp:
					down := map[string]string{stepCHUp: stepCHDown, stepHubUp: stepHubDown}[s.kind]
					until, ok := downUntil[down]
					if !ok || until != s.at {
						t.Fatalf("%s seed %d: %s at %s, planned end %s (down: %v)", tc.duration, seed, s.kind, s.at, until, ok)
					}
					delete(downUntil, down)
				}
			}
			wantCH := tc.wantShortCH
			if tc.long > 0 {
				wantCH++
			}
			if kills != tc.kills || chDowns != wantCH || hubDowns != tc.wantHubs || len(downUntil) != 0 {
				t.Fatalf("%s seed %d: %d kills, %d ClickHouse stops, %d Hub outages, still down %v", tc.duration, seed, kills, chDowns, hubDowns, downUntil)
			}
		}
	}
}
