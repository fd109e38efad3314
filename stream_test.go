package huggingfaceauditreceiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fastjson"
)

type scanned struct{ raw, id, createdAt string }

func scanAll(r io.Reader) ([]scanned, error) {
	s := newArrayScanner(r)
	var out []scanned
	for {
		raw, id, createdAt, err := s.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, scanned{string(raw), string(id), string(createdAt)})
	}
}

func TestArrayScanner(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []scanned
		err  string
	}{
		{name: "empty", body: ` [ ] `},
		{name: "two events", body: `[{"_id":"a1","createdAt":"2026-01-01T00:00:00Z","x":1},{"createdAt":"t2","_id":"b2"}]`, want: []scanned{
			{`{"_id":"a1","createdAt":"2026-01-01T00:00:00Z","x":1}`, "a1", "2026-01-01T00:00:00Z"},
			{`{"createdAt":"t2","_id":"b2"}`, "b2", "t2"},
		}},
		{name: "white space everywhere", body: "\n[\n  { \"_id\" : \"a\" ,\n \"createdAt\":\t\"t\" }\r\n ,\n{\"_id\":\"b\"}\n]\n", want: []scanned{
			{"{ \"_id\" : \"a\" ,\n \"createdAt\":\t\"t\" }", "a", "t"},
			{`{"_id":"b"}`, "b", ""},
		}},
		{name: "nested keys of the same name are not the event's", body: `[{"data":{"_id":"inner","createdAt":"x"},"_id":"outer"}]`, want: []scanned{
			{`{"data":{"_id":"inner","createdAt":"x"},"_id":"outer"}`, "outer", ""},
		}},
		{name: "a value that looks like a key", body: `[{"message":"_id","_id":"real"}]`, want: []scanned{
			{`{"message":"_id","_id":"real"}`, "real", ""},
		}},
		{name: "escaped quotes and brackets in strings", body: `[{"message":"a \"quoted\" ] } , value\\","_id":"e1"},{"m":"\\\\\"","_id":"e2"}]`, want: []scanned{
			{`{"message":"a \"quoted\" ] } , value\\","_id":"e1"}`, "e1", ""},
			{`{"m":"\\\\\"","_id":"e2"}`, "e2", ""},
		}},
		{name: "an escaped value is left to the slow path", body: `[{"_id":"a\u0062"}]`, want: []scanned{{`{"_id":"a\u0062"}`, "", ""}}},
		{name: "non-string keys are not read", body: `[{"_id":5,"createdAt":null,"type":"x"}]`, want: []scanned{{`{"_id":5,"createdAt":null,"type":"x"}`, "", ""}}},
		{name: "scalars and arrays are elements too", body: `[1,"s",[1,{"_id":"x"}],true,null]`, want: []scanned{
			{"1", "", ""}, {`"s"`, "", ""}, {`[1,{"_id":"x"}]`, "", ""}, {"true", "", ""}, {"null", "", ""},
		}},
		{name: "unicode", body: `[{"_id":"ü","message":"日本語 🚀"}]`, want: []scanned{{`{"_id":"ü","message":"日本語 🚀"}`, "ü", ""}}},
		{name: "duplicate keys: the first counts, as in the decoder", body: `[{"_id":"first","createdAt":"t1","_id":"second","createdAt":"t2"}]`, want: []scanned{
			{`{"_id":"first","createdAt":"t1","_id":"second","createdAt":"t2"}`, "first", "t1"},
		}},
		{name: "duplicate keys: a first non-string value counts too", body: `[{"_id":1,"_id":"second"}]`, want: []scanned{{`{"_id":1,"_id":"second"}`, "", ""}}},
		{name: "not an array", body: `{"error":"x"}`, err: "not a JSON array"},
		{name: "mismatched brackets", body: `[{"a":[},{"_id":"b"}],{"_id":"c"}]`, err: "mismatched brackets"},
		{name: "an array closed by a brace", body: `[[1}]`, err: "mismatched brackets"},
		{name: "trailing comma", body: `[{"_id":"a"},]`, err: "expected an array element"},
		{name: "leading comma", body: `[,{"_id":"a"}]`, err: "expected an array element"},
		{name: "missing comma", body: `[{"_id":"a"} {"_id":"b"}]`, err: "expected ',' or ']'"},
		{name: "ends inside an element", body: `[{"_id":"a`, err: io.ErrUnexpectedEOF.Error()},
		{name: "ends after an element", body: `[{"_id":"a"}`, err: io.ErrUnexpectedEOF.Error()},
		{name: "empty body", body: ``, err: io.ErrUnexpectedEOF.Error()},
		{name: "white space after the array", body: "[{\"_id\":\"a\"}] \r\n\t ", want: []scanned{{`{"_id":"a"}`, "a", ""}}},
		{name: "a proxy's page after the array", body: `[{"_id":"a"}] <html>proxy error</html>`, err: "data after the closing ']' at byte 14"},
		{name: "a second array", body: `[][]`, err: "data after the closing ']'"},
		{name: "one byte after the array", body: "[{\"_id\":\"a\"}]\n\nx", err: "data after the closing ']'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One byte per read puts every boundary between two reads.
			for name, r := range map[string]io.Reader{"whole": strings.NewReader(tt.body), "byte by byte": iotest.OneByteReader(strings.NewReader(tt.body))} {
				got, err := scanAll(r)
				if tt.err != "" {
					require.Error(t, err, name)
					assert.Contains(t, err.Error(), tt.err, name)
					continue
				}
				require.NoError(t, err, name)
				assert.Equal(t, tt.want, got, name)
			}
		})
	}
}

func TestArrayScannerPassesReadErrors(t *testing.T) {
	boom := errors.New("connection reset")
	_, err := scanAll(io.MultiReader(strings.NewReader(`[{"_id":"a"},{"_id`), iotest.ErrReader(boom)))
	assert.ErrorIs(t, err, boom)
}

// FuzzArrayScanner: on any input the scanner ends without panicking; on any
// valid JSON array it finds the same elements as encoding/json, and the same
// _id and createdAt as fastjson (none after an escaped key: the decoder
// reads those).
func FuzzArrayScanner(f *testing.F) {
	for _, seed := range []string{
		`[]`, `[{"_id":"a","createdAt":"t"}]`, `[{"a":[1,{"b":"]"}],"_id":"\""}, 2, "x"]`,
		`[{"_id":"a\\","createdAt":"\\\"t"}]`, `[{"createdAt":"2026-11-20T10:00:00.123Z","_id":"6650a1b2c3d4e5f601234567"}]`,
		`[{"_id":"a","_id":"b","createdAt":"t","createdAt":"u"}]`, `[{"a":[},{"_id":"b"}],{"_id":"c"}]`,
		`[{"\u005fid":"a","_id":"b","createdAt":"t"}]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := scanAll(iotest.HalfReader(bytes.NewReader(body)))
		var want []json.RawMessage
		if json.Unmarshal(body, &want) != nil {
			return
		}
		require.NoError(t, err)
		require.Len(t, got, len(want))
		var p fastjson.Parser
		for i := range want {
			require.Equal(t, string(want[i]), got[i].raw)
			v, err := p.ParseBytes(want[i])
			require.NoError(t, err)
			for key, scannedValue := range map[string]string{"_id": got[i].id, "createdAt": got[i].createdAt} {
				if scannedValue != "" {
					require.Equal(t, string(v.GetStringBytes(key)), scannedValue, key)
				}
			}
		}
	})
}
