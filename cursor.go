package huggingfaceauditreceiver // import "github.com/hfauditlog/huggingfaceauditreceiver"

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

// cursor records how far the receiver has emitted. The export has no "since"
// parameter and no documented order, so every poll sees the whole window and
// the cursor decides per event:
//
//   - created before floor(): emitted before, or deliberately not emitted;
//   - its ID is in seen: emitted before;
//   - otherwise: new.
//
// seen holds the IDs of the emitted events created at or after complete, so
// events sharing one millisecond, arriving in any order or a little late,
// are emitted exactly once.
type cursor struct {
	// watermark is the createdAt (Unix ns) of the newest emitted event; 0 = none.
	watermark int64
	// since is the initial_lookback start (Unix ns): never emit older events.
	since int64
	// complete is the createdAt from which seen holds every emitted ID.
	// Below it the cursor cannot tell an emitted event from a new one, so
	// nothing below it is new, whatever late_arrival_window says now.
	complete int64
	// seen holds the emitted IDs and their createdAt (Unix ns).
	seen seenSet
	// oldestSeen is the smallest createdAt in seen (0: unknown), so advance
	// walks seen only when some ID actually fell below the floor.
	oldestSeen int64
}

func newCursor(since int64) *cursor {
	return &cursor{since: since, seen: newSeenSet(0)}
}

// floor is the createdAt below which events are not emitted: the
// late-arrival window behind the watermark, but never below complete (a
// wider window does not reach back past what seen still holds) nor since.
func (c *cursor) floor(window time.Duration) int64 {
	f := max(c.since, c.complete)
	if c.watermark != 0 {
		f = max(f, c.watermark-int64(window))
	}
	return f
}

// isNew tells whether an event still has to be emitted.
func (c *cursor) isNew(id []byte, createdAt int64, floor int64) bool {
	if createdAt < floor {
		return false
	}
	return !c.seen.has(id)
}

// covers tells whether an event was emitted before (or is older than
// what was): proof that the export still reaches back to the cursor.
func (c *cursor) covers(id []byte, createdAt int64) bool {
	if c.watermark == 0 {
		return false
	}
	if createdAt < c.watermark {
		return true
	}
	return c.seen.has(id)
}

// advance records a batch's events and forgets IDs that fell below the floor,
// which becomes where seen is complete. The watermark never passes now: one
// event stamped in the future (a clock gone wrong) would otherwise put every
// later event below the floor. Such an event stays in seen until the floor
// passes it. An unusable event is remembered too (it is reported once) but
// moves nothing: it was never emitted.
func (c *cursor) advance(batch []pendingEvent, window time.Duration, now int64) {
	for i := range batch {
		e := &batch[i]
		c.seen.put(e.id, e.createdAt)
		if !e.unusable {
			c.watermark = max(c.watermark, min(e.createdAt, now))
		}
	}
	floor := c.floor(window)
	c.complete = floor
	if c.oldestSeen != 0 && c.oldestSeen >= floor {
		for i := range batch {
			c.oldestSeen = min(c.oldestSeen, batch[i].createdAt)
		}
		return
	}
	c.oldestSeen = c.seen.prune(floor)
}

// objectID is an _id in compact form: the Hub's IDs are MongoDB ObjectIds,
// 24 lowercase hex digits, which fit in 12 bytes.
type objectID [12]byte

// parseObjectID decodes id when it is 24 lowercase hex digits (only those:
// the ID must come back byte for byte).
func parseObjectID[T string | []byte](id T) (oid objectID, ok bool) {
	if len(id) != 24 {
		return oid, false
	}
	for i := range oid {
		hi, lo := hexValue[id[2*i]], hexValue[id[2*i+1]]
		if hi|lo > 0xf {
			return oid, false
		}
		oid[i] = hi<<4 | lo
	}
	return oid, true
}

func (o objectID) String() string { return hex.EncodeToString(o[:]) }

// eventID is an _id as a pending event holds it: an ObjectId in 12 bytes,
// any other ID as its string. A backfill holds one per new event, so the
// common case costs no allocation.
type eventID struct {
	oid   objectID
	other *string // nil for an ObjectId
}

func newEventID[T string | []byte](id T) eventID {
	if oid, ok := parseObjectID(id); ok {
		return eventID{oid: oid}
	}
	s := string(id)
	return eventID{other: &s}
}

func (id eventID) String() string {
	if id.other != nil {
		return *id.other
	}
	return id.oid.String()
}

// compare orders IDs as their strings do: an ObjectId's bytes sort as its
// lowercase hex digits.
func (id eventID) compare(o eventID) int {
	if id.other == nil && o.other == nil {
		return bytes.Compare(id.oid[:], o.oid[:])
	}
	return strings.Compare(id.String(), o.String())
}

// hexValue maps a lowercase hex digit to its value, anything else to 0xff.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "0123456789abcdef" {
		t[c] = byte(i)
	}
	return t
}()

// seenSet maps emitted IDs to their createdAt (Unix ns): ObjectIds in 12
// bytes, any other ID as its string.
type seenSet struct {
	oids  map[objectID]int64
	other map[string]int64
}

func newSeenSet(n int) seenSet {
	return seenSet{oids: make(map[objectID]int64, n), other: map[string]int64{}}
}

func (s *seenSet) len() int { return len(s.oids) + len(s.other) }

func (s *seenSet) has(id []byte) bool {
	if oid, ok := parseObjectID(id); ok {
		_, found := s.oids[oid]
		return found
	}
	_, found := s.other[string(id)]
	return found
}

// add puts id, and tells whether it was new to s.
func (s *seenSet) add(id eventID, createdAt int64) bool {
	n := s.len()
	s.put(id, createdAt)
	return s.len() > n
}

func (s *seenSet) put(id eventID, createdAt int64) {
	if id.other == nil {
		s.oids[id.oid] = createdAt
		return
	}
	s.other[*id.other] = createdAt
}

// prune forgets the IDs created before floor and returns the oldest
// createdAt left (0 when none).
func (s *seenSet) prune(floor int64) (oldest int64) {
	keep := func(ts int64) bool {
		if ts < floor {
			return false
		}
		if oldest == 0 || ts < oldest {
			oldest = ts
		}
		return true
	}
	for id, ts := range s.oids {
		if !keep(ts) {
			delete(s.oids, id)
		}
	}
	for id, ts := range s.other {
		if !keep(ts) {
			delete(s.other, id)
		}
	}
	return oldest
}

// The checkpoint is a base value (the whole cursor, written once per poll)
// plus one delta value per batch emitted since (the batch's IDs and the
// cursor's new bounds), so a batch's save costs what the batch added, not
// the whole seen set. Both use the same binary form:
//
//	"HFCK" 3                            magic and version
//	watermark since complete            varint (Unix ns)
//	seq                                 uvarint: base: the first delta that
//	                                    applies; delta: its own number
//	count, then count entries of:
//	  createdAt - watermark             varint
//	  n                                 uvarint: 0 = a 12-byte ObjectId
//	                                    follows, else an n-byte ID
//	CRC-32C of all the above            4 bytes, little endian
//
// A value that fails its checksum is unreadable: a flipped bit in storage
// could otherwise move the watermark years ahead, and nothing would be
// emitted again, in silence. Version 2 (the same without the checksum) is
// still read, with its bounds checked against the clock instead; version 1
// (JSON, one value) too: see unmarshalCursorV1.
const (
	checkpointMagic   = "HFCK"
	checkpointVersion = 3
	checkpointV2      = 2
)

// castagnoli is the CRC-32C table (hardware-assisted on amd64 and arm64).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maxClockSkew: how far ahead of the clock a checkpoint's times may lie.
// Used, a time too far ahead would hold back every event until the clock
// caught up, in silence; refused, it is logged and the receiver starts
// over. Which times are checked depends on what can be told apart:
//
//   - a version without a checksum: every time, since a corrupted digit is
//     the likely cause (and the value is rewritten by the first poll);
//   - with a checksum, a cursor that never emitted (no watermark) whose
//     since lies ahead: the first start ran while the clock was ahead.
//     Starting over then re-emits nothing. A watermark ahead of the clock
//     is kept: it comes from the Hub's own createdAt, so it is the clock
//     that is behind (a host that booted before its time was set), and
//     starting over would emit the whole window again.
const maxClockSkew = 24 * time.Hour

// checkBounds refuses times the clock rules out (see maxClockSkew).
func checkBounds(times ...int64) error {
	limit := time.Now().Add(maxClockSkew).UnixNano()
	for _, t := range times {
		if t > limit {
			return fmt.Errorf("the checkpoint holds %s, a time the clock rules out: it is corrupt, or was written while the clock was wrong", formatNanos(t))
		}
	}
	return nil
}

// appendCheckpoint encodes the cursor's bounds and the given entries.
func (c *cursor) appendCheckpoint(dst []byte, seq uint64, n int, entries func(add func(id eventID, createdAt int64))) []byte {
	start := len(dst)
	dst = append(dst, checkpointMagic...)
	dst = append(dst, checkpointVersion)
	dst = binary.AppendVarint(dst, c.watermark)
	dst = binary.AppendVarint(dst, c.since)
	dst = binary.AppendVarint(dst, c.complete)
	dst = binary.AppendUvarint(dst, seq)
	dst = binary.AppendUvarint(dst, uint64(n))
	entries(func(id eventID, createdAt int64) {
		dst = binary.AppendVarint(dst, createdAt-c.watermark)
		if id.other == nil {
			dst = append(dst, 0)
			dst = append(dst, id.oid[:]...)
			return
		}
		dst = binary.AppendUvarint(dst, uint64(len(*id.other)))
		dst = append(dst, *id.other...)
	})
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// marshalBase encodes the whole cursor; deltas from seq on apply to it.
func (c *cursor) marshalBase(seq uint64) []byte {
	size := 32 + len(c.seen.oids)*20
	for id := range c.seen.other {
		size += len(id) + 12
	}
	return c.appendCheckpoint(make([]byte, 0, size), seq, c.seen.len(), func(add func(eventID, int64)) {
		for oid, ts := range c.seen.oids {
			add(eventID{oid: oid}, ts)
		}
		for id, ts := range c.seen.other {
			add(eventID{other: &id}, ts)
		}
	})
}

// marshalDelta encodes the cursor's bounds and the IDs of one batch.
func (c *cursor) marshalDelta(seq uint64, batch []pendingEvent) []byte {
	return c.appendCheckpoint(make([]byte, 0, 32+len(batch)*20), seq, len(batch), func(add func(eventID, int64)) {
		for i := range batch {
			add(batch[i].id, batch[i].createdAt)
		}
	})
}

// checkpoint is one decoded base or delta value.
type checkpoint struct {
	version                    byte
	watermark, since, complete int64
	seq                        uint64
	count                      int
	entries                    []byte // the entries, still encoded
}

func decodeCheckpoint(b []byte) (cp checkpoint, err error) {
	if len(b) < len(checkpointMagic)+1 || string(b[:len(checkpointMagic)]) != checkpointMagic {
		return cp, errors.New("not a checkpoint")
	}
	body := b[len(checkpointMagic)+1:]
	cp.version = b[len(checkpointMagic)]
	switch cp.version {
	case checkpointVersion:
		if len(body) < 4 {
			return cp, errTruncated
		}
		sum := binary.LittleEndian.Uint32(body[len(body)-4:])
		if crc32.Checksum(b[:len(b)-4], castagnoli) != sum {
			return cp, errors.New("the checkpoint fails its checksum: storage changed it")
		}
		body = body[:len(body)-4]
	case checkpointV2:
	default:
		return cp, fmt.Errorf("unknown checkpoint version %d", cp.version)
	}
	r := checkpointReader{b: body}
	cp.watermark, cp.since, cp.complete = r.varint(), r.varint(), r.varint()
	cp.seq = r.uvarint()
	count := r.uvarint()
	if r.err != nil {
		return cp, r.err
	}
	switch {
	case cp.version != checkpointVersion:
		err = checkBounds(cp.watermark, cp.since, cp.complete)
	case cp.watermark == 0:
		err = checkBounds(cp.since)
	}
	if err != nil {
		return cp, err
	}
	if count > uint64(len(r.b)) { // every entry takes at least two bytes
		return cp, fmt.Errorf("the checkpoint claims %d IDs in %d bytes", count, len(r.b))
	}
	cp.count, cp.entries = int(count), r.b
	return cp, nil
}

// apply adds the checkpoint's entries to seen.
func (cp checkpoint) apply(seen *seenSet) error {
	r := checkpointReader{b: cp.entries}
	for range cp.count {
		ts := cp.watermark + r.varint()
		n := r.uvarint()
		if r.err != nil {
			return r.err
		}
		if n == 0 {
			raw := r.take(len(objectID{}))
			if r.err != nil {
				return r.err
			}
			seen.oids[objectID(raw)] = ts
			continue
		}
		raw := r.take(int(min(n, uint64(len(r.b)+1))))
		if r.err != nil {
			return r.err
		}
		seen.other[string(raw)] = ts
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%d bytes after the last ID", len(r.b))
	}
	return nil
}

// checkpointReader reads varints and keeps the first error.
type checkpointReader struct {
	b   []byte
	err error
}

var errTruncated = errors.New("the checkpoint is cut short")

func (r *checkpointReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *checkpointReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *checkpointReader) take(n int) []byte {
	if n > len(r.b) {
		r.fail()
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *checkpointReader) fail() {
	if r.err == nil {
		r.err = errTruncated
	}
	r.b = nil
}

// storedCursorV1 is the checkpoint before version 2: one JSON value with
// every ID as a string, rewritten whole after each batch.
type storedCursorV1 struct {
	Version       int      `json:"version"`
	Watermark     string   `json:"watermark,omitempty"`
	Since         string   `json:"since,omitempty"`
	SeenIDs       []string `json:"seen_ids"`
	SeenCreatedAt []int64  `json:"seen_created_at"`
}

// unmarshalCursorV1 reads a version 1 checkpoint. It did not record where
// seen is complete; version 1 pruned seen at the floor of the window it ran
// with, so the floor of the current window stands in (exact when the window
// is unchanged across the upgrade).
func unmarshalCursorV1(b []byte, window time.Duration) (*cursor, error) {
	var s storedCursorV1
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	if s.Version != 1 {
		return nil, fmt.Errorf("unknown checkpoint version %d", s.Version)
	}
	if len(s.SeenIDs) != len(s.SeenCreatedAt) {
		return nil, fmt.Errorf("the checkpoint has %d IDs but %d times", len(s.SeenIDs), len(s.SeenCreatedAt))
	}
	c := newCursor(0)
	var err error
	if c.watermark, err = parseNanos(s.Watermark); err != nil {
		return nil, err
	}
	if c.since, err = parseNanos(s.Since); err != nil {
		return nil, err
	}
	if err := checkBounds(c.watermark, c.since); err != nil {
		return nil, err
	}
	for i, id := range s.SeenIDs {
		c.seen.put(newEventID(id), s.SeenCreatedAt[i])
	}
	c.complete = c.floor(window)
	c.oldestSeen = c.seen.prune(c.complete)
	return c, nil
}

func formatNanos(ns int64) string {
	if ns == 0 {
		return ""
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

func parseNanos(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, err
	}
	return t.UnixNano(), nil
}

// cursorStore keeps the cursor in a storage extension. A nil client keeps it
// in memory only (a restart backfills again).
type cursorStore struct {
	client storage.Client
	key    string
	logger *zap.Logger
	// firstDelta is the number of the first delta the base does not hold;
	// nextDelta, of the next one to write.
	firstDelta, nextDelta uint64
	// baseIDs is how many IDs the base holds; deltaIDs, the deltas after it.
	baseIDs, deltaIDs int
	// dirty: storage does not hold the cursor as it is in memory (a
	// batch's delta could not be saved, a new cursor is not saved yet) or
	// holds it in an older version; the next compaction writes the base
	// whatever the deltas' size.
	dirty bool
}

// A compaction rewrites every ID, so it waits until the deltas hold a
// quarter of the base's IDs (its cost then stays proportional to what
// changed), or until maxDeltas of them have piled up (a restart reads them
// one by one). A steady poll that finds one new event writes one delta.
const (
	compactRatio = 4
	maxDeltas    = 256
)

// cursorKey isolates the stream: one organization and one query. The storage
// client itself is already scoped to the receiver instance's ID.
func cursorKey(organization, query string) string {
	if query == "" {
		return "cursor." + organization
	}
	sum := sha256.Sum256([]byte(query))
	return "cursor." + organization + ".q" + hex.EncodeToString(sum[:8])
}

func (s *cursorStore) deltaKey(seq uint64) string {
	return s.key + ".delta." + strconv.FormatUint(seq, 10)
}

// load returns the saved cursor (the base with its deltas applied), or nil
// when there is none. A base that cannot be read is logged and ignored (the
// receiver starts over); so is a delta, and the ones after it (their batches
// may be emitted again). A storage failure is an error. window reads a
// version 1 checkpoint (see unmarshalCursorV1).
func (s *cursorStore) load(ctx context.Context, window time.Duration) (*cursor, error) {
	s.firstDelta, s.nextDelta = 1, 1
	s.baseIDs, s.deltaIDs = 0, 0
	if s.client == nil {
		return nil, nil
	}
	b, err := s.client.Get(ctx, s.key)
	if err != nil {
		return nil, fmt.Errorf("reading the checkpoint %q from storage: %w", s.key, err)
	}
	c, err := s.decodeBase(b, window)
	if err != nil {
		s.logger.Warn("Stored checkpoint unreadable; starting over", zap.String("key", s.key), zap.Error(err))
		c = nil
	}
	for ; ; s.nextDelta++ {
		key := s.deltaKey(s.nextDelta)
		b, err := s.client.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("reading the checkpoint %q from storage: %w", key, err)
		}
		if b == nil {
			break
		}
		var n int
		if c, n, err = applyDelta(c, b); err != nil {
			s.logger.Warn("Stored checkpoint delta unreadable; ignoring it and the ones after it", zap.String("key", key), zap.Error(err))
			break
		}
		s.deltaIDs += n
	}
	return c, nil
}

// decodeBase reads the base value in either version; nil without one.
func (s *cursorStore) decodeBase(b []byte, window time.Duration) (*cursor, error) {
	if b == nil {
		return nil, nil
	}
	if len(b) > 0 && b[0] == '{' {
		c, err := unmarshalCursorV1(b, window)
		s.dirty = err == nil // rewritten in the current version
		return c, err
	}
	cp, err := decodeCheckpoint(b)
	if err != nil {
		return nil, err
	}
	s.dirty = cp.version != checkpointVersion
	c := &cursor{watermark: cp.watermark, since: cp.since, complete: cp.complete, seen: newSeenSet(cp.count)}
	if err := cp.apply(&c.seen); err != nil {
		return nil, err
	}
	s.firstDelta, s.nextDelta = cp.seq, cp.seq
	s.baseIDs = cp.count
	return c, nil
}

// applyDelta adds a delta to c (a new cursor when nil: the deltas of a
// first pass that never finished) and returns how many IDs it held.
func applyDelta(c *cursor, b []byte) (*cursor, int, error) {
	cp, err := decodeCheckpoint(b)
	if err != nil {
		return c, 0, err
	}
	next := c
	if next == nil {
		next = newCursor(cp.since)
	}
	if err := cp.apply(&next.seen); err != nil {
		return c, 0, err
	}
	// The bounds only move forward: a delta left over from an older
	// checkpoint adds IDs but cannot move them back.
	next.watermark = max(next.watermark, cp.watermark)
	next.complete = max(next.complete, cp.complete)
	next.oldestSeen = 0
	return next, cp.count, nil
}

// saveBatch records one emitted batch: a delta value of its IDs.
func (s *cursorStore) saveBatch(ctx context.Context, c *cursor, batch []pendingEvent) error {
	if s.client == nil {
		return nil
	}
	key := s.deltaKey(s.nextDelta)
	if err := s.client.Set(ctx, key, c.marshalDelta(s.nextDelta, batch)); err != nil {
		// The batch was delivered and will not be offered again: only a
		// whole base can record it now (the slot may be written next time).
		s.dirty = true
		return fmt.Errorf("saving the checkpoint %q to storage: %w", key, err)
	}
	s.nextDelta++
	s.deltaIDs += len(batch)
	return nil
}

// compact writes the whole cursor as the base and deletes the deltas it
// now holds, in one batch (one transaction in file_storage), once the
// deltas are worth it (see compactRatio). If it fails, base and deltas
// still hold everything and the next compaction retries.
func (s *cursorStore) compact(ctx context.Context, c *cursor) error {
	if s.client == nil || !s.compactDue() {
		return nil
	}
	ops := make([]*storage.Operation, 0, 1+s.nextDelta-s.firstDelta)
	ops = append(ops, storage.SetOperation(s.key, c.marshalBase(s.nextDelta)))
	for seq := s.firstDelta; seq < s.nextDelta; seq++ {
		ops = append(ops, storage.DeleteOperation(s.deltaKey(seq)))
	}
	if err := s.client.Batch(ctx, ops...); err != nil {
		return fmt.Errorf("saving the checkpoint %q to storage: %w", s.key, err)
	}
	s.firstDelta = s.nextDelta
	s.baseIDs, s.deltaIDs = c.seen.len(), 0
	s.dirty = false
	return nil
}

// compactDue: a delta could not be saved (only the base can record its
// batch now), or the deltas hold a quarter of the base's IDs, or maxDeltas
// of them have piled up.
func (s *cursorStore) compactDue() bool {
	deltas := s.nextDelta - s.firstDelta
	return s.dirty || (deltas > 0 && (s.deltaIDs*compactRatio >= s.baseIDs || deltas >= maxDeltas))
}

func (s *cursorStore) close(ctx context.Context) error {
	if s.client == nil {
		return nil
	}
	return s.client.Close(ctx)
}

// openCursor connects the cursor's storage (when configured) and returns the
// stored cursor, or a new one that honours initial_lookback.
func openCursor(ctx context.Context, host component.Host, cfg *Config, self component.ID, logger *zap.Logger) (cursorStore, *cursor, error) {
	store := cursorStore{key: cursorKey(cfg.Organization, cfg.Query), logger: logger}
	if cfg.StorageID != nil {
		var err error
		if store.client, err = storageClient(ctx, host, *cfg.StorageID, self); err != nil {
			return store, nil, err
		}
	}
	c, err := store.load(ctx, cfg.LateArrivalWindow)
	if err != nil {
		return store, nil, err
	}
	if c == nil {
		var since int64
		if cfg.InitialLookback > 0 {
			since = time.Now().Add(-cfg.InitialLookback).UnixNano()
		}
		c = newCursor(since)
		// Saved at once: initial_lookback counts from the first start, also
		// for a restart before anything was emitted. If the save fails, the
		// compaction at the end of the next poll writes it.
		store.dirty = true
		if err := store.compact(ctx, c); err != nil {
			logger.Warn("Saving the new checkpoint failed; retrying after the next poll", zap.Error(err))
		}
		return store, c, nil
	}
	logger.Info("Resuming from the stored checkpoint",
		zap.String("watermark", formatNanos(c.watermark)), zap.Int("ids_at_boundary", c.seen.len()))
	return store, c, nil
}

func storageClient(ctx context.Context, host component.Host, storageID, self component.ID) (storage.Client, error) {
	ext, ok := host.GetExtensions()[storageID]
	if !ok {
		return nil, fmt.Errorf("storage: extension %q is not configured; add it under extensions and service::extensions", storageID)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("storage: extension %q is not a storage extension (use file_storage, for example)", storageID)
	}
	client, err := se.GetClient(ctx, component.KindReceiver, self, "")
	if err != nil {
		return nil, fmt.Errorf("storage: getting a client from %q: %w", storageID, err)
	}
	return client, nil
}
