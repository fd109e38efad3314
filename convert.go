package huggingfaceauditreceiver // import "github.com/hfauditlog/huggingfaceauditreceiver"

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"time"

	"github.com/valyala/fastjson"
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

	resourceServiceName  = "service.name"
	resourceOrganization = "huggingface.organization"
	serviceName          = "huggingface"

	selfExportType = "org.audit_log.export"
)

// auditEvent is one decoded event. Its byte slices point into the parser's
// buffer and are valid until the parser's next use; nil means absent.
type auditEvent struct {
	id, typ, message                          []byte
	createdAt                                 int64 // Unix ns
	authorID, authorUser, authorType          []byte
	authorDeleted                             *fastjson.Value
	ip, userAgent                             []byte
	locFormatted, locCountry, locCity         []byte
	tokenType, tokenID, tokenRole, tokenLast4 []byte
	tokenDeleted                              *fastjson.Value
	oauthClientID, oauthName                  []byte
	data                                      *fastjson.Value
	// dropped lists the optional fields left out for an unexpected type.
	dropped []fieldError
}

// fieldError is an optional field the record leaves out, and why.
type fieldError struct {
	field string // its path, e.g. "location.city"
	msg   string
}

func (e fieldError) String() string { return e.field + ": " + e.msg }

// eventKey reads what the cursor needs: the ID and the creation time (Unix ns).
func eventKey(v *fastjson.Value) (id []byte, createdAt int64, err error) {
	if v.Type() != fastjson.TypeObject {
		return nil, 0, fmt.Errorf("the event is a JSON %s, not an object", v.Type())
	}
	if id, err = requiredString(v, "_id"); err != nil {
		return nil, 0, err
	}
	ts, err := requiredString(v, "createdAt")
	if err != nil {
		return id, 0, err
	}
	createdAt, err = parseCreatedAt(ts)
	return id, createdAt, err
}

// decodeEvent reads an event. Only _id, createdAt and type are needed: an
// event without them is an error. Any other field of an unexpected JSON
// type (the Hub changed its shape) is left out and listed in ev.dropped;
// data may have any shape.
func decodeEvent(v *fastjson.Value) (ev auditEvent, err error) {
	if ev.id, ev.createdAt, err = eventKey(v); err != nil {
		return ev, err
	}
	if ev.typ, err = requiredString(v, "type"); err != nil {
		return ev, err
	}
	d := decoder{}
	ev.message = d.str(v, "", "message")
	if author := d.object(v, "", "author"); author != nil {
		ev.authorID = d.str(author, "author.", "_id")
		ev.authorUser = d.str(author, "author.", "user")
		ev.authorType = d.str(author, "author.", "type")
		ev.authorDeleted = d.boolean(author, "author.", "deleted")
	}
	ev.ip = d.str(v, "", "ip")
	ev.userAgent = d.str(v, "", "userAgent")
	if loc := d.object(v, "", "location"); loc != nil {
		ev.locFormatted = d.str(loc, "location.", "formatted")
		ev.locCountry = d.str(loc, "location.", "country")
		ev.locCity = d.str(loc, "location.", "city")
	}
	if tok := d.object(v, "", "token"); tok != nil {
		ev.tokenType = d.str(tok, "token.", "type")
		ev.tokenID = d.str(tok, "token.", "id")
		ev.tokenRole = d.str(tok, "token.", "role")
		ev.tokenLast4 = d.str(tok, "token.", "last4")
		ev.tokenDeleted = d.boolean(tok, "token.", "deleted")
	}
	if oauth := d.object(v, "", "oauth"); oauth != nil {
		ev.oauthClientID = d.str(oauth, "oauth.", "clientId")
		ev.oauthName = d.str(oauth, "oauth.", "name")
	}
	if data := v.Get("data"); data != nil && data.Type() != fastjson.TypeNull {
		ev.data = data
	}
	ev.dropped = d.dropped
	return ev, nil
}

// decoder reads optional fields and lists those of an unexpected type.
type decoder struct{ dropped []fieldError }

func (d *decoder) get(v *fastjson.Value, prefix, key string, want fastjson.Type) *fastjson.Value {
	f := v.Get(key)
	if f == nil || f.Type() == fastjson.TypeNull {
		return nil
	}
	if t := f.Type(); t != want && !(want == fastjson.TypeTrue && t == fastjson.TypeFalse) {
		d.dropped = append(d.dropped, fieldError{prefix + key, fmt.Sprintf("a JSON %s, want %s", t, typeName(want))})
		return nil
	}
	return f
}

func (d *decoder) str(v *fastjson.Value, prefix, key string) []byte {
	if f := d.get(v, prefix, key, fastjson.TypeString); f != nil {
		b, _ := f.StringBytes()
		return b
	}
	return nil
}

func (d *decoder) object(v *fastjson.Value, prefix, key string) *fastjson.Value {
	return d.get(v, prefix, key, fastjson.TypeObject)
}

func (d *decoder) boolean(v *fastjson.Value, prefix, key string) *fastjson.Value {
	return d.get(v, prefix, key, fastjson.TypeTrue)
}

func typeName(t fastjson.Type) string {
	if t == fastjson.TypeTrue {
		return "boolean"
	}
	return t.String()
}

func requiredString(v *fastjson.Value, key string) ([]byte, error) {
	f := v.Get(key)
	if f == nil {
		return nil, fmt.Errorf("required %q is missing", key)
	}
	b, err := f.StringBytes()
	if err != nil {
		return nil, fmt.Errorf("%q is a JSON %s, want string", key, f.Type())
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("required %q is empty", key)
	}
	return b, nil
}

// The times a record's timestamp (Unix ns in an int64) can hold.
var (
	minCreatedAt = time.Unix(0, math.MinInt64)
	maxCreatedAt = time.Unix(0, math.MaxInt64)
)

// parseCreatedAt parses RFC 3339 (the Hub writes UTC with milliseconds) into
// Unix ns. A time outside 1677-09-21 to 2262-04-11 has no Unix ns value: it is
// invalid, as an unparsable one is.
func parseCreatedAt(b []byte) (int64, error) {
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return 0, fmt.Errorf(`"createdAt" %q is not an RFC 3339 time`, b)
	}
	if t.Before(minCreatedAt) || t.After(maxCreatedAt) {
		return 0, fmt.Errorf(`"createdAt" %q is outside the years 1678 to 2262 that a timestamp holds`, b)
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

// selfIdentity recognises the receiver's own export calls, which the Hub
// writes to the audit log as org.audit_log.export events.
type selfIdentity struct {
	tokenLast4 string
	userAgent  string
	// author is the token owner's user name when the Hub told us (whoami);
	// empty means unknown and is not checked.
	author string
}

// matches: the export type, the token's last four characters, the author
// (when known), and our User-Agent (when the Hub recorded one).
func (s selfIdentity) matches(ev *auditEvent) bool {
	return string(ev.typ) == selfExportType &&
		s.tokenLast4 != "" && string(ev.tokenLast4) == s.tokenLast4 &&
		(s.author == "" || string(ev.authorUser) == s.author) &&
		(len(ev.userAgent) == 0 || string(ev.userAgent) == s.userAgent)
}

// appendRecord fills lr from ev. raw is the original event JSON.
func (c *converter) appendRecord(lr plog.LogRecord, ev *auditEvent, raw []byte, observed pcommon.Timestamp, self bool) {
	lr.SetTimestamp(pcommon.Timestamp(ev.createdAt))
	lr.SetObservedTimestamp(observed)
	lr.SetEventName(string(ev.typ))
	lr.SetSeverityNumber(plog.SeverityNumberInfo)
	lr.SetSeverityText("INFO")
	lr.Body().SetStr(string(ev.message))

	attrs := lr.Attributes()
	attrs.EnsureCapacity(24)
	attrs.PutStr(attrRecordUID, string(ev.id))
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
	if ev.data != nil {
		putValue(attrs.PutEmpty(attrData), ev.data)
	}
	res := attrs.PutEmptySlice(attrResources)
	appendResources(res, ev, c.organization)
	attrs.PutBool(attrReadOnly, isReadOnly(ev.typ))
	if self {
		attrs.PutBool(attrSelfExport, true)
	}
	// An event with fields left out keeps its raw JSON even without
	// include_raw: it is then the only copy of those fields.
	if c.includeRaw || len(ev.dropped) > 0 {
		attrs.PutStr(attrRaw, string(raw))
	}
	if len(ev.dropped) > 0 {
		errs := attrs.PutEmptySlice(attrDecodeErrors)
		errs.EnsureCapacity(len(ev.dropped))
		for _, d := range ev.dropped {
			errs.AppendEmpty().SetStr(d.String())
		}
	}
	if len(ev.ip) > 0 {
		c.enricher.Enrich(string(ev.ip), attrs)
	}
}

func putStr(attrs pcommon.Map, key string, v []byte) {
	if len(v) > 0 {
		attrs.PutStr(key, string(v))
	}
}

func putBool(attrs pcommon.Map, key string, v *fastjson.Value) {
	if v != nil {
		attrs.PutBool(key, v.Type() == fastjson.TypeTrue)
	}
}

// putValue copies a JSON value into an attribute value, keeping its
// structure: objects become maps, arrays slices, integers int, other numbers
// double. JSON null inside data becomes an empty value.
func putValue(dst pcommon.Value, v *fastjson.Value) {
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		dst.SetStr(string(b))
	case fastjson.TypeNumber:
		if i, err := v.Int64(); err == nil {
			dst.SetInt(i)
		} else {
			f, _ := v.Float64()
			dst.SetDouble(f)
		}
	case fastjson.TypeTrue:
		dst.SetBool(true)
	case fastjson.TypeFalse:
		dst.SetBool(false)
	case fastjson.TypeObject:
		o, _ := v.Object()
		m := dst.SetEmptyMap()
		m.EnsureCapacity(o.Len())
		o.Visit(func(k []byte, fv *fastjson.Value) {
			putValue(m.PutEmpty(string(k)), fv)
		})
	case fastjson.TypeArray:
		a, _ := v.Array()
		s := dst.SetEmptySlice()
		s.EnsureCapacity(len(a))
		for _, el := range a {
			putValue(s.AppendEmpty(), el)
		}
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
func appendResources(dst pcommon.Slice, ev *auditEvent, organization string) {
	if ev.data != nil && ev.data.Type() == fastjson.TypeObject {
		add := func(kind string, name []byte) {
			if len(name) == 0 {
				return
			}
			r := kind + ":" + string(name)
			for i := 0; i < dst.Len(); i++ {
				if dst.At(i).Str() == r {
					return
				}
			}
			dst.AppendEmpty().SetStr(r)
		}
		d := ev.data
		if repo := d.Get("repo"); repo != nil {
			switch repo.Type() {
			case fastjson.TypeObject:
				kind := string(repo.GetStringBytes("type"))
				if kind == "" {
					kind = "repo"
				}
				add(kind, repo.GetStringBytes("name"))
			case fastjson.TypeString:
				add("repo", repo.GetStringBytes())
			}
		}
		add("repo", d.GetStringBytes("from"))
		add("repo", d.GetStringBytes("to"))
		add("space", d.GetStringBytes("space"))
		add("collection", nameOf(d.Get("collection"), "slug", "id", "title"))
		add("resource_group", nameOf(d.Get("resourceGroup"), "name", "id"))
		add("job", nameOf(d.Get("job"), "id"))
		add("scheduled_job", nameOf(d.Get("scheduledJob"), "id"))
		for _, key := range [...]string{"user", "username", "member"} {
			add("user", nameOf(d.Get(key), "user", "name", "username"))
		}
	}
	if dst.Len() == 0 && (bytes.HasPrefix(ev.typ, []byte("org.")) || bytes.HasPrefix(ev.typ, []byte("billing."))) {
		dst.AppendEmpty().SetStr("org:" + organization)
	}
}

// nameOf returns v itself when it is a string, else its first non-empty
// string field among keys.
func nameOf(v *fastjson.Value, keys ...string) []byte {
	if v == nil {
		return nil
	}
	switch v.Type() {
	case fastjson.TypeString:
		return v.GetStringBytes()
	case fastjson.TypeObject:
		for _, k := range keys {
			if b := v.GetStringBytes(k); len(b) > 0 {
				return b
			}
		}
	}
	return nil
}

// readOnlyActions are the last segments of event types that read without
// changing anything. Every other type, unknown ones included, counts as a
// change: a detection should rather see a false "write" than miss one.
var readOnlyActions = map[string]bool{
	"export": true, "sso_login": true, "login": true, "view": true,
	"read": true, "list": true, "get": true, "download": true, "usage": true,
}

// isReadOnly derives huggingface.read_only from the event type.
func isReadOnly(typ []byte) bool {
	action := typ
	if i := bytes.LastIndexByte(typ, '.'); i >= 0 {
		action = typ[i+1:]
	}
	return readOnlyActions[string(action)]
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
func (r *auditReceiver) buildLogs(ctx context.Context, batch []pendingEvent, observed pcommon.Timestamp) (plog.Logs, batchStats) {
	logs := plog.NewLogs()
	rl := logs.ResourceLogs().AppendEmpty()
	res := rl.Resource().Attributes()
	res.PutStr(resourceServiceName, serviceName)
	res.PutStr(resourceOrganization, r.cfg.Organization)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(metadata.ScopeName)
	sl.Scope().SetVersion(r.set.BuildInfo.Version)
	records := sl.LogRecords()
	records.EnsureCapacity(len(batch))
	var stats batchStats
	for i := range batch {
		e := &batch[i]
		v, err := r.parser.ParseBytes(e.raw)
		var ev auditEvent
		if err == nil {
			ev, err = decodeEvent(v)
		}
		if err != nil {
			r.reportInvalid(ctx, e.id, []byte(e.id), err)
			continue
		}
		self := r.conv.self.matches(&ev)
		if self && r.cfg.DropSelfExports {
			stats.selfExports++
			continue
		}
		for _, d := range ev.dropped {
			if stats.fields == nil {
				stats.fields = map[string]int{}
			}
			stats.fields[d.field]++
		}
		r.conv.appendRecord(records.AppendEmpty(), &ev, e.raw, observed, self)
	}
	return logs, stats
}

func last4(token string) string {
	if len(token) < 4 {
		return ""
	}
	return token[len(token)-4:]
}
