package ipenrich

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// writeMMDB builds a small MMDB file of the given type with mmdbwriter.
func writeMMDB(t *testing.T, dbType string, ipVersion int, records map[string]mmdbtype.Map) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, RecordSize: 24, IPVersion: ipVersion})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, rec := range records {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(n, rec); err != nil {
			t.Fatalf("insert %s: %v", cidr, err)
		}
	}
	p := filepath.Join(t.TempDir(), strings.ToLower(dbType)+".mmdb")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func names(en string) mmdbtype.Map {
	return mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(en), "de": mmdbtype.String(en + "-de")}}
}

// maxmindCity is a record in MaxMind's official GeoIP2 City/Enterprise layout.
func maxmindCity(city, continent, country, subdivision, postal string, lat, lon float64) mmdbtype.Map {
	m := mmdbtype.Map{
		"continent":          mmdbtype.Map{"code": mmdbtype.String(continent), "geoname_id": mmdbtype.Uint32(6255148)},
		"country":            mmdbtype.Map{"iso_code": mmdbtype.String(country), "geoname_id": mmdbtype.Uint32(2635167)},
		"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String(country)},
	}
	if city != "" {
		m["city"] = names(city)
	}
	if subdivision != "" {
		m["subdivisions"] = mmdbtype.Slice{
			mmdbtype.Map{"iso_code": mmdbtype.String(subdivision)},
			mmdbtype.Map{"iso_code": mmdbtype.String("XX")},
		}
	}
	if postal != "" {
		m["postal"] = mmdbtype.Map{"code": mmdbtype.String(postal)}
	}
	if lat != 0 || lon != 0 {
		m["location"] = mmdbtype.Map{
			"latitude": mmdbtype.Float64(lat), "longitude": mmdbtype.Float64(lon),
			"accuracy_radius": mmdbtype.Uint16(20), "time_zone": mmdbtype.String("Europe/London"),
		}
	}
	return m
}

func TestMaxMindLayouts(t *testing.T) {
	city := writeMMDB(t, "GeoLite2-City", 6, map[string]mmdbtype.Map{
		"81.2.69.0/24":   maxmindCity("Bracknell", "EU", "GB", "ENG", "RG12", 51.4036, -0.7618),
		"2.125.160.0/22": maxmindCity("", "EU", "GB", "", "", 0, 0), // country only, no coordinates
		"2a02:8070::/32": maxmindCity("Stuttgart", "EU", "DE", "BW", "70180", 48.767, 9.1827),
		"89.160.20.0/24": maxmindCity("Linköping", "EU", "SE", "E", "", 58.4167, 15.6167),
	})
	asn := writeMMDB(t, "GeoLite2-ASN", 6, map[string]mmdbtype.Map{
		"81.2.64.0/18": {"autonomous_system_number": mmdbtype.Uint32(20712), "autonomous_system_organization": mmdbtype.String("Andrews & Arnold Ltd")},
		"1.1.1.0/24":   {"autonomous_system_number": mmdbtype.Uint32(13335), "autonomous_system_organization": mmdbtype.String("CLOUDFLARENET"), "country_code": mmdbtype.String("US")},
	})
	isp := writeMMDB(t, "GeoIP2-ISP", 6, map[string]mmdbtype.Map{
		"81.2.69.0/24": {
			"autonomous_system_number": mmdbtype.Uint32(99999), "autonomous_system_organization": mmdbtype.String("must lose to the ASN database"),
			"isp": mmdbtype.String("Andrews & Arnold"), "organization": mmdbtype.String("A&A Customer"),
		},
		"8.8.8.0/24": {
			"autonomous_system_number": mmdbtype.Uint32(15169), "autonomous_system_organization": mmdbtype.String("GOOGLE"),
			"isp": mmdbtype.String("Google"), "organization": mmdbtype.String("Google LLC"),
		},
	})
	conn := writeMMDB(t, "GeoIP2-Connection-Type", 6, map[string]mmdbtype.Map{
		"81.2.69.0/24": {"connection_type": mmdbtype.String("Cable/DSL")},
		"8.8.8.0/24":   {"connection_type": mmdbtype.String("Corporate")},
	})
	ent := maxmindCity("Ascot", "EU", "GB", "ENG", "SL5", 51.41, -0.67)
	ent["traits"] = mmdbtype.Map{
		"autonomous_system_number": mmdbtype.Uint32(20712), "autonomous_system_organization": mmdbtype.String("Andrews & Arnold Ltd"),
		"isp": mmdbtype.String("must lose to the ISP database"), "organization": mmdbtype.String("ignored"),
		"connection_type": mmdbtype.String("Satellite"), "user_type": mmdbtype.String("residential"),
	}
	ent2 := maxmindCity("", "NA", "US", "", "", 37.751, -97.822)
	ent2["traits"] = mmdbtype.Map{
		"isp": mmdbtype.String("Google"), "connection_type": mmdbtype.String("Corporate"), "user_type": mmdbtype.String("hosting"),
	}
	enterprise := writeMMDB(t, "GeoIP2-Enterprise", 6, map[string]mmdbtype.Map{
		"81.2.69.0/24": ent,
		"8.8.4.0/24":   ent2,
	})

	// An IPv6 network that only the City database knows.
	stuttgart := map[string]any{
		AttrGeoLocalityName: "Stuttgart", AttrGeoCountryISOCode: "DE", AttrGeoContinentCode: "EU",
		AttrGeoRegionISOCode: "DE-BW", AttrGeoPostalCode: "70180",
		AttrGeoLocationLat: 48.767, AttrGeoLocationLon: 9.1827,
		AttrEnrichmentProviders: providers("geolite2-city"),
	}

	t.Run("city only", func(t *testing.T) {
		e := openT(t, Config{CityDatabase: city})
		checkAttrs(t, enrich(e, "81.2.69.0"), map[string]any{
			AttrGeoLocalityName: "Bracknell", AttrGeoCountryISOCode: "GB", AttrGeoContinentCode: "EU",
			AttrGeoRegionISOCode: "GB-ENG", AttrGeoPostalCode: "RG12",
			AttrGeoLocationLat: 51.4036, AttrGeoLocationLon: -0.7618,
			AttrEnrichmentProviders: providers("geolite2-city"),
		})
		// No coordinates in the record: no geo.location.* at all.
		checkAttrs(t, enrich(e, "2.125.160.216"), map[string]any{
			AttrGeoCountryISOCode: "GB", AttrGeoContinentCode: "EU",
			AttrEnrichmentProviders: providers("geolite2-city"),
		})
		checkAttrs(t, enrich(e, "2a02:8070:1::"), stuttgart)
		checkAttrs(t, enrich(e, "89.160.20.128"), map[string]any{
			AttrGeoLocalityName: "Linköping", AttrGeoCountryISOCode: "SE", AttrGeoContinentCode: "EU",
			AttrGeoRegionISOCode: "SE-E", AttrGeoLocationLat: 58.4167, AttrGeoLocationLon: 15.6167,
			AttrEnrichmentProviders: providers("geolite2-city"),
		})
		checkAttrs(t, enrich(e, "8.8.8.8"), map[string]any{}) // not in the database
	})

	t.Run("asn mmdb with country", func(t *testing.T) {
		e := openT(t, Config{ASNDatabase: asn})
		checkAttrs(t, enrich(e, "1.1.1.1"), map[string]any{
			AttrASNumber: int64(13335), AttrASOrganization: "CLOUDFLARENET", AttrASCountryCode: "US",
			AttrEnrichmentProviders: providers("geolite2-asn"),
		})
	})

	t.Run("all databases, precedence", func(t *testing.T) {
		e := openT(t, Config{
			CityDatabase: city, ASNDatabase: asn, ISPDatabase: isp,
			ConnectionTypeDatabase: conn, EnterpriseDatabase: enterprise,
		})
		// AS from the ASN db, ISP from the ISP db, connection type from the
		// Connection-Type db, geo and user type from Enterprise (before City).
		checkAttrs(t, enrich(e, "81.2.69.142"), map[string]any{
			AttrASNumber: int64(20712), AttrASOrganization: "Andrews & Arnold Ltd",
			AttrISP: "Andrews & Arnold", AttrISPOrganization: "A&A Customer",
			AttrConnectionType: "Cable/DSL", AttrUserType: "residential",
			AttrGeoLocalityName: "Ascot", AttrGeoCountryISOCode: "GB", AttrGeoContinentCode: "EU",
			AttrGeoRegionISOCode: "GB-ENG", AttrGeoPostalCode: "SL5",
			AttrGeoLocationLat: 51.41, AttrGeoLocationLon: -0.67,
			AttrEnrichmentProviders: providers("geolite2-asn", "geoip2-isp", "geoip2-connection-type", "geoip2-enterprise"),
		})
		// Not in the ASN db: AS comes from the ISP db.
		checkAttrs(t, enrich(e, "8.8.8.8"), map[string]any{
			AttrASNumber: int64(15169), AttrASOrganization: "GOOGLE",
			AttrISP: "Google", AttrISPOrganization: "Google LLC", AttrConnectionType: "Corporate",
			AttrEnrichmentProviders: providers("geoip2-isp", "geoip2-connection-type"),
		})
		// Only in Enterprise.
		checkAttrs(t, enrich(e, "8.8.4.4"), map[string]any{
			AttrISP: "Google", AttrConnectionType: "Corporate", AttrUserType: "hosting",
			AttrGeoCountryISOCode: "US", AttrGeoContinentCode: "NA",
			AttrGeoLocationLat: 37.751, AttrGeoLocationLon: -97.822,
			AttrEnrichmentProviders: providers("geoip2-enterprise"),
		})
		// Only in City.
		checkAttrs(t, enrich(e, "2a02:8070:1::"), stuttgart)
		for _, ip := range []string{"10.0.0.1", "::1", "nonsense", "9.9.9.9"} {
			checkAttrs(t, enrich(e, ip), map[string]any{})
		}
	})

	t.Run("ipv4-only database and ipv6 lookups", func(t *testing.T) {
		p := writeMMDB(t, "GeoIP2-Connection-Type", 4, map[string]mmdbtype.Map{
			"8.8.8.0/24": {"connection_type": mmdbtype.String("Corporate")},
		})
		e := openT(t, Config{ConnectionTypeDatabase: p})
		checkAttrs(t, enrich(e, "8.8.8.8"), map[string]any{
			AttrConnectionType: "Corporate", AttrEnrichmentProviders: providers("geoip2-connection-type"),
		})
		checkAttrs(t, enrich(e, "2a02:8070::1"), map[string]any{})
	})

	t.Run("wrong kind of database", func(t *testing.T) {
		other := writeMMDB(t, "Acme-Thing", 6, map[string]mmdbtype.Map{
			"8.8.8.0/24": {"foo": mmdbtype.String("bar")},
		})
		for _, cfg := range []Config{
			{CityDatabase: other}, {ASNDatabase: other}, {ISPDatabase: other},
			{ConnectionTypeDatabase: other}, {EnterpriseDatabase: other},
			{ConnectionTypeDatabase: asn}, {CityDatabase: conn},
		} {
			_, err := Open(cfg)
			if err == nil || !strings.Contains(err.Error(), "unrecognised database") {
				t.Errorf("Open(%+v) error = %v, want unrecognised database", cfg, err)
			}
		}
	})

	t.Run("flat ip-location-db layout", func(t *testing.T) {
		p := writeMMDB(t, "city ipv4", 4, map[string]mmdbtype.Map{
			"81.2.69.0/24": {
				"city": mmdbtype.String("Bracknell"), "country_code": mmdbtype.String("GB"),
				"state1": mmdbtype.String("England"), "state2": mmdbtype.String(""), "postcode": mmdbtype.String(""),
				"latitude": mmdbtype.Float32(51.4036), "longitude": mmdbtype.Float32(-0.7618),
				"timezone": mmdbtype.String("Europe/London"),
			},
		})
		e := openT(t, Config{CityDatabase: p})
		checkAttrs(t, enrich(e, "81.2.69.1"), map[string]any{
			AttrGeoLocalityName: "Bracknell", AttrGeoCountryISOCode: "GB",
			AttrGeoLocationLat: 51.4036, AttrGeoLocationLon: -0.7618,
			AttrEnrichmentProviders: providers("ip-location-db-city-ipv4"),
		})
	})
}
