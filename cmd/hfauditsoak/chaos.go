package main

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// Kinds of chaos steps.
const (
	stepKill    = "kill"     // SIGKILL a collector
	stepCHDown  = "ch-down"  // stop chdbserver
	stepCHUp    = "ch-up"    // start it again
	stepHubDown = "hub-down" // close the Hub's listener: connection refused
	stepHubUp   = "hub-up"
)

type step struct {
	at     time.Duration // from the start of the chaos window
	kind   string
	target int           // collector index for kills
	length time.Duration // outage length, on the *-down steps
}

// plan is the chaos of one run, drawn from the seed.
type plan struct {
	steps                []step
	kills                int
	chOutages            []time.Duration
	longOutage           time.Duration
	hubOutages           []time.Duration
	window, settle, tail time.Duration
}

// planConfig sets how much chaos a run gets; negative counts mean "scale with
// the duration".
type planConfig struct {
	duration               time.Duration
	collectors             int
	kills, chStops, hubs   int
	longOutage             time.Duration // 0: none
	minOutage, maxOutage   time.Duration
	minHubDown, maxHubDown time.Duration
}

// defaults for the scaled counts: at least 10 kills, 3 ClickHouse stops and
// one Hub outage in a 30-minute run, fewer in a short one.
func (pc *planConfig) scale() {
	d := pc.duration
	if pc.kills < 0 {
		pc.kills = max(3, int(d/(150*time.Second)))
	}
	if pc.chStops < 0 {
		pc.chStops = max(1, int(d/(10*time.Minute)))
		if d >= 20*time.Minute {
			pc.chStops = max(3, pc.chStops)
		}
	}
	if pc.hubs < 0 {
		pc.hubs = max(1, int(d/(15*time.Minute)))
	}
	if pc.minOutage == 0 {
		pc.minOutage, pc.maxOutage = 30*time.Second, 120*time.Second
		if d < 10*time.Minute { // a short run keeps room for the rest
			pc.maxOutage = pc.minOutage
		}
	}
	if pc.minHubDown == 0 {
		pc.minHubDown, pc.maxHubDown = 10*time.Second, 40*time.Second
		if d < 10*time.Minute {
			pc.maxHubDown = pc.minHubDown
		}
	}
}

// newPlan places the outages in random, non-overlapping spans of the chaos
// window and the kills at random points spread over it (one per equal slice,
// so they do not bunch up).
func newPlan(pc planConfig, rng *rand.Rand) (plan, error) {
	pc.scale()
	p := plan{settle: 20 * time.Second, tail: 10 * time.Second, kills: pc.kills, longOutage: pc.longOutage}
	p.window = pc.duration - p.settle - p.tail
	if p.window <= 0 {
		return p, fmt.Errorf("duration %s is too short for the chaos", pc.duration)
	}
	between := func(lo, hi time.Duration) time.Duration {
		if hi <= lo {
			return lo
		}
		return lo + time.Duration(rng.Int64N(int64(hi-lo)))
	}
	var ch []time.Duration
	for range pc.chStops {
		ch = append(ch, between(pc.minOutage, pc.maxOutage))
	}
	p.chOutages = append([]time.Duration(nil), ch...)
	if pc.longOutage > 0 {
		ch = append(ch, pc.longOutage)
	}
	chStarts, err := place(ch, p.window, rng)
	if err != nil {
		return p, fmt.Errorf("outages of ClickHouse: %w", err)
	}
	for i, at := range chStarts {
		p.steps = append(p.steps, step{at: p.settle + at, kind: stepCHDown, length: ch[i]}, step{at: p.settle + at + ch[i], kind: stepCHUp})
	}
	for range pc.hubs {
		p.hubOutages = append(p.hubOutages, between(pc.minHubDown, pc.maxHubDown))
	}
	hubStarts, err := place(p.hubOutages, p.window, rng)
	if err != nil {
		return p, fmt.Errorf("outages of the Hub: %w", err)
	}
	for i, at := range hubStarts {
		p.steps = append(p.steps, step{at: p.settle + at, kind: stepHubDown, length: p.hubOutages[i]}, step{at: p.settle + at + p.hubOutages[i], kind: stepHubUp})
	}
	if pc.kills > 0 {
		slice := p.window / time.Duration(pc.kills)
		for i := range pc.kills {
			at := p.settle + slice*time.Duration(i) + between(slice/10, slice*9/10)
			p.steps = append(p.steps, step{at: at, kind: stepKill, target: rng.IntN(pc.collectors)})
		}
	}
	sort.SliceStable(p.steps, func(i, j int) bool { return p.steps[i].at < p.steps[j].at })
	return p, nil
}

// place returns start offsets for spans of the given lengths, in random
// order and with random gaps, inside a window; the spans do not overlap.
func place(lengths []time.Duration, window time.Duration, rng *rand.Rand) ([]time.Duration, error) {
	var total time.Duration
	for _, l := range lengths {
		total += l
	}
	free := window - total
	if free < 0 {
		return nil, fmt.Errorf("%s of outages do not fit in a %s chaos window: run longer", total, window)
	}
	order := rng.Perm(len(lengths))
	weights := make([]float64, len(lengths)+1)
	var sum float64
	for i := range weights {
		weights[i] = 0.2 + rng.Float64()
		sum += weights[i]
	}
	starts := make([]time.Duration, len(lengths))
	at := time.Duration(0)
	for k, i := range order {
		at += time.Duration(float64(free) * weights[k] / sum)
		starts[i] = at
		at += lengths[i]
	}
	return starts, nil
}

func (p plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d SIGKILLs, %d ClickHouse stops %s", p.kills, len(p.chOutages), durations(p.chOutages))
	if p.longOutage > 0 {
		fmt.Fprintf(&b, " + one long stop of %s", p.longOutage.Round(time.Second))
	}
	fmt.Fprintf(&b, ", %d Hub outages (connection refused) %s", len(p.hubOutages), durations(p.hubOutages))
	return b.String()
}

func durations(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.Round(time.Second).String()
	}
	return "[" + strings.Join(s, " ") + "]"
}
