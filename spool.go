package huggingfaceauditreceiver // import "github.com/hfauditlog/huggingfaceauditreceiver"

import (
	"bufio"
	"fmt"
	"math"
	"os"

	"go.uber.org/zap"
)

// spoolMemory is how many bytes of new events a pass keeps in memory before
// it spools the rest to a file. A steady poll finds a few new events (a few
// hundred fit) and never touches the disk; a backfill of the 100,000-event
// window (about 57 MB) keeps only an index in memory (ID, time, offset: 48
// bytes an event) instead of a copy of the body. Each byte kept here is
// held until the pass ends, beside the records in flight.
const spoolMemory = 256 << 10

// spool keeps the raw bytes of the new events of one export pass until they
// are emitted: the first spoolMemory bytes in memory, the rest in an
// unlinked temporary file (in os.TempDir(), i.e. $TMPDIR) that disappears
// when it is closed, or when the process dies.
type spool struct {
	mem     arena
	memUsed int64
	limit   int // bytes kept in memory; negative: no file at all
	dir     string

	file *os.File
	name string // set when the file could not be unlinked while open
	w    *bufio.Writer
	size int64
	// openErr: no file could be created; everything stays in memory.
	openErr error
	// err: a write failed, so spooled events are lost: the pass must fail.
	err error
}

// newSpool keeps up to limit bytes in memory and the rest in a file in dir;
// a negative limit keeps everything in memory.
func newSpool(limit int, dir string) *spool {
	if dir == "" {
		dir = os.TempDir()
	}
	return &spool{limit: limit, dir: dir}
}

// newSpool starts the spool of one export pass.
func (r *auditReceiver) newSpool() *spool {
	if r.spoolInMemory {
		return newSpool(-1, "")
	}
	return newSpool(spoolMemory, "")
}

// checkSpool looks at a finished pass's spool: when no file could be
// created or written, the receiver keeps new events in memory from then on
// (as it did before it spooled), and says so once. A write error fails the
// pass: the events written are lost.
func (r *auditReceiver) checkSpool(s *spool) error {
	s.flush()
	if s.spooled() {
		r.set.Logger.Debug("Spooled the new events of the export to a temporary file",
			zap.Int64("bytes", s.size), zap.Int64("bytes_in_memory", s.memUsed))
	}
	err := s.err
	if err == nil {
		err = s.openErr
	}
	if err == nil || r.spoolInMemory {
		return s.err
	}
	r.spoolInMemory = true
	r.set.Logger.Warn("Cannot spool the export; keeping new events in memory",
		zap.String("dir", s.dir), zap.Error(err))
	return s.err
}

// add stores raw for e: in memory or in the file (e.off, e.size).
func (s *spool) add(raw []byte, e *pendingEvent) {
	if len(raw) > math.MaxInt32 {
		if s.err == nil {
			s.err = fmt.Errorf("an event of %d bytes is too large to keep", len(raw))
		}
		return
	}
	e.size = int32(len(raw))
	// The file is opened once memory is full; if it cannot be, memory it is.
	if s.file == nil && s.openErr == nil && s.limit >= 0 && s.memUsed+int64(len(raw)) > int64(s.limit) {
		s.openErr = s.open()
	}
	if s.file == nil {
		e.off, e.inMemory = s.mem.copy(raw), true
		s.memUsed += int64(len(raw))
		return
	}
	e.off = s.size
	if _, err := s.w.Write(raw); err != nil && s.err == nil {
		s.err = fmt.Errorf("spooling the export to %s: %w", s.dir, err)
	}
	s.size += int64(len(raw))
}

func (s *spool) open() error {
	f, err := os.CreateTemp(s.dir, "hfaudit-spool-*")
	if err != nil {
		return fmt.Errorf("creating a spool file for the export: %w", err)
	}
	// Unlinked at once where the system allows it (Linux, macOS): nothing is
	// left behind, even after a crash.
	if os.Remove(f.Name()) != nil {
		s.name = f.Name()
	}
	s.file = f
	s.w = bufio.NewWriterSize(f, 256<<10)
	return nil
}

// flush writes the buffer out once every event is added, so that a write
// failing only then fails the pass (checkSpool) rather than its read-back.
func (s *spool) flush() {
	if s.file == nil || s.err != nil {
		return
	}
	if err := s.w.Flush(); err != nil {
		s.err = fmt.Errorf("spooling the export to %s: %w", s.dir, err)
	}
}

// spooled reports whether any event went to the file.
func (s *spool) spooled() bool { return s.file != nil }

// load sets raws[i] to the bytes of batch[i]. Those in the file are read
// into a new buffer: the records built from a batch point into its bytes,
// so a buffer is never reused. Events that sit next to each other in the
// file, as a batch does when the export is sorted either way, are read
// with one call.
func (s *spool) load(batch []pendingEvent, raws [][]byte) error {
	var lo, hi, total int64 = -1, 0, 0
	for i := range batch {
		e := &batch[i]
		if e.inMemory {
			raws[i] = s.mem.bytes(e.off, e.size)
			continue
		}
		raws[i] = nil
		if e.size == 0 {
			continue
		}
		if lo < 0 || e.off < lo {
			lo = e.off
		}
		hi = max(hi, e.off+int64(e.size))
		total += int64(e.size)
	}
	if lo < 0 {
		return nil
	}
	if s.flush(); s.err != nil {
		return s.err
	}
	if span := hi - lo; span <= 2*total+64<<10 {
		// One read of the span, sliced per event.
		buf := make([]byte, span)
		// A short read is an error (io.EOF), never a stale buffer's bytes.
		if _, err := s.file.ReadAt(buf, lo); err != nil {
			return fmt.Errorf("reading the spooled export: %w", err)
		}
		for i := range batch {
			if e := &batch[i]; !e.inMemory && e.size > 0 {
				start, end := e.off-lo, e.off-lo+int64(e.size)
				raws[i] = buf[start:end:end]
			}
		}
		return nil
	}
	// Scattered (a shuffled export): one read per event.
	buf := make([]byte, total)
	at := 0
	for i := range batch {
		e := &batch[i]
		if e.inMemory || e.size == 0 {
			continue
		}
		end := at + int(e.size)
		dst := buf[at:end:end]
		if _, err := s.file.ReadAt(dst, e.off); err != nil {
			return fmt.Errorf("reading the spooled export: %w", err)
		}
		raws[i] = dst
		at = end
	}
	return nil
}

// close releases the memory and deletes the file.
func (s *spool) close() {
	s.mem = arena{}
	if s.file != nil {
		_ = s.file.Close()
		if s.name != "" {
			_ = os.Remove(s.name)
		}
		s.file, s.w = nil, nil
	}
}
