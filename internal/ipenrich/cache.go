package ipenrich

import (
	"sync/atomic"
)

// recordCacheSlots is the number of slots of each MMDB source's record cache.
// Audit events of one organisation come from few networks, so a small
// direct-mapped cache removes nearly all record decoding from the hot path.
const (
	recordCacheBits  = 12
	recordCacheSlots = 1 << recordCacheBits
)

// recordCache is a lock-free, direct-mapped cache of decoded MMDB records
// keyed by their data-section offset (unique per record within one file).
// A miss decodes and replaces the slot; readers never block.
type recordCache[T any] struct {
	slots [recordCacheSlots]atomic.Pointer[cacheEntry[T]]
}

type cacheEntry[T any] struct {
	offset uintptr
	val    T
	ok     bool // false: the record was decoded but carries nothing useful
}

func cacheSlot(offset uintptr) uintptr {
	// Fibonacci hashing spreads the (aligned, clustered) offsets.
	return uintptr((uint64(offset) * 0x9E3779B97F4A7C15) >> (64 - recordCacheBits))
}

func (c *recordCache[T]) get(offset uintptr) *cacheEntry[T] {
	if en := c.slots[cacheSlot(offset)].Load(); en != nil && en.offset == offset {
		return en
	}
	return nil
}

func (c *recordCache[T]) put(en *cacheEntry[T]) {
	c.slots[cacheSlot(en.offset)].Store(en)
}
