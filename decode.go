package huggingfaceauditreceiver // import "github.com/hfauditlog/huggingfaceauditreceiver"

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// The event decoder reads one event of the export in one pass, validating
// its JSON, straight into an auditEvent. Its strings point into the event's
// bytes, not into copies: the bytes must not change while the record built
// from them lives (the spool hands out such bytes, see spool.load). Only a
// string with escape sequences is copied, unescaped. data is kept as its
// byte range and decoded into the record's attribute by putJSON.

// JSON may nest without limit, and so may an event: nothing about its depth
// makes it unusable. skip recurses maxRecursion levels deep and reads what
// lies deeper with skipDeep, which keeps a stack instead, so no event can
// exhaust the goroutine's stack. maxDataDepth bounds the data a record
// holds: deeper data stays in huggingface.raw only (a decode error), so
// that no exporter or store downstream meets nesting it refuses
// (encoding/json and protobuf read 10,000 levels, ClickHouse's JSON 1,000;
// an OTLP attribute takes three protobuf messages a level).
const (
	maxRecursion = 1_000
	maxDataDepth = 300
)

// optBool is an optional boolean field: absent, false or true.
type optBool uint8

const (
	boolAbsent optBool = iota
	boolFalse
	boolTrue
)

// JSON value kinds, named as the errors name them.
const (
	kindString = "string"
	kindNumber = "number"
	kindObject = "object"
	kindArray  = "array"
	kindTrue   = "true"
	kindFalse  = "false"
	kindNull   = "null"
)

// jsonError is JSON that is not valid.
type jsonError struct {
	offset int
	msg    string
}

func (e *jsonError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d of the event: %s", e.offset, e.msg)
}

// eventReader reads one event's bytes.
type eventReader struct {
	b     []byte
	pos   int
	depth int
	// deepest is the greatest depth reached so far.
	deepest int
	err     error
	// sizes: the member counts of the first objects and arrays, in the
	// order they open; containers: how many have opened. decode counts
	// them in data, so that putJSON allocates its maps and slices once, at
	// their size, instead of growing them one member at a time. Held by
	// value: a pointer to the event here would move every event to the
	// heap.
	sizes      containerSizes
	containers int
}

// containerSizes holds the member counts of data's first objects and
// arrays; those after them, and any counted as 0, grow as they fill.
type containerSizes [16]int32

// opened numbers the container opening at pos; the first len(sizes) have
// a slot in sizes.
func (r *eventReader) opened() int {
	r.containers++
	return r.containers - 1
}

func (r *eventReader) fail(msg string) {
	if r.err == nil {
		r.err = &jsonError{offset: r.pos, msg: msg}
	}
	r.pos = len(r.b)
}

// isSyntaxError: the event's bytes are not JSON, which only a broken
// response explains (an event the Hub wrote is JSON). Valid JSON that is
// no usable event is another error.
func isSyntaxError(err error) bool {
	var jsonErr *jsonError
	return errors.As(err, &jsonErr)
}

func (r *eventReader) skipSpace() {
	for r.pos < len(r.b) {
		switch r.b[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

// kind names the value at pos, without reading it.
func (r *eventReader) kind() string {
	if r.pos >= len(r.b) {
		return ""
	}
	switch c := r.b[r.pos]; {
	case c == '"':
		return kindString
	case c == '{':
		return kindObject
	case c == '[':
		return kindArray
	case c == 't':
		return kindTrue
	case c == 'f':
		return kindFalse
	case c == 'n':
		return kindNull
	case c == '-' || (c >= '0' && c <= '9'):
		return kindNumber
	}
	return ""
}

// str reads a string at pos. Without escapes it points into b.
func (r *eventReader) str() string {
	r.pos++ // the opening quote
	start := r.pos
	end := start + plainPrefix(r.b[start:])
	switch {
	case end == len(r.b):
		r.fail("unterminated string")
		return ""
	case r.b[end] == '\\':
		r.pos = end // the plain part is copied as it is
		return r.escapedStr(start)
	case r.b[end] != '"':
		r.pos = end
		r.fail("control character in a string")
		return ""
	}
	r.pos = end + 1
	if end == start {
		return ""
	}
	return unsafe.String(&r.b[start], end-start)
}

// plainPrefix is the length of s up to its first quote, backslash or
// control character (a byte below 0x20, which a JSON string may not hold):
// the bytes a string can hold as they are. It tests eight bytes at a time,
// one pass instead of a search for each.
func plainPrefix(s []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64(s[i:])
		// A zero byte, and a byte below 0x20, borrows into its high bit;
		// a byte with the high bit already set does not count (&^). A
		// borrow can only mark bytes above the first match, so the lowest
		// mark is exact.
		quote, backslash := x^(ones*'"'), x^(ones*'\\')
		m := ((quote-ones)&^quote | (backslash-ones)&^backslash | (x-ones*0x20)&^x) & highs
		if m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return i
}

// escapedStr reads the rest of a string from the first escape on, into a
// new buffer.
func (r *eventReader) escapedStr(start int) string {
	out := make([]byte, 0, r.pos-start+16)
	out = append(out, r.b[start:r.pos]...)
	for r.pos < len(r.b) {
		c := r.b[r.pos]
		switch {
		case c == '"':
			r.pos++
			return string(out)
		case c < 0x20:
			r.fail("control character in a string")
			return ""
		case c != '\\':
			out = append(out, c)
			r.pos++
			continue
		}
		if r.pos+1 >= len(r.b) {
			break
		}
		e := r.b[r.pos+1]
		r.pos += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			c1, ok := r.hex4()
			if !ok {
				return ""
			}
			ch := rune(c1)
			if utf16.IsSurrogate(ch) {
				// A pair gives one character; a lone half, U+FFFD.
				ch = utf8.RuneError
				if r.pos+1 < len(r.b) && r.b[r.pos] == '\\' && r.b[r.pos+1] == 'u' {
					save := r.pos
					r.pos += 2
					c2, ok := r.hex4()
					if !ok {
						return ""
					}
					if pair := utf16.DecodeRune(rune(c1), rune(c2)); pair != utf8.RuneError {
						ch = pair
					} else {
						r.pos = save // the second escape stands alone
					}
				}
			}
			out = utf8.AppendRune(out, ch)
		default:
			r.fail("invalid escape in a string")
			return ""
		}
	}
	r.fail("unterminated string")
	return ""
}

func (r *eventReader) hex4() (uint16, bool) {
	if r.pos+4 > len(r.b) {
		r.fail("short \\u escape")
		return 0, false
	}
	var v uint16
	for _, c := range r.b[r.pos : r.pos+4] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			r.fail("invalid \\u escape")
			return 0, false
		}
		v = v<<4 | uint16(d)
	}
	r.pos += 4
	return v, true
}

// number reads a number at pos and returns its text.
func (r *eventReader) number() []byte {
	start := r.pos
	if r.pos < len(r.b) && r.b[r.pos] == '-' {
		r.pos++
	}
	switch {
	case r.pos < len(r.b) && r.b[r.pos] == '0':
		r.pos++
	case r.pos < len(r.b) && r.b[r.pos] >= '1' && r.b[r.pos] <= '9':
		r.digits()
	default:
		r.fail("invalid number")
		return nil
	}
	if r.pos < len(r.b) && r.b[r.pos] == '.' {
		r.pos++
		if r.digits() == 0 {
			r.fail("invalid number")
			return nil
		}
	}
	if r.pos < len(r.b) && (r.b[r.pos] == 'e' || r.b[r.pos] == 'E') {
		r.pos++
		if r.pos < len(r.b) && (r.b[r.pos] == '+' || r.b[r.pos] == '-') {
			r.pos++
		}
		if r.digits() == 0 {
			r.fail("invalid number")
			return nil
		}
	}
	return r.b[start:r.pos]
}

func (r *eventReader) digits() int {
	start := r.pos
	for r.pos < len(r.b) && r.b[r.pos] >= '0' && r.b[r.pos] <= '9' {
		r.pos++
	}
	return r.pos - start
}

// literal reads true, false or null.
func (r *eventReader) literal(word string) {
	if len(r.b)-r.pos < len(word) || string(r.b[r.pos:r.pos+len(word)]) != word {
		r.fail("invalid literal")
		return
	}
	r.pos += len(word)
}

// open enters the object or array at pos; read its members with nextKey,
// its elements with nextElement.
func (r *eventReader) open() {
	r.depth++
	r.deepest = max(r.deepest, r.depth)
	r.pos++
}

// nextKey reads the next key of an open object and the colon after it,
// leaving pos at its value, which the caller must read; false at the
// object's end (or on an error). first is true until the first call.
func (r *eventReader) nextKey(first *bool) (string, bool) {
	if !r.nextItem(first, '}') {
		return "", false
	}
	if r.pos >= len(r.b) || r.b[r.pos] != '"' {
		r.fail("expected a key")
		return "", false
	}
	key := r.str()
	r.skipSpace()
	if r.pos >= len(r.b) || r.b[r.pos] != ':' {
		r.fail("expected ':'")
		return "", false
	}
	r.pos++
	r.skipSpace()
	return key, r.err == nil
}

// nextElement leaves pos at the next element of an open array; false at its end.
func (r *eventReader) nextElement(first *bool) bool {
	return r.nextItem(first, ']')
}

// nextItem reads the separator before the next item, or the closing byte.
func (r *eventReader) nextItem(first *bool, closing byte) bool {
	if r.err != nil {
		return false
	}
	r.skipSpace()
	if r.pos >= len(r.b) {
		r.fail("unexpected end")
		return false
	}
	if c := r.b[r.pos]; c == closing {
		r.pos++
		r.depth--
		return false
	} else if !*first {
		if c != ',' {
			r.fail("expected ',' or '" + string(closing) + "'")
			return false
		}
		r.pos++
		r.skipSpace()
	}
	*first = false
	return true
}

// skip reads a value of any kind and keeps nothing.
func (r *eventReader) skip() {
	k := r.kind()
	if k != kindObject && k != kindArray {
		r.skipScalar(k)
		return
	}
	if r.depth >= maxRecursion {
		r.skipDeep()
		return
	}
	c := r.opened()
	r.open()
	n := int32(0)
	if k == kindObject {
		for first := true; ; n++ {
			if _, ok := r.nextKey(&first); !ok {
				break
			}
			r.skip()
		}
	} else {
		for first := true; r.nextElement(&first); n++ {
			r.skip()
		}
	}
	if c < len(r.sizes) {
		r.sizes[c] = n
	}
}

// skipScalar reads a value of kind k that is not a container.
func (r *eventReader) skipScalar(k string) {
	switch k {
	case kindString:
		r.skipString()
	case kindNumber:
		r.number()
	case kindTrue:
		r.literal("true")
	case kindFalse:
		r.literal("false")
	case kindNull:
		r.literal("null")
	default:
		r.fail("expected a value")
	}
}

// skipDeep reads a value as skip does, with the same nextKey and
// nextElement, but without recursion: the containers it opens are a stack
// of their closing bytes.
func (r *eventReader) skipDeep() {
	var closers []byte
	for {
		// At a value: a container opens, a scalar is read whole.
		first := false
		if k := r.kind(); k == kindObject || k == kindArray {
			closers = append(closers, r.b[r.pos]+2) // '{'+2 == '}', '['+2 == ']'
			r.open()
			first = true
		} else {
			r.skipScalar(k)
		}
		// To the next value: the innermost container's next member or
		// element, closing the containers that end on the way.
		for {
			if r.err != nil || len(closers) == 0 {
				return
			}
			if closers[len(closers)-1] == '}' {
				if _, ok := r.nextKey(&first); ok {
					break
				}
			} else if r.nextElement(&first) {
				break
			}
			closers = closers[:len(closers)-1]
			first = false
		}
	}
}

// skipString validates a string without building it.
func (r *eventReader) skipString() {
	r.pos++
	for r.pos < len(r.b) {
		r.pos += plainPrefix(r.b[r.pos:])
		if r.pos == len(r.b) {
			break
		}
		switch r.b[r.pos] {
		case '"':
			r.pos++
			return
		case '\\':
			r.skipEscape()
		default:
			r.fail("control character in a string")
			return
		}
	}
	r.fail("unterminated string")
}

// skipEscape validates one escape sequence at pos.
func (r *eventReader) skipEscape() {
	if r.pos+1 >= len(r.b) {
		r.fail("unterminated string")
		return
	}
	switch r.b[r.pos+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		r.pos += 2
	case 'u':
		r.pos += 2
		r.hex4()
	default:
		r.fail("invalid escape in a string")
	}
}

// eventDecoder decodes events; it holds nothing between events.
// createdAt, when not 0, is the event's createdAt as sift already parsed it
// (Unix ns): decode checks that the field is there, a string, and does not
// parse it again.
type eventDecoder struct {
	createdAt int64
}

// decode reads one event. Only _id, createdAt and type are needed: invalid
// JSON or an event without them is an error (ev.id is set when it could be
// read). Any other known field of an unexpected JSON type (the Hub changed
// its shape) is left out and listed in ev.dropped; data may have any shape.
// The first of duplicate keys counts.
func (d eventDecoder) decode(raw []byte) (ev auditEvent, err error) {
	r := eventReader{b: raw}
	r.skipSpace()
	if k := r.kind(); k != kindObject {
		r.skip()
		r.end()
		if r.err != nil {
			return ev, r.err
		}
		return ev, fmt.Errorf("the event is a JSON %s, not an object", k)
	}
	var (
		done                    uint32 // fields already read: the first counts
		idKind, timeKind, tKind string
		createdAt               string
	)
	r.open()
	for first := true; ; {
		key, ok := r.nextKey(&first)
		if !ok {
			break
		}
		bit := topLevelField(key)
		if bit == 0 || done&bit != 0 {
			r.skip()
			continue
		}
		done |= bit
		switch key {
		case "_id":
			ev.id, idKind = r.required()
		case "createdAt":
			createdAt, timeKind = r.required()
		case "type":
			ev.typ, tKind = r.required()
		case "message":
			ev.message = r.optStr(&ev, "message")
		case "ip":
			ev.ip = r.optStr(&ev, "ip")
		case "userAgent":
			ev.userAgent = r.optStr(&ev, "userAgent")
		case "author":
			r.author(&ev)
		case "location":
			r.location(&ev)
		case "token":
			r.token(&ev)
		case "oauth":
			r.oauth(&ev)
		case "data":
			start := r.pos
			// null and "" are absent, as for every optional field.
			absent := r.kind() == kindNull || bytes.HasPrefix(raw[start:], []byte(`""`))
			r.sizes, r.containers = containerSizes{}, 0
			outer := r.depth
			r.deepest = outer
			r.skip()
			ev.dataSizes = r.sizes
			switch {
			case r.deepest-outer > maxDataDepth:
				ev.dropped = append(ev.dropped, fieldError{"data", fmt.Sprintf("nested %d levels deep, more than the %d a record holds", r.deepest-outer, maxDataDepth)})
			case !absent:
				ev.data = raw[start:r.pos]
			}
		}
	}
	r.end()
	if r.err != nil {
		return ev, r.err
	}
	if err := requiredErr("_id", ev.id, idKind); err != nil {
		return ev, err
	}
	if err := requiredErr("createdAt", createdAt, timeKind); err != nil {
		return ev, err
	}
	if ev.createdAt = d.createdAt; ev.createdAt == 0 {
		if ev.createdAt, err = parseCreatedAt(createdAt); err != nil {
			return ev, err
		}
	}
	return ev, requiredErr("type", ev.typ, tKind)
}

// end checks that nothing but white space follows the event.
func (r *eventReader) end() {
	if r.err == nil {
		r.skipSpace()
		if r.pos != len(r.b) {
			r.fail("data after the event")
		}
	}
}

// topLevelField numbers the event's known fields (0: unknown).
func topLevelField(key string) uint32 {
	switch key {
	case "_id":
		return 1 << 0
	case "createdAt":
		return 1 << 1
	case "type":
		return 1 << 2
	case "message":
		return 1 << 3
	case "ip":
		return 1 << 4
	case "userAgent":
		return 1 << 5
	case "author":
		return 1 << 6
	case "location":
		return 1 << 7
	case "token":
		return 1 << 8
	case "oauth":
		return 1 << 9
	case "data":
		return 1 << 10
	}
	return 0
}

// required reads a required string field: its value when it is a string,
// and the kind of value found.
func (r *eventReader) required() (string, string) {
	kind := r.kind()
	if kind == kindString {
		return r.str(), kind
	}
	r.skip()
	return "", kind
}

// The optional objects: each reads its known members; the first of
// duplicate keys counts.
//
// The four are written out, not driven by a table of members: a call
// through a function value makes the event escape to the heap, one
// allocation per event (BenchmarkBuild: +40 MB and about +50% CPU per
// 100,000 events when tried).

func (r *eventReader) author(ev *auditEvent) {
	if !r.openOptObject(ev, "author") {
		return
	}
	var done uint8
	for first := true; ; {
		key, ok := r.nextKey(&first)
		if !ok {
			return
		}
		switch {
		case key == "_id" && done&1 == 0:
			done |= 1
			ev.authorID = r.optStr(ev, "author._id")
		case key == "user" && done&2 == 0:
			done |= 2
			ev.authorUser = r.optStr(ev, "author.user")
		case key == "type" && done&4 == 0:
			done |= 4
			ev.authorType = r.optStr(ev, "author.type")
		case key == "deleted" && done&8 == 0:
			done |= 8
			ev.authorDeleted = r.optBool(ev, "author.deleted")
		default:
			r.skip()
		}
	}
}

func (r *eventReader) location(ev *auditEvent) {
	if !r.openOptObject(ev, "location") {
		return
	}
	var done uint8
	for first := true; ; {
		key, ok := r.nextKey(&first)
		if !ok {
			return
		}
		switch {
		case key == "formatted" && done&1 == 0:
			done |= 1
			ev.locFormatted = r.optStr(ev, "location.formatted")
		case key == "country" && done&2 == 0:
			done |= 2
			ev.locCountry = r.optStr(ev, "location.country")
		case key == "city" && done&4 == 0:
			done |= 4
			ev.locCity = r.optStr(ev, "location.city")
		default:
			r.skip()
		}
	}
}

func (r *eventReader) token(ev *auditEvent) {
	if !r.openOptObject(ev, "token") {
		return
	}
	var done uint8
	for first := true; ; {
		key, ok := r.nextKey(&first)
		if !ok {
			return
		}
		switch {
		case key == "type" && done&1 == 0:
			done |= 1
			ev.tokenType = r.optStr(ev, "token.type")
		case key == "id" && done&2 == 0:
			done |= 2
			ev.tokenID = r.optStr(ev, "token.id")
		case key == "role" && done&4 == 0:
			done |= 4
			ev.tokenRole = r.optStr(ev, "token.role")
		case key == "last4" && done&8 == 0:
			done |= 8
			ev.tokenLast4 = r.optStr(ev, "token.last4")
		case key == "deleted" && done&16 == 0:
			done |= 16
			ev.tokenDeleted = r.optBool(ev, "token.deleted")
		default:
			r.skip()
		}
	}
}

func (r *eventReader) oauth(ev *auditEvent) {
	if !r.openOptObject(ev, "oauth") {
		return
	}
	var done uint8
	for first := true; ; {
		key, ok := r.nextKey(&first)
		if !ok {
			return
		}
		switch {
		case key == "clientId" && done&1 == 0:
			done |= 1
			ev.oauthClientID = r.optStr(ev, "oauth.clientId")
		case key == "name" && done&2 == 0:
			done |= 2
			ev.oauthName = r.optStr(ev, "oauth.name")
		default:
			r.skip()
		}
	}
}

// openOptObject enters an optional object field; null is absent, another
// kind is dropped. It returns whether the object was entered.
func (r *eventReader) openOptObject(ev *auditEvent, field string) bool {
	switch k := r.kind(); k {
	case kindObject:
		r.open()
		return r.err == nil
	case kindNull:
		r.literal("null")
	default:
		ev.drop(field, k, kindObject)
		r.skip()
	}
	return false
}

// requiredErr says what is wrong with a required string field.
func requiredErr(key, v, kind string) error {
	switch kind {
	case "":
		return fmt.Errorf("required %q is missing", key)
	case kindString:
		if v == "" {
			return fmt.Errorf("required %q is empty", key)
		}
		return nil
	}
	return fmt.Errorf("%q is a JSON %s, want string", key, kind)
}

// optStr reads an optional string field; null is absent, another kind is
// dropped.
func (r *eventReader) optStr(ev *auditEvent, field string) string {
	switch k := r.kind(); k {
	case kindString:
		return r.str()
	case kindNull:
		r.literal("null")
	default:
		ev.drop(field, k, kindString)
		r.skip()
	}
	return ""
}

func (r *eventReader) optBool(ev *auditEvent, field string) optBool {
	switch k := r.kind(); k {
	case kindTrue:
		r.literal("true")
		return boolTrue
	case kindFalse:
		r.literal("false")
		return boolFalse
	case kindNull:
		r.literal("null")
	default:
		ev.drop(field, k, "boolean")
		r.skip()
	}
	return boolAbsent
}

func (ev *auditEvent) drop(field, got, want string) {
	if got == "" {
		return // not a value: the reader fails on it
	}
	ev.dropped = append(ev.dropped, fieldError{field, "a JSON " + got + ", want " + want})
}

// putJSON decodes a valid JSON value (data) into dst, keeping its
// structure: objects become maps, arrays slices, integers int, other
// numbers double (their text beyond a double's range), null an empty
// value. Strings point into b. sizes are the member counts decode found
// (auditEvent.dataSizes).
func putJSON(dst pcommon.Value, b []byte, sizes containerSizes) {
	r := eventReader{b: b, sizes: sizes}
	r.skipSpace()
	r.value(dst)
}

func (r *eventReader) value(dst pcommon.Value) {
	switch r.kind() {
	case kindString:
		dst.SetStr(r.str())
	case kindNumber:
		n := r.number()
		s := unsafe.String(unsafe.SliceData(n), len(n))
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			dst.SetInt(i)
		} else if f, _ := strconv.ParseFloat(s, 64); !math.IsInf(f, 0) {
			dst.SetDouble(f)
		} else {
			// Beyond a double (1e400): its text. ±Inf has no JSON form,
			// so an exporter that writes the attributes as JSON would fail.
			dst.SetStr(s)
		}
	case kindTrue:
		r.literal("true")
		dst.SetBool(true)
	case kindFalse:
		r.literal("false")
		dst.SetBool(false)
	case kindNull:
		r.literal("null")
	case kindObject:
		k := r.opened()
		m := dst.SetEmptyMap()
		if k < len(r.sizes) {
			m.EnsureCapacity(int(r.sizes[k]))
		}
		r.open()
		for first := true; ; {
			key, ok := r.nextKey(&first)
			if !ok {
				break
			}
			r.value(m.PutEmpty(key))
		}
	case kindArray:
		k := r.opened()
		s := dst.SetEmptySlice()
		if k < len(r.sizes) {
			s.EnsureCapacity(int(r.sizes[k]))
		}
		r.open()
		for first := true; r.nextElement(&first); {
			r.value(s.AppendEmpty())
		}
	default:
		r.fail("expected a value")
	}
}
