// Package ipenrich adds geolocation, autonomous-system, ISP and connection
// attributes for an audit event's IP address, looked up in local databases
// (MaxMind DB files and ip-location-db ASN CSV files) that are loaded once by
// [Open]. Lookups never touch the disk or the network.
package ipenrich // import "github.com/hfauditlog/huggingfaceauditreceiver/internal/ipenrich"

import (
	"errors"
	"net/netip"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Attribute names written by [Enricher.Enrich]. The geo.* names follow the
// OpenTelemetry semantic conventions; the rest live under huggingface.ip.*.
// An attribute is only written when its value is known: never as an empty
// string, a zero AS number or 0/0 coordinates.
const (
	// AttrGeoLocalityName is the city name (English), string.
	AttrGeoLocalityName = "geo.locality.name"
	// AttrGeoCountryISOCode is the ISO 3166-1 alpha-2 country code, string.
	AttrGeoCountryISOCode = "geo.country.iso_code"
	// AttrGeoContinentCode is the two-letter continent code (AF, AN, AS, EU, NA, OC, SA), string.
	AttrGeoContinentCode = "geo.continent.code"
	// AttrGeoRegionISOCode is the ISO 3166-2 code of the largest subdivision ("US-CA"), string.
	AttrGeoRegionISOCode = "geo.region.iso_code"
	// AttrGeoPostalCode is the postal code, string.
	AttrGeoPostalCode = "geo.postal_code"
	// AttrGeoLocationLat is the latitude in degrees, double.
	AttrGeoLocationLat = "geo.location.lat"
	// AttrGeoLocationLon is the longitude in degrees, double.
	AttrGeoLocationLon = "geo.location.lon"

	// AttrASNumber is the autonomous system number, int.
	AttrASNumber = "huggingface.ip.as.number"
	// AttrASOrganization is the autonomous system organization, string.
	AttrASOrganization = "huggingface.ip.as.organization"
	// AttrASCountryCode is the country of the autonomous system, when the ASN
	// source carries one, string.
	AttrASCountryCode = "huggingface.ip.as.country_code"
	// AttrISP is the ISP name (GeoIP2 ISP / Enterprise), string.
	AttrISP = "huggingface.ip.isp"
	// AttrISPOrganization is the organization the network is assigned to
	// (GeoIP2 ISP / Enterprise "organization"), string.
	AttrISPOrganization = "huggingface.ip.isp.organization"
	// AttrConnectionType is the connection type ("Cable/DSL", "Cellular",
	// "Corporate", "Satellite"; GeoIP2 Connection-Type / Enterprise), string.
	AttrConnectionType = "huggingface.ip.connection_type"
	// AttrUserType is the user type ("business", "hosting", "residential", ...;
	// GeoIP2 Enterprise), string.
	AttrUserType = "huggingface.ip.user_type"
	// AttrEnrichmentProviders lists the databases that contributed at least
	// one attribute to this event, string slice. See [ProviderCSVASN].
	AttrEnrichmentProviders = "huggingface.ip.enrichment.providers"
)

// Provider names. An MMDB file is named by its metadata database_type,
// lower-cased with spaces and underscores turned into '-' (for example
// "geolite2-city", "geoip2-isp", "geolite2-asn"); a database in the reduced
// ip-location-db layout gets the [ProviderIPLocationDBPrefix] prefix (its
// database_type is e.g. "city ipv4", giving "ip-location-db-city-ipv4").
const (
	// ProviderCSVASN names an ASN CSV file in the ip-location-db format.
	ProviderCSVASN = "csv-asn"
	// ProviderIPLocationDBPrefix prefixes MMDB files in the ip-location-db layout.
	ProviderIPLocationDBPrefix = "ip-location-db-"
)

// Enabled reports whether at least one database is configured.
func (c Config) Enabled() bool {
	return c.CityDatabase != "" || c.ASNDatabase != "" || c.ISPDatabase != "" ||
		c.ConnectionTypeDatabase != "" || c.EnterpriseDatabase != ""
}

// source is one loaded database.
type source interface {
	// lookup fills the still-empty fields of res that this database knows
	// for a and reports whether it filled anything.
	lookup(a netip.Addr, res *result) bool
	provider() string
	close() error
}

// Enricher looks IP addresses up in the databases loaded by [Open]. It is
// safe for concurrent use. The zero value and a nil *Enricher do nothing.
type Enricher struct {
	// sources in precedence order: a field is taken from the first
	// source that has it (see Open).
	sources []source
}

// Open loads every configured database once. An unreadable or unrecognised
// file is an error naming the config key, the path and what is wrong.
// Open(Config{}) returns a usable Enricher that does nothing.
//
// When several databases know the same field, the first one in this order
// wins: asn_database, isp_database, connection_type_database,
// enterprise_database, city_database. Geolocation fields are taken as one
// block from the first database that has a record (Enterprise before City),
// and AS fields as one block (ASN before ISP before Enterprise).
func Open(cfg Config) (*Enricher, error) {
	e := &Enricher{}
	type entry struct {
		key, path string
		open      func(key, path string) (source, error)
	}
	entries := []entry{
		{"asn_database", cfg.ASNDatabase, openASN},
		{"isp_database", cfg.ISPDatabase, openISP},
		{"connection_type_database", cfg.ConnectionTypeDatabase, openConnectionType},
		{"enterprise_database", cfg.EnterpriseDatabase, openEnterprise},
		{"city_database", cfg.CityDatabase, openCity},
	}
	for _, en := range entries {
		if strings.TrimSpace(en.path) == "" {
			continue
		}
		s, err := en.open(en.key, en.path)
		if err != nil {
			_ = e.Close()
			return nil, err
		}
		e.sources = append(e.sources, s)
	}
	return e, nil
}

// Close releases the databases. The Enricher must not be used afterwards.
func (e *Enricher) Close() error {
	if e == nil {
		return nil
	}
	var errs []error
	for _, s := range e.sources {
		if err := s.close(); err != nil {
			errs = append(errs, err)
		}
	}
	e.sources = nil
	return errors.Join(errs...)
}

// geoInfo is a normalised geolocation record.
type geoInfo struct {
	city, country, continent, region, postal string
	lat, lon                                 float64
	hasLoc                                   bool
}

func (g *geoInfo) empty() bool {
	return g.city == "" && g.country == "" && g.continent == "" && g.region == "" &&
		g.postal == "" && !g.hasLoc
}

// result collects what the sources found for one address before it is
// written to the attribute map.
type result struct {
	geo                *geoInfo
	asn                uint32
	asOrg, asCountry   string
	isp, ispOrg        string
	connType, userType string
	providers          [8]string
	nProviders         int
}

// Enrich adds the attributes known for ip to attrs. It never does I/O and is
// safe for concurrent use. Unparsable, private, loopback, link-local,
// multicast, documentation and other reserved addresses add nothing.
// Existing attributes with the same names are overwritten.
func (e *Enricher) Enrich(ip string, attrs pcommon.Map) {
	if e == nil || len(e.sources) == 0 {
		return
	}
	a, ok := parsePublicAddr(ip)
	if !ok {
		return
	}
	// The result would escape through the interface calls; pool it so that
	// the lookup itself does not allocate.
	res := resultPool.Get().(*result)
	for _, s := range e.sources {
		if s.lookup(a, res) && res.nProviders < len(res.providers) {
			res.providers[res.nProviders] = s.provider()
			res.nProviders++
		}
	}
	if res.nProviders > 0 {
		res.write(attrs)
	}
	*res = result{}
	resultPool.Put(res)
}

var resultPool = sync.Pool{New: func() any { return new(result) }}

func (res *result) write(attrs pcommon.Map) {
	attrs.EnsureCapacity(attrs.Len() + res.count())
	if g := res.geo; g != nil {
		putStr(attrs, AttrGeoLocalityName, g.city)
		putStr(attrs, AttrGeoCountryISOCode, g.country)
		putStr(attrs, AttrGeoContinentCode, g.continent)
		putStr(attrs, AttrGeoRegionISOCode, g.region)
		putStr(attrs, AttrGeoPostalCode, g.postal)
		if g.hasLoc {
			attrs.PutDouble(AttrGeoLocationLat, g.lat)
			attrs.PutDouble(AttrGeoLocationLon, g.lon)
		}
	}
	if res.asn != 0 {
		attrs.PutInt(AttrASNumber, int64(res.asn))
	}
	putStr(attrs, AttrASOrganization, res.asOrg)
	putStr(attrs, AttrASCountryCode, res.asCountry)
	putStr(attrs, AttrISP, res.isp)
	putStr(attrs, AttrISPOrganization, res.ispOrg)
	putStr(attrs, AttrConnectionType, res.connType)
	putStr(attrs, AttrUserType, res.userType)
	s := attrs.PutEmptySlice(AttrEnrichmentProviders)
	s.EnsureCapacity(res.nProviders)
	for _, p := range res.providers[:res.nProviders] {
		s.AppendEmpty().SetStr(p)
	}
}

// count is the number of attributes write adds.
func (res *result) count() int {
	n := 1 // providers
	if g := res.geo; g != nil {
		n += nonEmpty(g.city, g.country, g.continent, g.region, g.postal)
		if g.hasLoc {
			n += 2
		}
	}
	if res.asn != 0 {
		n++
	}
	return n + nonEmpty(res.asOrg, res.asCountry, res.isp, res.ispOrg, res.connType, res.userType)
}

func nonEmpty(ss ...string) int {
	n := 0
	for _, s := range ss {
		if s != "" {
			n++
		}
	}
	return n
}

func putStr(attrs pcommon.Map, k, v string) {
	if v != "" {
		attrs.PutStr(k, v)
	}
}
