package clickhouse

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/hfauditlog/huggingfaceauditreceiver/clickhouse"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator/simtest"
)

// hfEvent is an event of the export, decoded independently of the receiver.
type hfEvent struct {
	ID        string  `json:"_id"`
	CreatedAt string  `json:"createdAt"`
	Type      string  `json:"type"`
	Message   string  `json:"message"`
	IP        *string `json:"ip"`
	UserAgent *string `json:"userAgent"`
	Location  *struct {
		Formatted string `json:"formatted"`
		Country   string `json:"country"`
		City      string `json:"city"`
	} `json:"location"`
	Author struct {
		ID      string `json:"_id"`
		User    string `json:"user"`
		Type    string `json:"type"`
		Deleted *bool  `json:"deleted"`
	} `json:"author"`
	Token *struct {
		Type    string `json:"type"`
		ID      string `json:"id"`
		Role    string `json:"role"`
		Last4   string `json:"last4"`
		Deleted *bool  `json:"deleted"`
	} `json:"token"`
	OAuth *struct {
		ClientID string `json:"clientId"`
		Name     string `json:"name"`
	} `json:"oauth"`
	raw string
}

type enrichment struct {
	Data     map[string]string `json:"data"`
	Name     string            `json:"name"`
	Provider string            `json:"provider"`
	Type     string            `json:"type"`
	Value    string            `json:"value"`
}

// hfRow is one row of huggingface_logs (plus two helper columns).
type hfRow struct {
	WorkspaceID       string            `json:"workspaceID"`
	SourceID          string            `json:"sourceID"`
	SourceType        string            `json:"sourceType"`
	SourceTTL         uint32            `json:"sourceTTL"`
	ID                string            `json:"id"`
	EventName         string            `json:"eventName"`
	EventID           string            `json:"eventID"`
	SrcIP             string            `json:"srcIP"`
	SrcASCountryCode  string            `json:"srcASCountryCode"`
	SrcASNumber       uint32            `json:"srcASNumber"`
	SrcASOrganization string            `json:"srcASOrganization"`
	SrcCity           string            `json:"srcCity"`
	SrcConnectionType string            `json:"srcConnectionType"`
	SrcISP            string            `json:"srcISP"`
	SrcLatitude       float64           `json:"srcLatitude"`
	SrcLongitude      float64           `json:"srcLongitude"`
	SrcUserType       string            `json:"srcUserType"`
	DstIP             string            `json:"dstIP"`
	DstASCountryCode  string            `json:"dstASCountryCode"`
	DstASNumber       uint32            `json:"dstASNumber"`
	DstASOrganization string            `json:"dstASOrganization"`
	DstCity           string            `json:"dstCity"`
	DstConnectionType string            `json:"dstConnectionType"`
	DstISP            string            `json:"dstISP"`
	DstLatitude       float64           `json:"dstLatitude"`
	DstLongitude      float64           `json:"dstLongitude"`
	DstUserType       string            `json:"dstUserType"`
	Actor             map[string]string `json:"actor"`
	Tags              map[string]string `json:"tags"`
	Resources         []string          `json:"resources"`
	ServiceName       string            `json:"serviceName"`
	Enrichments       []enrichment      `json:"enrichments"`
	ReadOnly          bool              `json:"readOnly"`
	RawLog            string            `json:"rawLog"`
	AuditID           string            `json:"auditID"`
	EventType         string            `json:"eventType"`
	Message           string            `json:"message"`
	AuthorID          string            `json:"authorID"`
	AuthorUser        string            `json:"authorUser"`
	AuthorType        string            `json:"authorType"`
	ActorIP           string            `json:"actorIP"`
	LocationFormatted string            `json:"locationFormatted"`
	LocationCountry   string            `json:"locationCountry"`
	LocationCity      string            `json:"locationCity"`
	TokenType         string            `json:"tokenType"`
	TokenID           string            `json:"tokenID"`
	TokenRole         string            `json:"tokenRole"`
	TokenLast4        string            `json:"tokenLast4"`
	TokenDeleted      bool              `json:"tokenDeleted"`
	EventTimeUnix     int64             `json:"_eventTime"`
	ReceivedAtUnix    int64             `json:"_receivedAt"`
}

// otelRow is what the exporter stored for one Hugging Face record.
type otelRow struct {
	UID          string            `json:"uid"`
	Attrs        map[string]string `json:"LogAttributes"`
	ScopeName    string            `json:"ScopeName"`
	ScopeVersion string            `json:"ScopeVersion"`
	Millis       int64             `json:"ms"`
	EventName    string            `json:"EventName"`
}

func decodeEvents(t testing.TB, raws []json.RawMessage) map[string]hfEvent {
	t.Helper()
	out := make(map[string]hfEvent, len(raws))
	for _, r := range raws {
		var e hfEvent
		if err := json.Unmarshal(r, &e); err != nil {
			t.Fatal(err)
		}
		e.raw = string(r)
		out[e.ID] = e
	}
	return out
}

// readOnlyActions restates the receiver's documented rule for
// huggingface.read_only (last segment of the type).
var readOnlyActions = map[string]bool{
	"export": true, "sso_login": true, "login": true, "view": true,
	"read": true, "list": true, "get": true, "download": true, "usage": true,
}

// ipFacts is what the databases say about one address, read here directly
// from the CSV and the MMDB, not through the receiver.
type ipFacts struct {
	asn      uint32
	asOrg    string
	city     string
	country  string
	lat, lon float64
	hasLoc   bool
}

func lookupFacts(t testing.TB, ips []string) map[string]ipFacts {
	t.Helper()
	out := map[string]ipFacts{}
	addrs := map[string]netip.Addr{}
	for _, ip := range ips {
		addrs[ip] = netip.MustParseAddr(ip)
		out[ip] = ipFacts{}
	}
	// ASN CSV: start,end,number,organization (organization may be quoted).
	f, err := os.Open(asnCSV)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		parts := strings.SplitN(line, ",", 4)
		if len(parts) < 4 {
			continue
		}
		lo, err1 := netip.ParseAddr(parts[0])
		hi, err2 := netip.ParseAddr(parts[1])
		if err1 != nil || err2 != nil {
			continue
		}
		for ip, a := range addrs {
			if a.Compare(lo) >= 0 && a.Compare(hi) <= 0 {
				n, _ := strconv.ParseUint(parts[2], 10, 32)
				org := parts[3]
				if uq, err := strconv.Unquote(org); err == nil && strings.HasPrefix(org, `"`) {
					org = uq
				} else {
					org = strings.Trim(org, `"`)
				}
				fa := out[ip]
				fa.asn, fa.asOrg = uint32(n), org
				out[ip] = fa
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	db, err := maxminddb.Open(cityMMDB)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for ip, a := range addrs {
		var rec map[string]any
		if err := db.Lookup(a).Decode(&rec); err != nil {
			t.Fatal(err)
		}
		fa := out[ip]
		fa.city, _ = rec["city"].(string)
		fa.country, _ = rec["country_code"].(string)
		lat, okLat := rec["latitude"].(float64)
		lon, okLon := rec["longitude"].(float64)
		if !okLat {
			if f32, ok := rec["latitude"].(float32); ok {
				lat, okLat = float64(f32), true
			}
		}
		if !okLon {
			if f32, ok := rec["longitude"].(float32); ok {
				lon, okLon = float64(f32), true
			}
		}
		fa.lat, fa.lon, fa.hasLoc = lat, lon, okLat && okLon && (lat != 0 || lon != 0)
		out[ip] = fa
	}
	return out
}

func nonEmpty(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

// expectedEnrichments restates the documented enrichments rule from the
// record's attributes.
func expectedEnrichments(a map[string]string) []enrichment {
	var providers []string
	_ = json.Unmarshal([]byte(a["huggingface.ip.enrichment.providers"]), &providers)
	first := func(re string) string {
		rx := regexp.MustCompile(re)
		for _, p := range providers {
			if rx.MatchString(p) {
				return p
			}
		}
		return ""
	}
	pick := func(keys ...string) map[string]string {
		m := map[string]string{}
		for _, k := range keys {
			if a[k] != "" {
				m[k] = a[k]
			}
		}
		return m
	}
	var out []enrichment
	for _, g := range []struct {
		typ, re string
		keys    []string
	}{
		{"geo", "enterprise|city|country", []string{"geo.locality.name", "geo.country.iso_code", "geo.continent.code", "geo.region.iso_code", "geo.postal_code", "geo.location.lat", "geo.location.lon"}},
		{"asn", "asn|isp|enterprise", []string{"huggingface.ip.as.number", "huggingface.ip.as.organization", "huggingface.ip.as.country_code"}},
		{"isp", "isp|enterprise", []string{"huggingface.ip.isp", "huggingface.ip.isp.organization"}},
		{"connection", "connection|enterprise", []string{"huggingface.ip.connection_type", "huggingface.ip.user_type"}},
	} {
		if d := pick(g.keys...); len(d) > 0 {
			out = append(out, enrichment{Data: d, Name: "srcIP", Provider: first(g.re), Type: g.typ, Value: a["client.address"]})
		}
	}
	return out
}

func parseFloat(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// verifyTable checks every row of huggingface_logs (FINAL) against the
// source events (decoded here, independently of the receiver) and the
// records the exporter stored, and the enrichment against the databases.
func verifyTable(t *testing.T, db string, events map[string]hfEvent, since time.Time) {
	t.Helper()
	rows := jsonRows[hfRow](t, fmt.Sprintf("SELECT *, toUnixTimestamp(eventTime) AS _eventTime, toUnixTimestamp(receivedAt) AS _receivedAt FROM `%s`.huggingface_logs FINAL", db))
	if len(rows) != len(events) {
		t.Fatalf("huggingface_logs has %d rows, want %d", len(rows), len(events))
	}
	stored := map[string]otelRow{}
	for _, o := range jsonRows[otelRow](t, fmt.Sprintf("SELECT LogAttributes['log.record.uid'] AS uid, LogAttributes, ScopeName, ScopeVersion, toUnixTimestamp64Milli(Timestamp) AS ms, EventName FROM `%s`.otel_logs WHERE ServiceName = 'huggingface' LIMIT 1 BY uid", db)) {
		stored[o.UID] = o
	}
	var ips []string
	for _, e := range events {
		if e.IP != nil {
			ips = append(ips, *e.IP)
		}
	}
	sort.Strings(ips)
	ips = compactStrings(ips)
	facts := lookupFacts(t, ips)

	now := time.Now()
	var withGeo, withASN, withToken, withLoc, withResources, readOnly int
	for _, r := range rows {
		e, ok := events[r.ID]
		if !ok {
			t.Fatalf("row %q is not a source event", r.ID)
		}
		o, ok := stored[r.ID]
		if !ok {
			t.Fatalf("row %q has no otel_logs record", r.ID)
		}
		a := o.Attrs
		errf := func(col string, got, want any) {
			t.Helper()
			t.Errorf("event %s (%s): %s = %#v, want %#v", e.ID, e.Type, col, got, want)
		}
		check := func(col string, got, want any) {
			t.Helper()
			if !reflect.DeepEqual(got, want) {
				errf(col, got, want)
			}
		}
		created, err := time.Parse(time.RFC3339Nano, e.CreatedAt)
		if err != nil {
			t.Fatal(err)
		}
		// Identity and time.
		check("workspaceID", r.WorkspaceID, simulator.DefaultOrg)
		check("sourceID", r.SourceID, "huggingface/"+simulator.DefaultOrg)
		check("sourceType", r.SourceType, "huggingface")
		check("sourceTTL", r.SourceTTL, uint32(0))
		if rt := time.Unix(r.ReceivedAtUnix, 0); rt.Before(since.Truncate(time.Second)) || rt.After(now.Add(time.Second)) {
			errf("receivedAt", rt, "between "+since.String()+" and now")
		}
		check("id", r.ID, e.ID)
		check("eventID", r.EventID, e.ID)
		check("auditID", r.AuditID, e.ID)
		check("eventTime (unix seconds)", r.EventTimeUnix, created.Unix())
		check("otel_logs.Timestamp (unix ms)", o.Millis, created.UnixMilli())
		check("eventName", r.EventName, e.Type)
		wantScope, _, _ := strings.Cut(e.Type, ".")
		check("eventType", r.EventType, wantScope)
		check("message", r.Message, e.Message)
		check("serviceName", r.ServiceName, "huggingface")
		check("rawLog", r.RawLog, e.raw)
		// Author and actor.
		check("authorID", r.AuthorID, e.Author.ID)
		check("authorUser", r.AuthorUser, e.Author.User)
		check("authorType", r.AuthorType, e.Author.Type)
		wantActor := nonEmpty(map[string]string{"id": e.Author.ID, "username": e.Author.User, "type": e.Author.Type})
		if e.Author.Deleted != nil {
			wantActor["deleted"] = strconv.FormatBool(*e.Author.Deleted)
		}
		check("actor", r.Actor, wantActor)
		// IP and location.
		ip := ""
		if e.IP != nil {
			ip = *e.IP
		}
		check("srcIP", r.SrcIP, ip)
		check("actorIP", r.ActorIP, ip)
		var lf, lc, lci string
		if e.Location != nil {
			lf, lc, lci = e.Location.Formatted, e.Location.Country, e.Location.City
			withLoc++
		}
		check("locationFormatted", r.LocationFormatted, lf)
		check("locationCountry", r.LocationCountry, lc)
		check("locationCity", r.LocationCity, lci)
		// Token.
		var tt, tid, tr, tl string
		var td bool
		if e.Token != nil {
			tt, tid, tr, tl = e.Token.Type, e.Token.ID, e.Token.Role, e.Token.Last4
			td = e.Token.Deleted != nil && *e.Token.Deleted
			withToken++
		}
		check("tokenType", r.TokenType, tt)
		check("tokenID", r.TokenID, tid)
		check("tokenRole", r.TokenRole, tr)
		check("tokenLast4", r.TokenLast4, tl)
		check("tokenDeleted", r.TokenDeleted, td)
		// Derived by the receiver: read_only and resources.
		action := e.Type[strings.LastIndexByte(e.Type, '.')+1:]
		check("readOnly", r.ReadOnly, readOnlyActions[action])
		check("readOnly vs attribute", strconv.FormatBool(r.ReadOnly), a["huggingface.read_only"])
		if r.ReadOnly {
			readOnly++
		}
		var wantRes []string
		if err := json.Unmarshal([]byte(a["huggingface.resources"]), &wantRes); err != nil {
			errf("huggingface.resources attribute", a["huggingface.resources"], "a JSON array")
		}
		if wantRes == nil {
			wantRes = []string{}
		}
		if r.Resources == nil {
			r.Resources = []string{}
		}
		check("resources", r.Resources, wantRes)
		if len(r.Resources) > 0 {
			withResources++
		}
		if (strings.HasPrefix(e.Type, "org.") || strings.HasPrefix(e.Type, "billing.")) && len(r.Resources) == 0 {
			errf("resources", r.Resources, "at least org:<organization> for an org.*/billing.* event")
		}
		// Tags.
		wantTags := map[string]string{
			"organization":  simulator.DefaultOrg,
			"read_only":     strconv.FormatBool(readOnlyActions[action]),
			"self_export":   strconv.FormatBool(a["huggingface.self_export"] == "true"),
			"scope.name":    o.ScopeName,
			"scope.version": o.ScopeVersion,
		}
		if e.UserAgent != nil {
			wantTags["user_agent"] = *e.UserAgent
		}
		if e.OAuth != nil {
			wantTags["oauth.client_id"] = e.OAuth.ClientID
			wantTags["oauth.name"] = e.OAuth.Name
		}
		check("tags", r.Tags, nonEmpty(wantTags))
		// Enrichment: the columns against the attributes...
		check("srcASNumber vs attribute", strconv.FormatUint(uint64(r.SrcASNumber), 10), orZero(a["huggingface.ip.as.number"]))
		check("srcASOrganization", r.SrcASOrganization, a["huggingface.ip.as.organization"])
		check("srcASCountryCode", r.SrcASCountryCode, a["huggingface.ip.as.country_code"])
		check("srcCity", r.SrcCity, a["geo.locality.name"])
		check("srcISP", r.SrcISP, a["huggingface.ip.isp"])
		check("srcConnectionType", r.SrcConnectionType, a["huggingface.ip.connection_type"])
		check("srcUserType", r.SrcUserType, a["huggingface.ip.user_type"])
		check("srcLatitude", r.SrcLatitude, parseFloat(a["geo.location.lat"]))
		check("srcLongitude", r.SrcLongitude, parseFloat(a["geo.location.lon"]))
		gotEnr := r.Enrichments
		if gotEnr == nil {
			gotEnr = []enrichment{}
		}
		wantEnr := expectedEnrichments(a)
		if wantEnr == nil {
			wantEnr = []enrichment{}
		}
		check("enrichments", gotEnr, wantEnr)
		// ...and the attributes against the databases, read independently.
		if ip != "" {
			f := facts[ip]
			check("srcASNumber (CSV)", r.SrcASNumber, f.asn)
			check("srcASOrganization (CSV)", r.SrcASOrganization, f.asOrg)
			check("srcCity (MMDB)", r.SrcCity, f.city)
			check("geo.country.iso_code (MMDB)", a["geo.country.iso_code"], f.country)
			if f.hasLoc && (math.Abs(r.SrcLatitude-f.lat) > 1e-4 || math.Abs(r.SrcLongitude-f.lon) > 1e-4) {
				errf("srcLatitude/srcLongitude (MMDB)", [2]float64{r.SrcLatitude, r.SrcLongitude}, [2]float64{f.lat, f.lon})
			}
			types := map[string]string{}
			for _, en := range r.Enrichments {
				types[en.Type] = en.Provider
				check("enrichments.value", en.Value, ip)
			}
			if f.asn != 0 {
				withASN++
				check("enrichments asn provider", types["asn"], "csv-asn")
			}
			if f.city != "" {
				withGeo++
				if !strings.Contains(types["geo"], "city") {
					errf("enrichments geo provider", types["geo"], "the city database")
				}
			}
		} else if len(r.Enrichments) != 0 || r.SrcASNumber != 0 || r.SrcCity != "" {
			errf("enrichment without ip", r.Enrichments, "none")
		}
		// No destination in these events.
		check("dst*", []any{r.DstIP, r.DstASCountryCode, r.DstASNumber, r.DstASOrganization, r.DstCity, r.DstConnectionType, r.DstISP, r.DstLatitude, r.DstLongitude, r.DstUserType},
			[]any{"", "", uint32(0), "", "", "", "", 0.0, 0.0, ""})
		if t.Failed() {
			t.FailNow()
		}
	}
	if withGeo == 0 || withASN == 0 || withToken == 0 || withLoc == 0 || withResources == 0 || readOnly == 0 {
		t.Fatalf("the sample does not exercise every column: geo %d, asn %d, token %d, location %d, resources %d, readOnly %d",
			withGeo, withASN, withToken, withLoc, withResources, readOnly)
	}
	for _, ip := range ips {
		f := facts[ip]
		t.Logf("%-15s AS%-6d %-28q city %-15q %s (%.4f, %.4f) [from the CSV and the MMDB]", ip, f.asn, f.asOrg, f.city, f.country, f.lat, f.lon)
	}
	t.Logf("checked %d rows x 51 columns (geo %d, asn %d, token %d, location %d, resources %d, readOnly %d)",
		len(rows), withGeo, withASN, withToken, withLoc, withResources, readOnly)
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

func compactStrings(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// tableState is a fingerprint of huggingface_logs: DDL, row count and a
// hash over every column of every row.
func tableState(t testing.TB, db string) string {
	t.Helper()
	return query(t, fmt.Sprintf("SELECT count(), uniqExact(id), sum(cityHash64(*)) FROM `%s`.huggingface_logs", db)) +
		query(t, fmt.Sprintf("SHOW CREATE TABLE `%s`.huggingface_logs", db)) +
		query(t, fmt.Sprintf("SHOW CREATE TABLE `%s`.huggingface_logs_mv", db))
}

// TestHuggingFaceLogs: simulator -> receiver -> clickhouseexporter ->
// otel_logs, then the schema (view + backfill), then every column.
func TestHuggingFaceLogs(t *testing.T) {
	const db = "otel"
	start := time.Now()
	sim, url := simtest.Start(t, simulator.Options{InitialEvents: 400, Seed: 7, UnknownTypeRatio: 0.05, Order: simulator.OrderRandom})

	exp := newExporter(t, db)
	before := sim.EventsJSON() // what the first export answers

	// 1. Records reach otel_logs before the schema exists.
	cons := &countingConsumer{next: exp}
	rcv := startReceiver(t, url, cons, 0)
	waitFor(t, time.Minute, "the first backfill", func() bool { return cons.records.Load() >= int64(len(before)) })
	if err := rcv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, "SELECT count() FROM otel.otel_logs WHERE ServiceName = 'huggingface'"); n != int64(len(before)) {
		t.Fatalf("otel_logs has %d huggingface rows, want %d", n, len(before))
	}

	// 2. Apply the schema: table, view, backfill of the existing rows.
	for _, r := range applySchema(t, db) {
		t.Logf("applied: %s %s", r.Statement, r.Summary)
	}
	t.Run("columns", func(t *testing.T) {
		type col struct{ Name, Type string }
		cols := jsonRows[col](t, "SELECT name AS Name, type AS Type FROM system.columns WHERE database = 'otel' AND table = 'huggingface_logs' ORDER BY position")
		if len(cols) != len(clickhouse.Columns) {
			t.Fatalf("%d columns, want %d", len(cols), len(clickhouse.Columns))
		}
		desc := query(t, "DESCRIBE TABLE otel.huggingface_logs SETTINGS print_pretty_type_names = 0")
		lines := strings.Split(strings.TrimSpace(desc), "\n")
		ws := regexp.MustCompile(`\s+`)
		for i, w := range clickhouse.Columns {
			f := strings.Split(lines[i], "\t")
			gotType := ws.ReplaceAllString(f[1], " ")
			gotType = strings.ReplaceAll(strings.ReplaceAll(gotType, "( ", "("), " )", ")")
			if f[0] != w[0] || gotType != w[1] {
				t.Errorf("column %d: %s %s, want %s %s", i+1, f[0], gotType, w[0], w[1])
			}
		}
	})
	events := decodeEvents(t, before)
	t.Run("backfill", func(t *testing.T) {
		if n := queryInt(t, "SELECT count() FROM otel.huggingface_logs"); n != int64(len(events)) {
			t.Fatalf("count() = %d without FINAL, want %d (the backfill must not duplicate)", n, len(events))
		}
		verifyTable(t, db, events, start)
	})

	// 3. Applying again changes nothing (the backfill finds nothing to add).
	t.Run("idempotent", func(t *testing.T) {
		s1 := tableState(t, db)
		applySchema(t, db)
		applySchema(t, db)
		if s2 := tableState(t, db); s1 != s2 {
			t.Fatalf("state changed after applying twice more:\n%s\n---\n%s", s1, s2)
		}
	})

	// 4. Other services (and Hugging Face-named records without an event id)
	// written through the same exporter never enter huggingface_logs.
	t.Run("other services", func(t *testing.T) {
		n0 := queryInt(t, "SELECT count() FROM otel.otel_logs")
		h0 := tableState(t, db)
		ld := plog.NewLogs()
		for _, svc := range []string{"other", "huggingface"} {
			rl := ld.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr("service.name", svc)
			rl.Resource().Attributes().PutStr("huggingface.organization", simulator.DefaultOrg)
			lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
			lr.SetEventName("repo.create")
			lr.Body().SetStr("not an audit event")
			if svc == "other" {
				lr.Attributes().PutStr("log.record.uid", "ffffffffffffffffffffffff")
			}
			lr.Attributes().PutStr("user.name", "mallory")
		}
		if err := exp.ConsumeLogs(context.Background(), ld); err != nil {
			t.Fatal(err)
		}
		if n := queryInt(t, "SELECT count() FROM otel.otel_logs"); n != n0+2 {
			t.Fatalf("otel_logs: %d rows, want %d", n, n0+2)
		}
		applySchema(t, db) // the backfill must not pick them up either
		if h := tableState(t, db); h != h0 {
			t.Fatalf("huggingface_logs changed:\n%s\n---\n%s", h0, h)
		}
		if n := queryInt(t, "SELECT count() FROM otel.huggingface_logs WHERE authorUser = 'mallory' OR id = 'ffffffffffffffffffffffff'"); n != 0 {
			t.Fatalf("%d foreign rows in huggingface_logs", n)
		}
	})

	// 5. Live path through the view, with at-least-once duplicates: a new
	// receiver (fresh in-memory cursor) emits the whole window again plus the
	// new events; ReplacingMergeTree collapses the copies on id.
	t.Run("view and duplicates", func(t *testing.T) {
		sim.Add(60)
		after := sim.EventsJSON() // + 60 new + the first call's org.audit_log.export
		start2 := time.Now()
		cons2 := &countingConsumer{next: exp}
		rcv2 := startReceiver(t, url, cons2, 0)
		waitFor(t, time.Minute, "the second export", func() bool { return cons2.records.Load() >= int64(len(after)) })
		if err := rcv2.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		all := decodeEvents(t, after)
		if len(all) != len(events)+61 {
			t.Fatalf("simulator window: %d events, want %d", len(all), len(events)+61)
		}
		raw := queryInt(t, "SELECT count() FROM otel.huggingface_logs")
		if raw < int64(len(all)) || raw > int64(len(events)+len(all)) {
			t.Fatalf("count() = %d before merges, want between %d and %d", raw, len(all), len(events)+len(all))
		}
		if n := queryInt(t, "SELECT count() FROM otel.huggingface_logs FINAL"); n != int64(len(all)) {
			t.Fatalf("count() FINAL = %d, want %d", n, len(all))
		}
		query(t, "OPTIMIZE TABLE otel.huggingface_logs FINAL")
		if n := queryInt(t, "SELECT count() FROM otel.huggingface_logs"); n != int64(len(all)) {
			t.Fatalf("count() after OPTIMIZE FINAL = %d, want %d", n, len(all))
		}
		t.Logf("%d rows before merges, %d after OPTIMIZE FINAL", raw, len(all))
		self := queryInt(t, "SELECT count() FROM otel.huggingface_logs WHERE tags['self_export'] = 'true'")
		t.Logf("%d row(s) tagged self_export", self)
		// Rows that came through the view have a receivedAt after start2,
		// the rest keep theirs; verify all of them.
		verifyTable(t, db, all, start)
		if n := queryInt(t, fmt.Sprintf("SELECT count() FROM otel.huggingface_logs WHERE receivedAt >= %d", start2.Unix())); n < 61 {
			t.Fatalf("only %d rows came through the view", n)
		}
		// The backfill run again adds nothing.
		s1 := tableState(t, db)
		applySchema(t, db)
		if s2 := tableState(t, db); s1 != s2 {
			t.Fatalf("backfill changed the table:\n%s\n---\n%s", s1, s2)
		}
	})
}

// TestInsertRate measures a 100,000-event backfill: simulator -> receiver
// (with IP enrichment) -> clickhouseexporter -> otel_logs -> view ->
// huggingface_logs. It logs the rate; there is no timed assertion.
func TestInsertRate(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 events; skipped with -short")
	}
	const db, n = "ratetest", 100_000
	_, url := simtest.Start(t, simulator.Options{InitialEvents: n, MaxEvents: n, Seed: 11, NoSelfExport: true})
	exp := newExporter(t, db)
	applySchema(t, db) // the view is live: the rate includes it

	for _, batch := range []int{1_000, 10_000} { // the receiver's default batch_size, then a larger one
		query(t, "TRUNCATE TABLE ratetest.otel_logs")
		query(t, "TRUNCATE TABLE ratetest.huggingface_logs")
		cons := &countingConsumer{next: exp}
		start := time.Now()
		rcv := startReceiver(t, url, cons, batch)
		waitFor(t, 3*time.Minute, "100,000 records", func() bool { return cons.records.Load() >= n })
		d := time.Since(start)
		if err := rcv.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if c := queryInt(t, "SELECT count() FROM ratetest.otel_logs"); c != n {
			t.Fatalf("otel_logs: %d rows, want %d", c, n)
		}
		if c := queryInt(t, "SELECT count() FROM ratetest.huggingface_logs"); c != n {
			t.Fatalf("huggingface_logs: %d rows, want %d", c, n)
		}
		t.Logf("backfilled %d events in %v: %.0f events/s end to end (export fetch + decode + enrichment + %d inserts of %d rows into otel_logs and, via the view, huggingface_logs)",
			n, d.Round(time.Millisecond), float64(n)/d.Seconds(), cons.batches.Load(), batch)
	}

	// The backfill statement on its own, over the same 100,000 rows.
	query(t, "TRUNCATE TABLE ratetest.huggingface_logs")
	start := time.Now()
	applySchema(t, db)
	d := time.Since(start)
	if c := queryInt(t, "SELECT count() FROM ratetest.huggingface_logs"); c != n {
		t.Fatalf("after backfill: %d rows, want %d", c, n)
	}
	t.Logf("schema backfill of %d rows from otel_logs in %v: %.0f rows/s", n, d.Round(time.Millisecond), float64(n)/d.Seconds())
}

// TestREADMEQueries runs the example detection queries of
// clickhouse/README.md against a table with data.
func TestREADMEQueries(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "clickhouse", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)## Example detection queries\n\n```sql\n(.*?)```").FindSubmatch(b)
	if block == nil {
		t.Fatal("no example queries in the README")
	}
	const db = "readme"
	_, url := simtest.Start(t, simulator.Options{InitialEvents: 300, Seed: 3, InitialSpan: 12 * time.Hour})
	exp := newExporter(t, db)
	applySchema(t, db)
	cons := &countingConsumer{next: exp}
	rcv := startReceiver(t, url, cons, 0)
	waitFor(t, time.Minute, "300 records", func() bool { return cons.records.Load() >= 300 })
	if err := rcv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, q := range regexp.MustCompile(`;\s*\n`).Split(string(block[1]), -1) {
		if strings.TrimSpace(q) == "" {
			continue
		}
		q = strings.ReplaceAll(q, "otel.huggingface_logs", db+".huggingface_logs")
		out := query(t, q)
		n++
		t.Logf("query %d: %d result rows", n, strings.Count(out, "\n"))
	}
	if n < 5 {
		t.Fatalf("only %d queries ran", n)
	}
}
