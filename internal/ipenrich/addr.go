package ipenrich

import (
	"net/netip"
	"strings"
)

// Special-purpose ranges (RFC 6890 and the IANA special-purpose registries)
// that netip's predicates do not already exclude and that no database can
// meaningfully locate.
var (
	reservedV4 = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
		netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (CGNAT)
		netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
		netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1
		netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
		netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
		netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
		netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	}
	reservedV6 = []netip.Prefix{
		netip.MustParsePrefix("::/8"),           // unspecified, loopback, IPv4-compatible (deprecated)
		netip.MustParsePrefix("64:ff9b:1::/48"), // local-use IPv4/IPv6 translation
		netip.MustParsePrefix("100::/64"),       // discard-only
		netip.MustParsePrefix("2001:2::/48"),    // benchmarking
		netip.MustParsePrefix("2001:db8::/32"),  // documentation
		netip.MustParsePrefix("3fff::/20"),      // documentation
		netip.MustParsePrefix("5f00::/16"),      // SRv6 SIDs
	}
)

// parsePublicAddr parses s and reports whether it is a public unicast
// address worth looking up. IPv4-mapped IPv6 addresses are unmapped and zones
// dropped. It does not allocate for IPv4 or zone-less IPv6 input.
func parsePublicAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	a = a.Unmap().WithZone("")
	if !a.IsGlobalUnicast() || a.IsPrivate() {
		return netip.Addr{}, false
	}
	reserved := reservedV6
	if a.Is4() {
		reserved = reservedV4
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return netip.Addr{}, false
		}
	}
	return a, true
}
