package huggingfaceauditreceiver // import "github.com/hfauditlog/huggingfaceauditreceiver"

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/ipenrich"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/metadata"
)

// Attribute names of the log records (README, "Log record mapping").
const (
	attrRecordUID         = "log.record.uid"
	attrUserID            = "user.id"
	attrUserName          = "user.name"
	attrAuthorType        = "huggingface.author.type"
	attrAuthorDeleted     = "huggingface.author.deleted"
	attrClientAddress     = "client.address"
	attrUserAgent         = "user_agent.original"
	attrLocationFormatted = "huggingface.location.formatted"
	attrLocationCountry   = "huggingface.location.country"
	attrLocationCity      = "huggingface.location.city"
	attrTokenType         = "huggingface.token.type"
	attrTokenID           = "huggingface.token.id"
	attrTokenRole         = "huggingface.token.role"
	attrTokenLast4        = "huggingface.token.last4"
	attrTokenDeleted      = "huggingface.token.deleted"
	attrOAuthClientID     = "huggingface.oauth.client_id"
	attrOAuthName         = "huggingface.oauth.name"
	attrData              = "huggingface.data"
	attrResources         = "huggingface.resources"
	attrReadOnly          = "huggingface.read_only"
	attrRaw               = "huggingface.raw"
	attrSelfExport        = "huggingface.self_export"
	attrDecodeErrors      = "huggingface.decode_errors"

	serviceName = "huggingface"

	selfExportType = "org.audit_log.export"
)

// auditEvent is one decoded event. Its strings point into the event's
// bytes (see decode.go); "" means absent.
type auditEvent struct {
	id, typ, message                          string
	createdAt                                 int64 // Unix ns
	authorID, authorUser, authorType          string
	authorDeleted                             optBool
	ip, userAgent                             string
	locFormatted, locCountry, locCity         string
	tokenType, tokenID, tokenRole, tokenLast4 string
	tokenDeleted                              optBool
	oauthClientID, oauthName                  string
	data                                      []byte // the JSON of data; nil when absent or null
	dataSizes                                 containerSizes
	// dropped lists the optional fields left out for an unexpected type.
	dropped []fieldError
}

// fieldError is an optional field the record leaves out, and why.
type fieldError struct {
	field string // its path, e.g. "location.city"
	msg   string
}

func (e fieldError) String() string { return e.field + ": " + e.msg }

// The times a record's timestamp can hold: OTLP counts nanoseconds after
// 1970-01-01T00:00:00Z in a uint64, 0 meaning unknown, and the cursor holds
// Unix ns in an int64.
var (
	minCreatedAt = time.Unix(0, 1)
	maxCreatedAt = time.Unix(0, math.MaxInt64)
)

// parseCreatedAt parses RFC 3339 (the Hub writes UTC with milliseconds) into
// Unix ns. A time a record's timestamp cannot hold (up to 1970-01-01, after
// 2262-04-11) is invalid, as an unparsable one is: a record stamped 0 or
// wrapped around would be filed under the wrong time. s is not kept.
func parseCreatedAt[T string | []byte](s T) (int64, error) {
	var str string
	if b, ok := any(s).([]byte); ok {
		str = unsafe.String(unsafe.SliceData(b), len(b)) // time's error, which keeps it, is dropped
	} else {
		str = string(s)
	}
	t, err := time.Parse(time.RFC3339Nano, str)
	if err != nil {
		return 0, fmt.Errorf(`"createdAt" %q is not an RFC 3339 time`, abbreviate(str, 64))
	}
	if t.Before(minCreatedAt) || t.After(maxCreatedAt) {
		return 0, fmt.Errorf(`"createdAt" %q is outside 1970-01-01T00:00:00Z (excluded) to 2262-04-11 that a log record's timestamp holds`, abbreviate(str, 64))
	}
	return t.UnixNano(), nil
}

// converter turns decoded events into log records.
type converter struct {
	organization string
	includeRaw   bool
	enricher     *ipenrich.Enricher
	self         selfIdentity
}

// maxSelfAddresses bounds the client addresses remembered for
// drop_self_exports. Past it, self exports from new addresses are kept.
const maxSelfAddresses = 1024

// selfIdentity recognises the receiver's own export calls, which the Hub
// writes to the audit log as org.audit_log.export events.
type selfIdentity struct {
	tokenLast4 string
	userAgent  string
	// author is the token's user, from whoami. While it is unknown, no
	// event is recognised as our own.
	author tokenOwner
	// addresses are the client addresses of the self exports delivered
	// so far, each with the createdAt of the last one kept. pending holds
	// those of the batch being built.
	addresses, pending map[string]int64
}

// selfKeepEvery is how often drop_self_exports keeps a self export of an
// address on record: huggingface-audit-log-exported learns the collector's
// addresses from its lookback_days, so one kept only once in the
// receiver's life drops out of it after a month's uptime, and the token
// used from a new address then goes unreported.
const selfKeepEvery = 24 * time.Hour

// matches: the export type, the token's last four characters, the author,
// and our User-Agent (when the Hub recorded one). The User-Agent and last4
// are public; the author is what tells our calls from another user's.
func (s *selfIdentity) matches(ev *auditEvent) bool {
	return ev.typ == selfExportType && s.isAuthor(ev) &&
		s.tokenLast4 != "" && ev.tokenLast4 == s.tokenLast4 &&
		(ev.userAgent == "" || sameProduct(ev.userAgent, s.userAgent))
}

// sameProduct compares User-Agents without their versions: after an
// upgrade, the last export of the previous version is read by the new one.
func sameProduct(a, b string) bool {
	pa, _, _ := strings.Cut(a, "/")
	pb, _, _ := strings.Cut(b, "/")
	return pa == pb
}

// isAuthor compares user IDs when both are known: a user may be renamed
// (the Hub then shows the new name on every event), and another user may
// take the old name. The name is the fallback.
func (s *selfIdentity) isAuthor(ev *auditEvent) bool {
	if s.author.ID != "" && ev.authorID != "" {
		return ev.authorID == s.author.ID
	}
	return s.author.Name != "" && ev.authorUser == s.author.Name
}

// droppable says whether drop_self_exports may drop a self export. The
// first one from each client address each day (selfKeepEvery) is kept, so
// the addresses our calls come from stay on record: a stolen token used
// elsewhere shows up there. One without a readable address is always kept.
func (s *selfIdentity) droppable(ev *auditEvent) bool {
	addr := ev.ip
	if addr == "" {
		// None, or not a string: it cannot be checked against the record.
		return false
	}
	kept, ok := s.pending[addr]
	if !ok {
		kept, ok = s.addresses[addr]
	}
	if ok && ev.createdAt-kept < int64(selfKeepEvery) {
		return true
	}
	if !ok && len(s.addresses)+len(s.pending) >= maxSelfAddresses {
		return false
	}
	if s.pending == nil {
		s.pending = map[string]int64{}
	}
	// ev.ip points into the batch's bytes: a copy, so the addresses kept
	// for the life of the receiver do not keep whole batches alive.
	s.pending[strings.Clone(addr)] = ev.createdAt
	return false
}

// settle remembers the addresses of a batch the pipeline settled.
func (s *selfIdentity) settle() {
	if len(s.pending) == 0 {
		return
	}
	if s.addresses == nil {
		s.addresses = map[string]int64{}
	}
	for addr, kept := range s.pending {
		s.addresses[addr] = kept
	}
	clear(s.pending)
}

// appendRecord fills lr from ev. raw is the original event JSON; the
// record's strings point into it, so it must not change afterwards.
func (c *converter) appendRecord(lr plog.LogRecord, ev *auditEvent, raw []byte, observed pcommon.Timestamp, self bool) {
	lr.SetTimestamp(pcommon.Timestamp(ev.createdAt))
	lr.SetObservedTimestamp(observed)
	lr.SetEventName(ev.typ)
	lr.SetSeverityNumber(plog.SeverityNumberInfo)
	lr.SetSeverityText("INFO")
	lr.Body().SetStr(ev.message)

	withRaw := c.includeRaw || len(ev.dropped) > 0
	attrs := lr.Attributes()
	attrs.EnsureCapacity(attributeCount(ev, self, withRaw))
	attrs.PutStr(attrRecordUID, ev.id)
	putStr(attrs, attrUserID, ev.authorID)
	putStr(attrs, attrUserName, ev.authorUser)
	putStr(attrs, attrAuthorType, ev.authorType)
	putBool(attrs, attrAuthorDeleted, ev.authorDeleted)
	putStr(attrs, attrClientAddress, ev.ip)
	putStr(attrs, attrUserAgent, ev.userAgent)
	putStr(attrs, attrLocationFormatted, ev.locFormatted)
	putStr(attrs, attrLocationCountry, ev.locCountry)
	putStr(attrs, attrLocationCity, ev.locCity)
	putStr(attrs, attrTokenType, ev.tokenType)
	putStr(attrs, attrTokenID, ev.tokenID)
	putStr(attrs, attrTokenRole, ev.tokenRole)
	putStr(attrs, attrTokenLast4, ev.tokenLast4)
	putBool(attrs, attrTokenDeleted, ev.tokenDeleted)
	putStr(attrs, attrOAuthClientID, ev.oauthClientID)
	putStr(attrs, attrOAuthName, ev.oauthName)
	var data pcommon.Map
	if ev.data != nil {
		v := attrs.PutEmpty(attrData)
		putJSON(v, ev.data, ev.dataSizes)
		if v.Type() == pcommon.ValueTypeMap {
			data = v.Map()
		}
	}
	res := attrs.PutEmptySlice(attrResources)
	appendResources(res, data, ev.typ, c.organization)
	attrs.PutBool(attrReadOnly, isReadOnly(ev.typ))
	if self {
		attrs.PutBool(attrSelfExport, true)
	}
	// An event with fields left out keeps its raw JSON even without
	// include_raw: it is then the only copy of those fields.
	if withRaw {
		attrs.PutStr(attrRaw, unsafe.String(unsafe.SliceData(raw), len(raw)))
	}
	if len(ev.dropped) > 0 {
		errs := attrs.PutEmptySlice(attrDecodeErrors)
		errs.EnsureCapacity(len(ev.dropped))
		for _, d := range ev.dropped {
			errs.AppendEmpty().SetStr(d.String())
		}
	}
	if ev.ip != "" {
		c.enricher.Enrich(ev.ip, attrs)
	}
}

// attributeCount is how many attributes appendRecord puts before the IP
// enrichment (which makes room for its own): the record's map is allocated
// once, at its size.
func attributeCount(ev *auditEvent, self, withRaw bool) int {
	n := 3 // log.record.uid, resources, read_only
	for _, s := range [...]string{
		ev.authorID, ev.authorUser, ev.authorType, ev.ip, ev.userAgent,
		ev.locFormatted, ev.locCountry, ev.locCity,
		ev.tokenType, ev.tokenID, ev.tokenRole, ev.tokenLast4, ev.oauthClientID, ev.oauthName,
	} {
		if s != "" {
			n++
		}
	}
	for _, present := range [...]bool{
		ev.authorDeleted != boolAbsent, ev.tokenDeleted != boolAbsent, ev.data != nil, self, withRaw, len(ev.dropped) > 0,
	} {
		if present {
			n++
		}
	}
	return n
}

func putStr(attrs pcommon.Map, key, v string) {
	if v != "" {
		attrs.PutStr(key, v)
	}
}

func putBool(attrs pcommon.Map, key string, v optBool) {
	if v != boolAbsent {
		attrs.PutBool(key, v == boolTrue)
	}
}

// appendResources derives huggingface.resources, the things the event acted
// on, as "kind:name" strings, from well-known keys of data:
//
//	repo {name, type} -> "<type>:<name>" (type model, dataset or space; "repo" if absent); repo "<name>" -> "repo:<name>"
//	from / to (repo.move)          -> "repo:<name>"
//	space "<name>"                 -> "space:<name>"
//	collection {slug|id|title} | "<slug>" -> "collection:<slug>"
//	resourceGroup {name|id} | "<name>"  -> "resource_group:<name>"
//	job / scheduledJob {id} | "<id>"    -> "job:<id>" / "scheduled_job:<id>"
//	user / username / member {user|name|username} | "<name>" -> "user:<name>"
//
// When none is found, org.* and billing.* events touch the organization
// itself: "org:<organization>". Duplicates are removed; order is data order.
// data is the record's huggingface.data when it is a map (else the zero Map).
func appendResources(dst pcommon.Slice, data pcommon.Map, typ, organization string) {
	if data != (pcommon.Map{}) {
		add := func(kind, name string) {
			if name == "" {
				return
			}
			r := kind + ":" + name
			for i := 0; i < dst.Len(); i++ {
				if dst.At(i).Str() == r {
					return
				}
			}
			dst.AppendEmpty().SetStr(r)
		}
		// One pass over data finds the well-known keys.
		var repo, from, to, space, collection, group, job, scheduled, user, username, member pcommon.Value
		data.Range(func(k string, v pcommon.Value) bool {
			switch k {
			case "repo":
				repo = v
			case "from":
				from = v
			case "to":
				to = v
			case "space":
				space = v
			case "collection":
				collection = v
			case "resourceGroup":
				group = v
			case "job":
				job = v
			case "scheduledJob":
				scheduled = v
			case "user":
				user = v
			case "username":
				username = v
			case "member":
				member = v
			}
			return true
		})
		if repo != (pcommon.Value{}) {
			switch repo.Type() {
			case pcommon.ValueTypeMap:
				kind := strField(repo.Map(), "type")
				if kind == "" {
					kind = "repo"
				}
				add(kind, strField(repo.Map(), "name"))
			case pcommon.ValueTypeStr:
				add("repo", repo.Str())
			}
		}
		add("repo", str(from))
		add("repo", str(to))
		add("space", str(space))
		add("collection", nameOf(collection, "slug", "id", "title"))
		add("resource_group", nameOf(group, "name", "id"))
		add("job", nameOf(job, "id"))
		add("scheduled_job", nameOf(scheduled, "id"))
		for _, v := range [...]pcommon.Value{user, username, member} {
			add("user", nameOf(v, "user", "name", "username"))
		}
	}
	if dst.Len() == 0 && (strings.HasPrefix(typ, "org.") || strings.HasPrefix(typ, "billing.")) {
		dst.AppendEmpty().SetStr("org:" + organization)
	}
}

// strField is m[key] when it is a string, else "".
func strField(m pcommon.Map, key string) string {
	if v, ok := m.Get(key); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}

// str is v when it is a string, else "" (also for the zero Value: absent).
func str(v pcommon.Value) string {
	if v != (pcommon.Value{}) && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}

// nameOf returns v when it is a string, else its first non-empty string
// field among keys.
func nameOf(v pcommon.Value, keys ...string) string {
	if v == (pcommon.Value{}) {
		return ""
	}
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str()
	case pcommon.ValueTypeMap:
		for _, k := range keys {
			if s := strField(v.Map(), k); s != "" {
				return s
			}
		}
	}
	return ""
}

// readOnlyActions are the last segments of event types that read without
// changing anything. Every other type, unknown ones included, counts as a
// change: a detection should rather see a false "write" than miss one.
var readOnlyActions = map[string]bool{
	"export": true, "sso_login": true, "login": true, "view": true,
	"read": true, "list": true, "get": true, "download": true, "usage": true,
}

// isReadOnly derives huggingface.read_only from the event type.
func isReadOnly(typ string) bool {
	return readOnlyActions[typ[strings.LastIndexByte(typ, '.')+1:]]
}

// batchStats is what building a batch left out, counted once the batch
// is settled (a batch offered again would count twice).
type batchStats struct {
	selfExports int            // dropped with drop_self_exports
	fields      map[string]int // fields left out, by path
}

// buildLogs converts one batch. An event without a usable _id, createdAt or
// type is skipped (logged and counted; the cursor moves past it with its
// batch, so it is reported once); self exports are left out when configured.
// An event that is not JSON fails the batch (see malformedEvent).
// raws[i] holds the bytes of batch[i]; the records point into them.
func (r *auditReceiver) buildLogs(ctx context.Context, batch []pendingEvent, raws [][]byte, observed pcommon.Timestamp) (plog.Logs, batchStats, error) {
	logs := plog.NewLogs()
	rl := logs.ResourceLogs().AppendEmpty()
	r.resource.CopyTo(rl.Resource())
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(metadata.ScopeName)
	sl.Scope().SetVersion(r.set.BuildInfo.Version)
	records := sl.LogRecords()
	records.EnsureCapacity(len(batch))
	// Addresses of a batch that was not settled are not remembered.
	clear(r.conv.self.pending)
	var stats batchStats
	for i := range batch {
		e := &batch[i]
		ev, err := eventDecoder{createdAt: e.createdAt}.decode(raws[i])
		if isSyntaxError(err) {
			return logs, stats, r.malformedEvent([]byte(e.id.String()), err)
		}
		if err != nil {
			id := e.id.String()
			r.reportInvalid(ctx, id, []byte(id), raws[i], err)
			e.unusable = true
			continue
		}
		self := r.conv.self.matches(&ev)
		if self && r.cfg.DropSelfExports && r.conv.self.droppable(&ev) {
			stats.selfExports++
			continue
		}
		for _, d := range ev.dropped {
			if stats.fields == nil {
				stats.fields = map[string]int{}
			}
			stats.fields[d.field]++
		}
		r.conv.appendRecord(records.AppendEmpty(), &ev, raws[i], observed, self)
	}
	return logs, stats, nil
}

func last4(token string) string {
	if len(token) < 4 {
		return ""
	}
	return token[len(token)-4:]
}
