package ipenrich // import "github.com/hfauditlog/huggingfaceauditreceiver/internal/ipenrich"

// Config names the local IP databases used to enrich an event's `ip`.
// Every path is optional; an empty Config enriches nothing.
type Config struct {
	// CityDatabase is a MaxMind GeoIP2/GeoLite2 City (or Country) MMDB file.
	CityDatabase string `mapstructure:"city_database"`
	// ASNDatabase is either a MaxMind GeoLite2/GeoIP2 ASN MMDB file (.mmdb) or
	// an ip-location-db style CSV file (ip_range_start,ip_range_end,as_number,as_organization).
	ASNDatabase string `mapstructure:"asn_database"`
	// ISPDatabase is a MaxMind GeoIP2 ISP MMDB file.
	ISPDatabase string `mapstructure:"isp_database"`
	// ConnectionTypeDatabase is a MaxMind GeoIP2 Connection-Type MMDB file.
	ConnectionTypeDatabase string `mapstructure:"connection_type_database"`
	// EnterpriseDatabase is a MaxMind GeoIP2 Enterprise MMDB file.
	EnterpriseDatabase string `mapstructure:"enterprise_database"`

	// prevent unkeyed literal initialization
	_ struct{}
}
