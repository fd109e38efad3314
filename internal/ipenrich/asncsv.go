package ipenrich

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

func openASN(key, path string) (source, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".mmdb":
		return openASNMMDB(key, path)
	case ".csv":
		t, err := loadASNCSV(path)
		if err != nil {
			return nil, fmt.Errorf("ipenrich: %s %q: %w", key, path, err)
		}
		return t, nil
	default:
		return nil, fmt.Errorf("ipenrich: %s %q: unsupported file extension %q: expected .mmdb (MaxMind ASN) or .csv (ip-location-db ASN)",
			key, path, ext)
	}
}

// u128 is an IPv6 address as a 128-bit big-endian integer.
type u128 struct{ hi, lo uint64 }

func u128From(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (a u128) cmp(b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

func (a u128) inc() u128 {
	if a.lo == ^uint64(0) {
		return u128{a.hi + 1, 0}
	}
	return u128{a.hi, a.lo + 1}
}

func (a u128) dec() u128 {
	if a.lo == 0 {
		return u128{a.hi - 1, ^uint64(0)}
	}
	return u128{a.hi, a.lo - 1}
}

// v4 is an IPv4 address as a 32-bit integer.
type v4 uint32

func (a v4) cmp(b v4) int { return cmp.Compare(a, b) }
func (a v4) inc() v4      { return a + 1 }
func (a v4) dec() v4      { return a - 1 }

type rangeKey[K any] interface {
	comparable
	cmp(K) int
	inc() K
	dec() K
}

// asnRange is one inclusive address range. IPv4 ranges take 16 bytes, IPv6
// ranges 40; the organisation is an index into asnTable.orgs.
type asnRange[K rangeKey[K]] struct {
	start, end K
	asn        uint32
	org        uint32
}

// asOrg is an interned (organisation, country) pair.
type asOrg struct {
	name, country string
}

// asnTable is an ASN CSV file loaded into sorted, non-overlapping ranges.
type asnTable struct {
	v4   []asnRange[v4]
	v6   []asnRange[u128]
	orgs []asOrg
}

func (t *asnTable) provider() string { return ProviderCSVASN }

func (t *asnTable) close() error { return nil }

func (t *asnTable) lookup(a netip.Addr, res *result) bool {
	var asn, org uint32
	var ok bool
	if a.Is4() {
		b := a.As4()
		asn, org, ok = find(t.v4, v4(binary.BigEndian.Uint32(b[:])))
	} else {
		asn, org, ok = find(t.v6, u128From(a))
	}
	if !ok {
		return false
	}
	o := &t.orgs[org]
	return res.fillAS(asn, o.name, o.country)
}

// find binary-searches the last range starting at or before k.
func find[K rangeKey[K]](rs []asnRange[K], k K) (asn, org uint32, ok bool) {
	lo, hi := 0, len(rs) // invariant: rs[:lo] start <= k, rs[hi:] start > k
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if rs[m].start.cmp(k) <= 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return 0, 0, false
	}
	r := &rs[lo-1]
	if r.end.cmp(k) < 0 {
		return 0, 0, false
	}
	return r.asn, r.org, true
}

// loadASNCSV reads an ip-location-db ASN CSV file:
//
//	ip_range_start,ip_range_end,autonomous_system_number,autonomous_system_organization[,country_code]
//
// with RFC 4180 quoting. IPv4 and IPv6 rows may be mixed in one file. A
// header line is skipped. The optional fifth column, if it is a two-letter
// code, is the AS country. Numeric (-num.csv) files are not supported.
func loadASNCSV(path string) (*asnTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readASNCSV(f)
}

func readASNCSV(r io.Reader) (*asnTable, error) {
	cr := csv.NewReader(bufio.NewReaderSize(r, 1<<20))
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	t := &asnTable{}
	intern := make(map[asOrg]uint32)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("invalid CSV: %w", err)
		}
		if len(rec) < 4 {
			return nil, fmt.Errorf("line %d: expected 4 fields (ip_range_start,ip_range_end,autonomous_system_number,autonomous_system_organization), got %d", line, len(rec))
		}
		start, err1 := netip.ParseAddr(strings.TrimSpace(rec[0]))
		end, err2 := netip.ParseAddr(strings.TrimSpace(rec[1]))
		if err1 != nil || err2 != nil {
			if _, nerr := strconv.ParseUint(strings.TrimSpace(rec[0]), 10, 64); nerr == nil {
				return nil, fmt.Errorf("line %d: numeric IP range %q: numeric (-num.csv) files are not supported, use the asn-ipv4.csv / asn-ipv6.csv files", line, rec[0])
			}
			if line == 1 {
				continue // header
			}
			return nil, fmt.Errorf("line %d: invalid IP range %q - %q", line, rec[0], rec[1])
		}
		start, end = start.Unmap(), end.Unmap()
		if start.Is4() != end.Is4() || end.Less(start) {
			return nil, fmt.Errorf("line %d: invalid IP range %q - %q", line, rec[0], rec[1])
		}
		asnStr := strings.TrimSpace(rec[2])
		asnStr = strings.TrimPrefix(strings.TrimPrefix(asnStr, "AS"), "as")
		asn, err := strconv.ParseUint(asnStr, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("line %d: invalid autonomous system number %q", line, rec[2])
		}
		if asn == 0 {
			continue // "not routed"
		}
		key := asOrg{name: strings.TrimSpace(rec[3])}
		if len(rec) >= 5 {
			if cc := strings.TrimSpace(rec[4]); len(cc) == 2 {
				key.country = cc
			}
		}
		idx, ok := intern[key]
		if !ok {
			// Clone: csv fields share one allocation per line, which
			// would otherwise be kept alive whole.
			key = asOrg{name: strings.Clone(key.name), country: strings.Clone(key.country)}
			idx = uint32(len(t.orgs))
			t.orgs = append(t.orgs, key)
			intern[key] = idx
		}
		if start.Is4() {
			s, e := start.As4(), end.As4()
			t.v4 = append(t.v4, asnRange[v4]{
				start: v4(binary.BigEndian.Uint32(s[:])), end: v4(binary.BigEndian.Uint32(e[:])),
				asn: uint32(asn), org: idx,
			})
		} else {
			t.v6 = append(t.v6, asnRange[u128]{start: u128From(start), end: u128From(end), asn: uint32(asn), org: idx})
		}
	}
	if len(t.v4)+len(t.v6) == 0 {
		return nil, errors.New("no ASN ranges found (expected lines like 1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\")")
	}
	var err error
	if t.v4, err = normalize(t.v4); err != nil {
		return nil, err
	}
	if t.v6, err = normalize(t.v6); err != nil {
		return nil, err
	}
	t.v4 = slices.Clip(t.v4)
	t.v6 = slices.Clip(t.v6)
	t.orgs = slices.Clip(t.orgs)
	return t, nil
}

// normalize sorts rs by start address and makes the ranges disjoint so that a
// binary search on the start finds the only candidate. Where ranges overlap,
// the one that starts later (the more specific one, for nested ranges) wins
// the overlap, and the part of an enclosing range after a nested one is kept.
func normalize[K rangeKey[K]](rs []asnRange[K]) ([]asnRange[K], error) {
	byStart := func(a, b asnRange[K]) int {
		if c := a.start.cmp(b.start); c != 0 {
			return c
		}
		return a.end.cmp(b.end) // narrower first
	}
	if slices.IsSortedFunc(rs, byStart) && disjoint(rs) {
		return rs, nil
	}
	for pass := 0; pass < 64; pass++ {
		slices.SortStableFunc(rs, byStart)
		var extra []asnRange[K]
		out := rs[:0]
		for _, r := range rs {
			if n := len(out); n > 0 && out[n-1].end.cmp(r.start) >= 0 {
				p := &out[n-1]
				if p.start == r.start {
					// p is the narrower one; keep it, re-queue the rest of r.
					if r.end.cmp(p.end) > 0 {
						r.start = p.end.inc()
						extra = append(extra, r)
					}
					continue
				}
				// p starts earlier: r wins from r.start on.
				if p.end.cmp(r.end) > 0 {
					tail := *p
					tail.start = r.end.inc()
					extra = append(extra, tail)
				}
				p.end = r.start.dec()
			}
			out = append(out, r)
		}
		rs = append(out, extra...)
		if len(extra) == 0 {
			return rs, nil
		}
	}
	return nil, errors.New("too many nested or overlapping IP ranges")
}

func disjoint[K rangeKey[K]](rs []asnRange[K]) bool {
	for i := 1; i < len(rs); i++ {
		if rs[i-1].end.cmp(rs[i].start) >= 0 {
			return false
		}
	}
	return true
}
