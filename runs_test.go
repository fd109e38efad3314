package huggingfaceauditreceiver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runsRead is what one readElements call saw: the elements it handed over
// that the cursor did not cover (in order), how many it handed over at all,
// its totals and its runs.
type runsRead struct {
	fresh   []string
	handed  int
	n       int
	covers  bool
	errText string
	runs    *coveredRuns
}

// readWithRuns reads body with memo (nil: none), judging each element by
// covered: an _id in it is covered, and covers when it starts with "c"; an
// _id starting with "bad" is invalid.
func readWithRuns(body []byte, memo *runMemo, covered map[string]bool, chunked bool) runsRead {
	var r io.Reader = bytes.NewReader(body)
	if chunked {
		r = iotest.HalfReader(iotest.OneByteReader(r)) // fill runs at every byte
	}
	var out runsRead
	read, n, err := readElements(r, memo, func(raw, id, _ []byte) verdict {
		out.handed++
		switch {
		case strings.HasPrefix(string(id), "bad"):
			out.fresh = append(out.fresh, "invalid "+string(raw))
			return verdictInvalid
		case !covered[string(id)]:
			out.fresh = append(out.fresh, string(raw))
			return verdictNew
		case strings.HasPrefix(string(id), "c"):
			out.covers = true
			return verdictCovers
		}
		return verdictCovered
	})
	out.n = n
	out.covers = out.covers || read.skippedCovers
	out.runs = read.runs
	if err != nil {
		out.errText = err.Error()
	}
	return out
}

func runsEvent(rng *rand.Rand, id string) string {
	// Strings with escapes and nesting, so a run holds whatever the
	// scanner must get right.
	return fmt.Sprintf(`{"_id":%q,"createdAt":"2026-12-05T10:00:00.000Z","data":{"note":"a \"q\" \\ %d","list":[1,{"x":"]}"}]},"pad":%q}`,
		id, rng.IntN(1000), strings.Repeat("p", rng.IntN(3000)))
}

// runsBody is the array of events; layout picks the white space around
// each comma (by the event after it, so that it moves with the event).
func runsBody(events []string, layout int) []byte {
	var b bytes.Buffer
	b.WriteString("[")
	for i, e := range events {
		if i > 0 {
			b.WriteString([]string{",", ", ", "\n,\n  "}[(len(e)+layout)%3])
		}
		b.WriteString(e)
	}
	b.WriteString("]")
	return b.Bytes()
}

// TestRunsChangeNothingButTheWork reads a window that changes between reads
// (events added anywhere, dropped, rewritten in place, reordered, white
// space changed, invalid events, the body broken), emitting what it finds
// or failing to, with and without the memo: every read must hand over the
// same uncovered and invalid elements, count the same elements, and fail
// the same way.
func TestRunsChangeNothingButTheWork(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		chunked := seed%4 == 0
		memo := newRunMemo()
		if seed%2 == 1 {
			memo.target = int64(64 + rng.IntN(2048)) // many runs, chained
		}
		covered := map[string]bool{}
		var events []string
		next := 0
		newEvent := func() string {
			next++
			prefix := "c"
			switch rng.IntN(10) {
			case 0, 1, 2:
				prefix = "x"
			case 3:
				prefix = "bad"
			}
			return runsEvent(rng, fmt.Sprintf("%s%05d", prefix, next))
		}
		for range 200 + rng.IntN(400) {
			events = append(events, newEvent())
		}
		layout := 0
		for step := range 12 {
			// Change the window as the Hub might.
			switch k := rng.IntN(7); {
			case step == 0:
			case k == 0: // new events at the start, the end, in the middle
				for range 1 + rng.IntN(3) {
					at := []int{0, len(events), rng.IntN(len(events) + 1)}[rng.IntN(3)]
					events = append(events[:at], append([]string{newEvent()}, events[at:]...)...)
				}
			case k == 1: // the oldest leave the window
				events = events[rng.IntN(5):]
			case k == 2: // one event rewritten in place (an author renamed)
				i := rng.IntN(len(events))
				events[i] = strings.Replace(events[i], `"pad":"`, `"pad":"renamed`, 1)
			case k == 3: // two events swap places
				i, j := rng.IntN(len(events)), rng.IntN(len(events))
				events[i], events[j] = events[j], events[i]
			case k == 4: // another layout of white space
				layout++
			}
			body := runsBody(events, layout)
			if rng.IntN(10) == 0 { // a broken body: cut, or a bracket off
				if rng.IntN(2) == 0 {
					body = body[:rng.IntN(len(body))]
				} else {
					body = bytes.Replace(body, []byte(`"]}"}]}`), []byte(`"]}"}}}`), 1)
				}
			}
			want := readWithRuns(body, nil, covered, false)
			got := readWithRuns(body, memo, covered, chunked)
			require.Equal(t, want.errText, got.errText, "seed %d step %d", seed, step)
			require.Equal(t, want.fresh, got.fresh, "seed %d step %d", seed, step)
			if want.errText == "" {
				require.Equal(t, want.n, got.n, "seed %d step %d", seed, step)
				require.Equal(t, want.covers, got.covers, "seed %d step %d", seed, step)
			}
			// The new events are emitted, or the pipeline refuses them.
			// Once emitted the cursor covers them for good.
			emitted := rng.IntN(4) > 0
			if got.errText == "" {
				memo.remember(got.runs, emitted)
			}
			if emitted {
				for _, e := range want.fresh {
					if i := strings.Index(e, `"_id":"`); i >= 0 && !strings.HasPrefix(e, "invalid") {
						covered[e[i+7:strings.IndexByte(e[i+7:], '"')+i+7]] = true
					}
				}
			}
		}
	}
}

// TestRunsStepOverAnUnchangedWindow: a window read again unchanged is
// stepped over after its first element; an event inserted in the middle of
// it, or one rewritten there, is read as without runs.
func TestRunsStepOverAnUnchangedWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	covered := map[string]bool{}
	var events []string
	for i := range 3000 {
		id := fmt.Sprintf("c%05d", i)
		covered[id] = true
		events = append(events, runsEvent(rng, id))
	}
	memo := newRunMemo()
	body := runsBody(events, 0)
	first := readWithRuns(body, memo, covered, false)
	require.Equal(t, 3000, first.handed, "the first read scans every element")
	memo.remember(first.runs, true)
	require.Greater(t, len(memo.last.runs), 10)

	again := readWithRuns(body, memo, covered, false)
	memo.remember(again.runs, true)
	assert.Equal(t, 3000, again.n)
	assert.True(t, again.covers)
	assert.Equal(t, 1, again.handed, "an unchanged window is stepped over after its first element")

	// A late event in the middle, and an event rewritten near the end.
	late := runsEvent(rng, "x99999")
	changed := append([]string{}, events[:1500]...)
	changed = append(changed, late)
	changed = append(changed, events[1500:]...)
	changed[2500] = strings.Replace(changed[2500], `"note":"a`, `"note":"b`, 1)
	body = runsBody(changed, 0)
	third := readWithRuns(body, memo, covered, false)
	memo.remember(third.runs, false) // the late event is not emitted
	assert.Equal(t, []string{late}, third.fresh)
	assert.Equal(t, 3001, third.n)
	assert.Less(t, third.handed, 3001/4, "only the runs around the changes are scanned")

	fourth := readWithRuns(body, memo, covered, true)
	memo.remember(fourth.runs, true)
	assert.Equal(t, []string{late}, fourth.fresh, "not emitted: found again")
	assert.Less(t, fourth.handed, 3001/4)

	covered["x99999"] = true
	fifth := readWithRuns(body, memo, covered, true)
	assert.Empty(t, fifth.fresh)
	assert.Equal(t, 3001, fifth.n)
	assert.Equal(t, 1, fifth.handed, "emitted: the whole window is one chain of runs")
}

// FuzzRuns reads a body, remembers its runs as emitted, then reads a second
// body with and without them: the same elements must come out. A target
// other than 0 closes runs every target bytes, so that chains of runs are
// stepped over and broken.
func FuzzRuns(f *testing.F) {
	e := func(id string) string {
		return `{"_id":"` + id + `","createdAt":"2026-12-05T10:00:00.000Z","d":[1,"]"]}`
	}
	f.Add(`[`+e("c1")+`,`+e("c2")+`,`+e("c3")+`]`, `[`+e("c1")+`,`+e("x9")+`,`+e("c2")+`,`+e("c3")+`]`, uint8(0))
	f.Add(`[`+e("c1")+`, `+e("c2")+`]`, `[`+e("c1")+`, `+e("c2")+`] x`, uint8(0))
	f.Add(`[`+e("c1")+`,`+e("c2")+`]`, `[`+e("c1")+`,`+e("c2")+`,]`, uint8(0))
	f.Add(`[`+e("c1")+`,`+e("c2")+`]`, `[`+e("c1")+`,`+e("c2"), uint8(0))
	f.Add(`[`+e("c1")+`,`+e("c2")+`,`+e("c3")+`,`+e("c4")+`]`, `[`+e("c1")+`,`+e("c2")+`,`+e("c4")+`,`+e("c3")+`]`, uint8(1))
	f.Fuzz(func(t *testing.T, first, second string, target uint8) {
		covered := map[string]bool{}
		memo := newRunMemo()
		if target > 0 {
			memo.target = int64(target) // many runs, chained
		}
		read := readWithRuns([]byte(first), memo, covered, false)
		if read.errText != "" {
			return
		}
		memo.remember(read.runs, true)
		for _, raw := range read.fresh {
			var ev struct {
				ID string `json:"_id"`
			}
			if json.Unmarshal([]byte(raw), &ev) == nil {
				covered[ev.ID] = true
			}
		}
		want := readWithRuns([]byte(second), nil, covered, false)
		got := readWithRuns([]byte(second), memo, covered, len(second)%2 == 0)
		require.Equal(t, want.errText, got.errText)
		require.Equal(t, want.fresh, got.fresh)
		if want.errText == "" {
			require.Equal(t, want.n, got.n)
		}
	})
}
