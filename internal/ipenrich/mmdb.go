package ipenrich

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// mmdbSource is one MaxMind DB file decoded into T.
type mmdbSource[T any] struct {
	name     string
	r        *maxminddb.Reader
	ipv4Only bool
	// decode turns a found record into T; ok=false when it carries nothing useful.
	decode func(lr maxminddb.Result) (val T, ok bool, err error)
	// apply copies what res still lacks from the record and reports whether it did.
	apply func(val *T, res *result) bool
	cache recordCache[T]
}

func (s *mmdbSource[T]) provider() string { return s.name }

func (s *mmdbSource[T]) close() error { return s.r.Close() }

func (s *mmdbSource[T]) lookup(a netip.Addr, res *result) bool {
	if s.ipv4Only && a.Is6() {
		return false
	}
	lr := s.r.Lookup(a)
	if !lr.Found() {
		return false
	}
	off := lr.Offset()
	en := s.cache.get(off)
	if en == nil {
		val, ok, err := s.decode(lr)
		en = &cacheEntry[T]{offset: off, val: val, ok: ok && err == nil}
		s.cache.put(en)
	}
	if !en.ok {
		return false
	}
	return s.apply(&en.val, res)
}

func newMMDBSource[T any](r *maxminddb.Reader, name string,
	decode func(maxminddb.Result) (T, bool, error), apply func(*T, *result) bool,
) *mmdbSource[T] {
	return &mmdbSource[T]{
		name:     name,
		r:        r,
		ipv4Only: r.Metadata.IPVersion == 4,
		decode:   decode,
		apply:    apply,
	}
}

// --- record layouts -------------------------------------------------------

type mmNames struct {
	En string `maxminddb:"en"`
}

// mmGeoRecord is the geolocation part of MaxMind's GeoIP2/GeoLite2 City,
// Country and Enterprise layout.
type mmGeoRecord struct {
	City struct {
		Names mmNames `maxminddb:"names"`
	} `maxminddb:"city"`
	Continent struct {
		Code string `maxminddb:"code"`
	} `maxminddb:"continent"`
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Subdivisions []struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"subdivisions"`
	Postal struct {
		Code string `maxminddb:"code"`
	} `maxminddb:"postal"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

func (m *mmGeoRecord) geo() geoInfo {
	g := geoInfo{
		city:      m.City.Names.En,
		country:   m.Country.ISOCode,
		continent: m.Continent.Code,
		postal:    m.Postal.Code,
	}
	if len(m.Subdivisions) > 0 && m.Subdivisions[0].ISOCode != "" && g.country != "" {
		g.region = g.country + "-" + m.Subdivisions[0].ISOCode
	}
	g.lat, g.lon, g.hasLoc = location(m.Location.Latitude, m.Location.Longitude)
	return g
}

// flatGeoRecord is the reduced layout of the ip-location-db City MMDB files:
// country_code, state1, state2, city, postcode, latitude, longitude, timezone.
// state1/state2 are subdivision names, not ISO 3166-2 codes, so they are not
// used for geo.region.iso_code.
type flatGeoRecord struct {
	City        string   `maxminddb:"city"`
	CountryCode string   `maxminddb:"country_code"`
	Postcode    string   `maxminddb:"postcode"`
	Latitude    *float64 `maxminddb:"latitude"`
	Longitude   *float64 `maxminddb:"longitude"`
}

func (f *flatGeoRecord) geo() geoInfo {
	g := geoInfo{city: f.City, country: f.CountryCode, postal: f.Postcode}
	g.lat, g.lon, g.hasLoc = location(f.Latitude, f.Longitude)
	return g
}

func location(lat, lon *float64) (float64, float64, bool) {
	if lat == nil || lon == nil || (*lat == 0 && *lon == 0) {
		return 0, 0, false
	}
	return shortest(*lat), shortest(*lon), true
}

// shortest undoes the float32 widening of coordinates stored as MMDB "float"
// (as the ip-location-db files do): 37.751f becomes 37.751, not
// 37.750999450683594. Values that are not exact float32 values are returned
// unchanged.
func shortest(x float64) float64 {
	if float64(float32(x)) != x {
		return x
	}
	y, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', -1, 32), 64)
	if err != nil {
		return x
	}
	return y
}

type asnRecord struct {
	ASN         uint32 `maxminddb:"autonomous_system_number"`
	Org         string `maxminddb:"autonomous_system_organization"`
	CountryCode string `maxminddb:"country_code"`
}

type ispRecord struct {
	ASN          uint32 `maxminddb:"autonomous_system_number"`
	ASOrg        string `maxminddb:"autonomous_system_organization"`
	ISP          string `maxminddb:"isp"`
	Organization string `maxminddb:"organization"`
}

type connRecord struct {
	ConnectionType string `maxminddb:"connection_type"`
}

type enterpriseRecord struct {
	mmGeoRecord
	Traits struct {
		ASN            uint32 `maxminddb:"autonomous_system_number"`
		ASOrg          string `maxminddb:"autonomous_system_organization"`
		ISP            string `maxminddb:"isp"`
		Organization   string `maxminddb:"organization"`
		ConnectionType string `maxminddb:"connection_type"`
		UserType       string `maxminddb:"user_type"`
	} `maxminddb:"traits"`
}

// enterpriseInfo is a normalised GeoIP2 Enterprise record.
type enterpriseInfo struct {
	geo                         geoInfo
	asn                         uint32
	asOrg, isp, org, conn, user string
}

// --- result filling -------------------------------------------------------

func (res *result) fillGeo(g *geoInfo) bool {
	if res.geo != nil || g.empty() {
		return false
	}
	res.geo = g
	return true
}

func (res *result) fillAS(asn uint32, org, country string) bool {
	if res.asn != 0 || res.asOrg != "" || (asn == 0 && org == "") {
		return false
	}
	res.asn, res.asOrg, res.asCountry = asn, org, country
	return true
}

func (res *result) fillISP(isp, org string) bool {
	if res.isp != "" || res.ispOrg != "" || (isp == "" && org == "") {
		return false
	}
	res.isp, res.ispOrg = isp, org
	return true
}

func fillStr(dst *string, v string) bool {
	if *dst != "" || v == "" {
		return false
	}
	*dst = v
	return true
}

// --- opening ----------------------------------------------------------------

func openMMDB(key, path string) (*maxminddb.Reader, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ipenrich: %s %q: cannot open as a MaxMind DB (.mmdb) file: %w", key, path, err)
	}
	return r, nil
}

// providerName turns an MMDB database_type into a provider name.
func providerName(dbType string) string {
	n := strings.ToLower(strings.TrimSpace(dbType))
	n = strings.NewReplacer(" ", "-", "_", "-").Replace(n)
	if n == "" {
		n = "mmdb"
	}
	return n
}

// probeSample is how many records the layout detection inspects.
const probeSample = 256

// probe decodes up to probeSample records of r as generic maps and returns
// the first non-zero verdict of check (0 means "cannot tell from this one").
func probe(r *maxminddb.Reader, check func(map[string]any) int) int {
	n := 0
	for lr := range r.Networks(maxminddb.SkipEmptyValues()) {
		if lr.Err() != nil {
			return 0
		}
		var m map[string]any
		if err := lr.Decode(&m); err == nil {
			if v := check(m); v != 0 {
				return v
			}
		}
		n++
		if n >= probeSample {
			break
		}
	}
	return 0
}

func isMap(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

func isString(v any) bool {
	_, ok := v.(string)
	return ok
}

func hasAny(m map[string]any, keys ...string) bool {
	for _, k := range keys {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

const (
	layoutUnknown = iota
	layoutMaxMind
	layoutFlat
)

func geoLayout(m map[string]any) int {
	for _, k := range []string{"country", "continent", "registered_country", "location", "city", "subdivisions"} {
		if isMap(m[k]) {
			return layoutMaxMind
		}
	}
	if isString(m["country_code"]) || isString(m["city"]) {
		return layoutFlat
	}
	return layoutUnknown
}

func unrecognised(key, path string, r *maxminddb.Reader, want string) error {
	return fmt.Errorf("ipenrich: %s %q: unrecognised database (database_type %q): no record has the fields of %s",
		key, path, r.Metadata.DatabaseType, want)
}

func openCity(key, path string) (source, error) {
	r, err := openMMDB(key, path)
	if err != nil {
		return nil, err
	}
	name := providerName(r.Metadata.DatabaseType)
	switch probe(r, geoLayout) {
	case layoutMaxMind:
		return newMMDBSource(r, name, decodeMMGeo, applyGeo), nil
	case layoutFlat:
		if !strings.HasPrefix(name, ProviderIPLocationDBPrefix) {
			name = ProviderIPLocationDBPrefix + name
		}
		return newMMDBSource(r, name, decodeFlatGeo, applyGeo), nil
	}
	_ = r.Close()
	return nil, unrecognised(key, path, r,
		"a GeoIP2/GeoLite2 City or Country database (country/city/location maps) or an ip-location-db City database (country_code, city, latitude, longitude)")
}

func applyGeo(g *geoInfo, res *result) bool { return res.fillGeo(g) }

func decodeMMGeo(lr maxminddb.Result) (geoInfo, bool, error) {
	var m mmGeoRecord
	if err := lr.Decode(&m); err != nil {
		return geoInfo{}, false, err
	}
	g := m.geo()
	return g, !g.empty(), nil
}

func decodeFlatGeo(lr maxminddb.Result) (geoInfo, bool, error) {
	var f flatGeoRecord
	if err := lr.Decode(&f); err != nil {
		return geoInfo{}, false, err
	}
	g := f.geo()
	return g, !g.empty(), nil
}

func openASNMMDB(key, path string) (source, error) {
	r, err := openMMDB(key, path)
	if err != nil {
		return nil, err
	}
	if probe(r, func(m map[string]any) int {
		if hasAny(m, "autonomous_system_number") {
			return 1
		}
		return 0
	}) == 0 {
		_ = r.Close()
		return nil, unrecognised(key, path, r, "a GeoLite2/GeoIP2 ASN database (autonomous_system_number)")
	}
	return newMMDBSource(r, providerName(r.Metadata.DatabaseType),
		func(lr maxminddb.Result) (asnRecord, bool, error) {
			var v asnRecord
			err := lr.Decode(&v)
			return v, v.ASN != 0 || v.Org != "", err
		},
		func(v *asnRecord, res *result) bool { return res.fillAS(v.ASN, v.Org, v.CountryCode) },
	), nil
}

func openISP(key, path string) (source, error) {
	r, err := openMMDB(key, path)
	if err != nil {
		return nil, err
	}
	if probe(r, func(m map[string]any) int {
		if hasAny(m, "isp", "organization") {
			return 1
		}
		return 0
	}) == 0 {
		_ = r.Close()
		return nil, unrecognised(key, path, r, "a GeoIP2 ISP database (isp, organization)")
	}
	return newMMDBSource(r, providerName(r.Metadata.DatabaseType),
		func(lr maxminddb.Result) (ispRecord, bool, error) {
			var v ispRecord
			err := lr.Decode(&v)
			return v, v.ASN != 0 || v.ASOrg != "" || v.ISP != "" || v.Organization != "", err
		},
		func(v *ispRecord, res *result) bool {
			a := res.fillAS(v.ASN, v.ASOrg, "")
			b := res.fillISP(v.ISP, v.Organization)
			return a || b
		},
	), nil
}

func openConnectionType(key, path string) (source, error) {
	r, err := openMMDB(key, path)
	if err != nil {
		return nil, err
	}
	if probe(r, func(m map[string]any) int {
		if isString(m["connection_type"]) {
			return 1
		}
		return 0
	}) == 0 {
		_ = r.Close()
		return nil, unrecognised(key, path, r, "a GeoIP2 Connection-Type database (connection_type)")
	}
	return newMMDBSource(r, providerName(r.Metadata.DatabaseType),
		func(lr maxminddb.Result) (connRecord, bool, error) {
			var v connRecord
			err := lr.Decode(&v)
			return v, v.ConnectionType != "", err
		},
		func(v *connRecord, res *result) bool { return fillStr(&res.connType, v.ConnectionType) },
	), nil
}

func openEnterprise(key, path string) (source, error) {
	r, err := openMMDB(key, path)
	if err != nil {
		return nil, err
	}
	if probe(r, func(m map[string]any) int {
		if geoLayout(m) == layoutMaxMind || isMap(m["traits"]) {
			return 1
		}
		return 0
	}) == 0 {
		_ = r.Close()
		return nil, unrecognised(key, path, r, "a GeoIP2 Enterprise database (country/city/location/traits maps)")
	}
	return newMMDBSource(r, providerName(r.Metadata.DatabaseType), decodeEnterprise,
		func(v *enterpriseInfo, res *result) bool {
			a := res.fillGeo(&v.geo)
			b := res.fillAS(v.asn, v.asOrg, "")
			c := res.fillISP(v.isp, v.org)
			d := fillStr(&res.connType, v.conn)
			e := fillStr(&res.userType, v.user)
			return a || b || c || d || e
		},
	), nil
}

func decodeEnterprise(lr maxminddb.Result) (enterpriseInfo, bool, error) {
	var m enterpriseRecord
	if err := lr.Decode(&m); err != nil {
		return enterpriseInfo{}, false, err
	}
	t := &m.Traits
	v := enterpriseInfo{
		geo:   m.geo(),
		asn:   t.ASN,
		asOrg: t.ASOrg,
		isp:   t.ISP,
		org:   t.Organization,
		conn:  t.ConnectionType,
		user:  t.UserType,
	}
	ok := !v.geo.empty() || v.asn != 0 || v.asOrg != "" || v.isp != "" || v.org != "" ||
		v.conn != "" || v.user != ""
	return v, ok, nil
}
