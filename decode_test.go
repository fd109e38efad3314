package huggingfaceauditreceiver

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// FuzzEventDecoder: on any input the decoder ends without panicking; it
// accepts exactly the JSON that encoding/json accepts (an invalid element is
// an error, never half a record; only deeper than encoding/json's 10,000
// levels it reads more), and reads the same strings and the same data
// (numbers compared as float64).
func FuzzEventDecoder(f *testing.F) {
	for _, seed := range []string{
		`{"_id":"6650a1b2c3d4e5f601234567","createdAt":"2026-11-20T10:00:00Z","type":"repo.create","message":"m\u00e9\n","data":{"a":[1,-2.5e3,true,null,{"b":"\ud83d\ude00"}]}}`,
		`{"_id":"a","createdAt":"2026-11-20T10:00:00Z","type":"t","author":{"user":7},"token":"x","data":"\ud800x"}`,
		`{"_id":"a","createdAt":"2026-11-20T10:00:00Z","type":"t","_id":"b","data":{"k":1,"k":2}}`,
		`{"_id":"a", "createdAt" : "2026-11-20T10:00:00Z" , "type":"t","data":[ ] , "x":{}}`,
		`{"_id":"a","createdAt":"x","type":"t","data":01}`, `{"a":tru}`, `[1]`, `{"a":"\x"}`, `{"a":1,}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := eventDecoder{}.decode(raw)
		var want map[string]any
		// encoding/json reads 10,000 levels, the decoder any depth.
		deep := bytes.Count(raw, []byte("["))+bytes.Count(raw, []byte("{")) > 10_000
		if json.Unmarshal(raw, &want) != nil {
			if !json.Valid(raw) && !deep {
				require.Error(t, err, "invalid JSON accepted")
			}
			return
		}
		var jsonErr *jsonError
		require.NotErrorAs(t, err, &jsonErr, "valid JSON refused")
		if err != nil || !utf8.Valid(raw) { // encoding/json replaces invalid UTF-8
			return
		}
		// encoding/json keeps the last of duplicate keys, the decoder the first.
		once := func(key string) bool { return bytes.Count(raw, []byte(`"`+key+`"`)) == 1 }
		if s, ok := want["message"].(string); ok && once("message") {
			require.Equal(t, s, ev.message)
		}
		if d, ok := want["data"]; ok && d != nil && once("data") && ev.data != nil {
			v := pcommon.NewValueEmpty()
			putJSON(v, ev.data, ev.dataSizes)
			require.True(t, sameJSON(d, v.AsRaw()), "data %v read as %v", d, v.AsRaw())
		}
	})
}

// sameJSON compares a value from encoding/json with one from pcommon.
func sameJSON(want, got any) bool {
	switch w := want.(type) {
	case float64:
		switch g := got.(type) {
		case int64:
			return float64(g) == w
		case float64:
			return g == w || (math.IsInf(g, 0) && math.IsInf(w, 0))
		}
		return false
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k, v := range w {
			if !sameJSON(v, g[k]) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !sameJSON(w[i], g[i]) {
				return false
			}
		}
		return true
	}
	return want == got
}

// TestPlainPrefix: every byte value at every position of the word-at-a-time
// test and of the byte-by-byte tail, with a stop byte after it, and with
// bytes that could borrow (0x00, 0x20, 0x21, high bytes) next to it.
func TestPlainPrefix(t *testing.T) {
	stops := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 }
	for i := range 256 {
		for _, n := range []int{1, 5, 8, 9, 16, 21} {
			for pos := range n {
				for _, fill := range []byte{'a', ' ', '!', 0x80, 0xff} {
					s := bytes.Repeat([]byte{fill}, n)
					s[pos] = byte(i)
					want := n
					if stops(byte(i)) {
						want = pos
					}
					if pos+1 < n {
						s[n-1] = '"'
						if !stops(byte(i)) {
							want = n - 1
						}
					}
					require.Equal(t, want, plainPrefix(s), "byte %#x at %d of %q", i, pos, s)
				}
			}
		}
	}
	require.Equal(t, 11, plainPrefix([]byte("\x7f\x80\xff\xc3\xa9 ~!#[]\x00")))
}

// TestDataSizes: decode counts the members of data's objects and arrays in
// the order they open (other fields' objects, before or after, do not
// count), and putJSON builds the same value with or without them.
func TestDataSizes(t *testing.T) {
	raw := []byte(`{"x":{"y":{},"z":[1]},"_id":"a","createdAt":"2026-11-20T10:00:00Z","type":"t",` +
		`"data":{"a":[1,2,{"b":{}}],"c":{"d":1,"e":[],"d":2}},"author":{"user":"u"}}`)
	ev, err := eventDecoder{}.decode(raw)
	require.NoError(t, err)
	require.Equal(t, containerSizes{2, 3, 1, 0, 3, 0}, ev.dataSizes)

	sized, unsized := pcommon.NewValueEmpty(), pcommon.NewValueEmpty()
	putJSON(sized, ev.data, ev.dataSizes)
	putJSON(unsized, ev.data, containerSizes{})
	require.Equal(t, unsized.AsRaw(), sized.AsRaw())
	// The counts are what saves the allocations: without them each map
	// and slice grows one append at a time.
	wide := []byte(`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":[1,2,3,4,5,6,7,8,9]}`)
	allocs := func(sizes containerSizes) float64 {
		return testing.AllocsPerRun(20, func() { putJSON(pcommon.NewValueEmpty(), wide, sizes) })
	}
	require.Less(t, allocs(containerSizes{6, 9}), allocs(containerSizes{}))
	require.Equal(t, map[string]any{"a": []any{int64(1), int64(2), map[string]any{"b": map[string]any{}}}, "c": map[string]any{"d": int64(2), "e": []any{}}}, sized.AsRaw())

	// More containers than sizes: the rest grow as they fill.
	deep := []byte(`{"_id":"a","createdAt":"2026-11-20T10:00:00Z","type":"t","data":[` + strings.Repeat(`[1,2],`, 40) + `[]]}`)
	ev, err = eventDecoder{}.decode(deep)
	require.NoError(t, err)
	require.Equal(t, int32(41), ev.dataSizes[0])
	v := pcommon.NewValueEmpty()
	putJSON(v, ev.data, ev.dataSizes)
	require.Equal(t, 41, v.Slice().Len())
	require.Equal(t, 2, v.Slice().At(39).Slice().Len())
}

// FuzzSkipDeep: skipDeep, which reads nesting past maxRecursion with a
// stack, accepts the same values as skip, ends at the same byte and finds
// the same depth.
func FuzzSkipDeep(f *testing.F) {
	for _, seed := range []string{
		`[]`, `{}`, `[1,[2,{"a":[{}]}],"x"]`, `{"a":{"b":[]},"c":null}`, `[1,]`, `{"a" 1}`, `[[[`, `{"a":[}`,
		`[true,false,null,-0.5e3,"\u00e9\n"]`, `{"a":1,}`, `[{"a":1} {"b":2}]`, `{"a":tru}`, `[] x`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) == 0 || (raw[0] != '{' && raw[0] != '[') {
			return
		}
		rec, deep := eventReader{b: raw}, eventReader{b: raw}
		rec.skip()
		deep.skipDeep()
		require.Equal(t, rec.err == nil, deep.err == nil, "recursive: %v, deep: %v", rec.err, deep.err)
		if rec.err == nil {
			require.Equal(t, rec.pos, deep.pos)
			require.Equal(t, rec.deepest, deep.deepest)
		}
	})
}
