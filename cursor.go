package huggingfaceauditreceiver // import "github.com/hfauditlog/huggingfaceauditreceiver"

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

// cursor records how far the receiver has emitted. The export has no "since"
// parameter and no documented order, so every poll sees the whole window and
// the cursor decides per event:
//
//   - created before floor() (watermark minus the late-arrival window, or the
//     initial_lookback start): emitted before, or deliberately not emitted;
//   - its ID is in seen: emitted before;
//   - otherwise: new.
//
// seen holds the IDs of the emitted events created at or after floor(), so
// events sharing one millisecond, arriving in any order or a little late,
// are emitted exactly once.
type cursor struct {
	// watermark is the createdAt (Unix ns) of the newest emitted event; 0 = none.
	watermark int64
	// since is the initial_lookback start (Unix ns): never emit older events.
	since int64
	// seen maps emitted IDs to their createdAt (Unix ns).
	seen map[string]int64
	// oldestSeen is the smallest createdAt in seen (0: unknown), so advance
	// walks seen only when some ID actually fell below the floor.
	oldestSeen int64
}

func newCursor(since int64) *cursor {
	return &cursor{since: since, seen: map[string]int64{}}
}

// floor is the createdAt below which events are not emitted.
func (c *cursor) floor(window time.Duration) int64 {
	if c.watermark == 0 {
		return c.since
	}
	return max(c.since, c.watermark-int64(window))
}

// isNew tells whether an event still has to be emitted.
func (c *cursor) isNew(id []byte, createdAt int64, floor int64) bool {
	if createdAt < floor {
		return false
	}
	_, dup := c.seen[string(id)]
	return !dup
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
	_, ok := c.seen[string(id)]
	return ok
}

// advance records emitted events and forgets IDs that fell below the floor.
// The watermark never passes now: one event stamped in the future (a clock
// gone wrong) would otherwise put every later event below the floor. Such an
// event stays in seen until the floor passes it.
func (c *cursor) advance(batch []pendingEvent, window time.Duration, now int64) {
	for _, e := range batch {
		c.seen[e.id] = e.createdAt
		c.watermark = max(c.watermark, min(e.createdAt, now))
	}
	floor := c.floor(window)
	if c.oldestSeen != 0 && c.oldestSeen >= floor {
		for _, e := range batch {
			c.oldestSeen = min(c.oldestSeen, e.createdAt)
		}
		return
	}
	c.oldestSeen = 0
	for id, ts := range c.seen {
		if ts < floor {
			delete(c.seen, id)
		} else if c.oldestSeen == 0 || ts < c.oldestSeen {
			c.oldestSeen = ts
		}
	}
}

// storedCursor is the persisted form. Times are RFC 3339 so an operator can
// read the checkpoint; the IDs are two parallel lists, which encode several
// times faster than a JSON object (whose keys encoding/json sorts), and a
// burst can put 100,000 IDs in the window.
type storedCursor struct {
	Version       int      `json:"version"`
	Watermark     string   `json:"watermark,omitempty"`
	Since         string   `json:"since,omitempty"`
	SeenIDs       []string `json:"seen_ids"`
	SeenCreatedAt []int64  `json:"seen_created_at"`
}

const storedCursorVersion = 1

func (c *cursor) marshal() ([]byte, error) {
	s := storedCursor{
		Version:       storedCursorVersion,
		Watermark:     formatNanos(c.watermark),
		Since:         formatNanos(c.since),
		SeenIDs:       make([]string, 0, len(c.seen)),
		SeenCreatedAt: make([]int64, 0, len(c.seen)),
	}
	for id, ts := range c.seen {
		s.SeenIDs = append(s.SeenIDs, id)
		s.SeenCreatedAt = append(s.SeenCreatedAt, ts)
	}
	return json.Marshal(s)
}

func unmarshalCursor(b []byte) (*cursor, error) {
	var s storedCursor
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	if s.Version != storedCursorVersion {
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
	for i, id := range s.SeenIDs {
		c.seen[id] = s.SeenCreatedAt[i]
	}
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
}

// cursorKey isolates the stream: one organization and one query. The storage
// client itself is already scoped to the receiver instance's ID.
func cursorKey(organization, query string) string {
	if query == "" {
		return "cursor." + organization
	}
	sum := sha256.Sum256([]byte(query))
	return "cursor." + organization + ".q" + hex.EncodeToString(sum[:8])
}

// load returns the saved cursor, or nil when there is none. A value that
// cannot be read is logged and ignored (the receiver starts over); a storage
// failure is an error.
func (s *cursorStore) load(ctx context.Context) (*cursor, error) {
	if s.client == nil {
		return nil, nil
	}
	b, err := s.client.Get(ctx, s.key)
	if err != nil {
		return nil, fmt.Errorf("reading the checkpoint %q from storage: %w", s.key, err)
	}
	if b == nil {
		return nil, nil
	}
	c, err := unmarshalCursor(b)
	if err != nil {
		s.logger.Warn("Stored checkpoint unreadable; starting over", zap.String("key", s.key), zap.Error(err))
		return nil, nil
	}
	return c, nil
}

func (s *cursorStore) save(ctx context.Context, c *cursor) error {
	if s.client == nil {
		return nil
	}
	b, err := c.marshal()
	if err != nil {
		return err
	}
	if err := s.client.Set(ctx, s.key, b); err != nil {
		return fmt.Errorf("saving the checkpoint %q to storage: %w", s.key, err)
	}
	return nil
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
	c, err := store.load(ctx)
	if err != nil {
		return store, nil, err
	}
	if c == nil {
		var since int64
		if cfg.InitialLookback > 0 {
			since = time.Now().Add(-cfg.InitialLookback).UnixNano()
		}
		return store, newCursor(since), nil
	}
	logger.Info("Resuming from the stored checkpoint",
		zap.String("watermark", formatNanos(c.watermark)), zap.Int("ids_at_boundary", len(c.seen)))
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
