package ipenrich

import (
	"net/netip"
	"strings"
	"testing"
)

func csvLookup(t *testing.T, tab *asnTable, ip string) (uint32, string, string) {
	t.Helper()
	var res result
	if !tab.lookup(netip.MustParseAddr(ip).Unmap(), &res) {
		return 0, "", ""
	}
	return res.asn, res.asOrg, res.asCountry
}

func TestReadASNCSV(t *testing.T) {
	const data = `ip_range_start,ip_range_end,autonomous_system_number,autonomous_system_organization
1.0.0.0,1.0.0.255,13335,"Cloudflare, Inc."
1.0.4.0,1.0.7.255,38803,Gtelecom Pty Ltd
1.0.64.0,1.0.127.255,18144,"Enecom,Inc."
5.0.0.0,5.0.0.255,7,"Quoted ""name"""
2001:4860::,2001:4860:4804:ffff:ffff:ffff:ffff:ffff,15169,Google LLC
2001:4860:4805::,2001:4860:4805:ffff:ffff:ffff:ffff:ffff,43515,Google Ireland Limited
::ffff:4.0.0.0,::ffff:4.0.0.255,3356,Level 3,US
1.0.16.0,1.0.16.255,2519,"Cloudflare, Inc."
0.1.0.0,0.1.0.255,0,not routed
`
	tab, err := readASNCSV(strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.v4) != 6 || len(tab.v6) != 2 {
		t.Fatalf("got %d v4 / %d v6 ranges", len(tab.v4), len(tab.v6))
	}
	if len(tab.orgs) != 7 { // "Cloudflare, Inc." is interned once
		t.Errorf("got %d organisations, want 7", len(tab.orgs))
	}
	tests := []struct {
		ip      string
		asn     uint32
		org, cc string
	}{
		{"1.0.0.0", 13335, "Cloudflare, Inc.", ""},
		{"1.0.0.255", 13335, "Cloudflare, Inc.", ""},
		{"1.0.1.0", 0, "", ""},
		{"1.0.5.7", 38803, "Gtelecom Pty Ltd", ""},
		{"1.0.16.1", 2519, "Cloudflare, Inc.", ""},
		{"1.0.100.0", 18144, "Enecom,Inc.", ""},
		{"5.0.0.1", 7, `Quoted "name"`, ""},
		{"4.0.0.10", 3356, "Level 3", "US"},
		{"0.1.0.1", 0, "", ""},
		{"0.0.0.1", 0, "", ""},
		{"255.255.255.255", 0, "", ""},
		{"2001:4860:4800::1", 15169, "Google LLC", ""},
		{"2001:4860:4805:1::", 43515, "Google Ireland Limited", ""},
		{"2001:4860:4806::", 0, "", ""},
		{"2001:4859::", 0, "", ""},
	}
	for _, tt := range tests {
		asn, org, cc := csvLookup(t, tab, tt.ip)
		if asn != tt.asn || org != tt.org || cc != tt.cc {
			t.Errorf("%s: got %d %q %q, want %d %q %q", tt.ip, asn, org, cc, tt.asn, tt.org, tt.cc)
		}
	}
}

func TestNormalizeOverlaps(t *testing.T) {
	const data = `10.0.0.0,10.255.255.255,1,outer
10.1.0.0,10.1.255.255,2,inner
10.1.2.0,10.1.2.255,3,innermost
10.200.0.0,11.0.0.255,4,straddles
11.0.0.0,11.0.0.0,5,single
12.0.0.0,12.0.0.255,6,dup-a
12.0.0.0,12.0.0.255,7,dup-b
12.0.0.0,12.0.1.255,8,same-start-wider
`
	tab, err := readASNCSV(strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if !disjoint(tab.v4) {
		t.Fatalf("ranges not disjoint: %+v", tab.v4)
	}
	for ip, want := range map[string]uint32{
		"10.0.0.1":     1,
		"10.1.0.1":     2,
		"10.1.2.7":     3,
		"10.1.3.0":     2,
		"10.2.0.0":     1,
		"10.199.255.0": 1,
		"10.200.0.1":   4,
		"10.255.255.0": 4,
		"11.0.0.0":     5,
		"11.0.0.1":     4,
		"11.0.0.255":   4,
		"11.0.1.0":     0,
		"12.0.0.9":     6,
		"12.0.1.9":     8,
	} {
		if asn, _, _ := csvLookup(t, tab, ip); asn != want {
			t.Errorf("%s: AS%d, want AS%d", ip, asn, want)
		}
	}
}

func TestU128(t *testing.T) {
	a := u128{0, ^uint64(0)}
	if got := a.inc(); got != (u128{1, 0}) {
		t.Errorf("inc = %v", got)
	}
	if got := (u128{1, 0}).dec(); got != a {
		t.Errorf("dec = %v", got)
	}
	if (u128{1, 0}).cmp(a) != 1 || a.cmp(u128{1, 0}) != -1 || a.cmp(a) != 0 {
		t.Error("cmp")
	}
}
