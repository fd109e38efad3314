package huggingfaceauditreceiver // import "github.com/hfauditlog/huggingfaceauditreceiver"

import "hash/maphash"

// A poll reads the whole window: the export has no "since" parameter, so a
// poll that finds one new event still reads 100,000 old ones. Most of a
// window comes back byte for byte as the poll before read it, though, and
// an event the cursor covered once stays covered (the floor only rises, and
// an ID leaves the seen set only below it). So a poll remembers runs of
// consecutive elements that are all covered once it has emitted what it
// found: where each run starts (its first _id), how many bytes and elements
// it holds, and a hash of its bytes. The next poll scans an element, finds
// a run starting with it, and when the body holds the same bytes there,
// steps over the run instead of scanning it, then tries the run that
// followed it. Any difference in the bytes (a new event, an author renamed,
// an event gone) fails the check, and the scanner goes on element by
// element, as without runs. An invalid element ends a run: it is read (and
// reported) by every poll.
//
// The hash is hash/maphash with a random seed per receiver: 64 bits, and
// the bytes it covers come from the Hub, which cannot see the seed to aim
// for a collision.

// runTarget is the size at which a run is closed and the next one begins:
// a changed byte costs a scan of at most about this much.
const runTarget = 32 << 10

// verdict is what the cursor says of an element.
type verdict uint8

const (
	verdictInvalid verdict = iota // its _id or createdAt is unusable
	verdictNew                    // to be emitted
	verdictCovered                // emitted before, or deliberately not
	// verdictCovers: covered, and proof that the export reaches back to
	// the cursor (see exportPass.overlap).
	verdictCovers
)

// coveredRun is a run of covered elements as read by the last poll.
type coveredRun struct {
	firstID string
	size    int64 // from the first element's start to the last one's end
	sum     uint64
	n       int  // elements
	covers  bool // one of them proves the export reaches back to the cursor
	fresh   bool // it holds new events: covered once they are emitted
	// follows: the run starts at the element after the previous run's last.
	follows bool
}

// coveredRuns are the runs of one read of the export.
type coveredRuns struct {
	runs  []coveredRun
	first map[string]int // first _id → index in runs
}

// runMemo holds the runs of the last whole read of the export.
type runMemo struct {
	seed   maphash.Seed
	target int64 // runTarget; smaller in tests, to make many runs
	last   *coveredRuns
}

func newRunMemo() *runMemo { return &runMemo{seed: maphash.MakeSeed(), target: runTarget} }

// runReader steps over remembered runs while one read of the export is
// scanned, and records that read's runs.
type runReader struct {
	memo *runMemo
	s    *arrayScanner
	next coveredRuns
	// The run being recorded: its bytes from start are hashed up to hashed.
	open     bool
	run      coveredRun
	start    int64
	hashed   int64
	h        maphash.Hash
	lastInRn bool // the last element read ends a run of next
}

func (m *runMemo) reader(s *arrayScanner) *runReader {
	rr := &runReader{memo: m, s: s, next: coveredRuns{first: map[string]int{}}}
	rr.h.SetSeed(m.seed)
	return rr
}

// element takes the verdict on the element the scanner returned last. It
// returns how many elements it stepped over after it, all covered, and
// whether one of them covers.
func (rr *runReader) element(id []byte, v verdict) (skipped int, skippedCovers bool) {
	if v == verdictInvalid {
		rr.close()
		rr.lastInRn = false
		return 0, false
	}
	if v != verdictNew && rr.memo.last != nil {
		if j, ok := rr.memo.last.first[string(id)]; ok {
			if n, c, ok := rr.skip(j); ok {
				return n, c
			}
		}
	}
	s := rr.s
	if rr.open && s.start-rr.start >= rr.memo.target {
		rr.close()
	}
	if !rr.open {
		rr.open, rr.start, rr.hashed = true, s.start, s.start
		rr.run = coveredRun{firstID: string(id), follows: rr.lastInRn}
		rr.h.Reset()
	}
	rr.h.Write(s.buffered(rr.hashed, s.stop-rr.hashed))
	rr.hashed = s.stop
	s.hold = rr.hashed // the separator before the next element
	rr.run.n++
	rr.run.covers = rr.run.covers || v == verdictCovers
	rr.run.fresh = rr.run.fresh || v == verdictNew
	rr.lastInRn = true
	return 0, false
}

// skip checks whether the last run j (whose first element the scanner just
// returned) is in the body again, steps over it when it is, and then over
// the runs that followed it as long as they match.
func (rr *runReader) skip(j int) (skipped int, covers bool, ok bool) {
	s, last := rr.s, rr.memo.last
	run := last.runs[j]
	if !rr.same(s.start, run) {
		return 0, false, false
	}
	rr.close()
	rr.keep(run, rr.lastInRn)
	skipped, covers = run.n-1, run.covers // its first element was counted
	for j+1 < len(last.runs) && last.runs[j+1].follows && s.comma() {
		j++
		run = last.runs[j]
		if !rr.same(s.offset+int64(s.pos), run) {
			break
		}
		rr.keep(run, true)
		skipped += run.n
		covers = covers || run.covers
	}
	return skipped, covers, true
}

// same tells whether the body holds run's bytes at stream offset from, and
// moves the scanner past them when it does.
func (rr *runReader) same(from int64, run coveredRun) bool {
	b := rr.s.buffered(from, run.size)
	if b == nil || maphash.Bytes(rr.memo.seed, b) != run.sum {
		return false
	}
	rr.s.skipTo(from + run.size)
	return true
}

// keep records a run found again as one of this read's runs.
func (rr *runReader) keep(run coveredRun, follows bool) {
	run.follows = follows
	rr.add(run)
	rr.lastInRn = true
}

func (rr *runReader) add(run coveredRun) {
	rr.next.first[run.firstID] = len(rr.next.runs)
	rr.next.runs = append(rr.next.runs, run)
}

// close ends the run being recorded.
func (rr *runReader) close() {
	if !rr.open {
		return
	}
	rr.open = false
	rr.s.hold = -1
	rr.run.size = rr.hashed - rr.start
	rr.run.sum = rr.h.Sum64()
	rr.add(rr.run)
}

// done returns the runs of a read of the whole body.
func (rr *runReader) done() *coveredRuns {
	rr.close()
	return &rr.next
}

// remember makes runs (nil: none) the ones the next read steps over, once
// the pass that read them has emitted what it found (emitted: all of it;
// otherwise only runs without a new event are covered).
func (m *runMemo) remember(runs *coveredRuns, emitted bool) {
	if runs == nil {
		return
	}
	if !emitted {
		kept := coveredRuns{first: map[string]int{}}
		follows := false
		for _, run := range runs.runs {
			if run.fresh {
				follows = false
				continue
			}
			run.follows = run.follows && follows
			kept.first[run.firstID] = len(kept.runs)
			kept.runs = append(kept.runs, run)
			follows = true
		}
		runs = &kept
	}
	for i := range runs.runs {
		// Emitted: in the seen set, so each of them covers.
		runs.runs[i].covers = runs.runs[i].covers || runs.runs[i].fresh
		runs.runs[i].fresh = false
	}
	m.last = runs
}
