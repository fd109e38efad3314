package main

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// URL parameters that are not ClickHouse settings. Every other parameter is
// applied as a setting, as the real server does.
var notSettings = map[string]bool{
	"query": true, "database": true, "default_format": true, "client_protocol_version": true,
	"compress": true, "decompress": true, "query_id": true, "quota_key": true, "user": true,
	"password": true, "session_id": true, "session_timeout": true, "session_check": true,
	"wait_end_of_query": true, "buffer_size": true, "enable_http_compression": true,
	"http_zlib_compression_level": true, "send_progress_in_http_headers": true,
}

var (
	// A trailing FORMAT clause decides the output (or, for INSERT, input) format.
	formatRe = regexp.MustCompile(`(?is)\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$`)
	insertRe = regexp.MustCompile(`(?is)^\s*INSERT\s+INTO\b`)
	codeRe   = regexp.MustCompile(`^Code: (\d+)\.`)
)

type handler struct{ conn *Conn }

// statusWriter remembers the status for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

func (h *handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w := &statusWriter{ResponseWriter: rw, status: 200}
	var logged string
	defer func() {
		if len(logged) > 200 {
			logged = logged[:200] + "..."
		}
		log.Printf("%s %q %d %v", r.Method, logged, w.status, time.Since(start).Round(time.Microsecond))
	}()

	if r.URL.Path == "/ping" {
		logged = "/ping"
		// A failed write means the client has gone; there is no one to tell.
		_, _ = io.WriteString(w, "Ok.\n")
		return
	}
	if r.URL.Path != "/" && r.URL.Path != "" {
		logged = r.URL.Path
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "There is no handle "+r.URL.Path+"\n")
		return
	}
	q := r.URL.Query()
	out := newResponse(w, r, q)

	// Request body: ClickHouse block framing (decompress=1) inside an
	// optional HTTP Content-Encoding.
	body, err := decodeBody(r)
	if err != nil {
		out.fail(exception(1000, "cannot decode request body: %v", err))
		return
	}
	if q.Get("decompress") == "1" {
		body = eofReader{compress.NewReader(body)}
	}

	settings := map[string]string{}
	params := map[string]string{}
	for k, v := range q {
		switch {
		case strings.HasPrefix(k, "param_"):
			params[strings.TrimPrefix(k, "param_")] = v[0]
		case !notSettings[k]:
			settings[k] = v[0]
		}
	}
	db := q.Get("database")

	sql := q.Get("query")
	logged = sql
	if sql != "" && r.Method == http.MethodPost && insertRe.MatchString(sql) {
		// INSERT ... FORMAT X with the data as the body: stream it into chDB.
		if m := formatRe.FindStringSubmatchIndex(sql); m != nil {
			format := sql[m[2]:m[3]]
			if _, err := h.conn.Insert(db, settings, sql[:m[0]], format, body); err != nil {
				out.fail(err)
				return
			}
			out.send(nil, "")
			return
		}
	}
	// Otherwise the statement is the query parameter followed by the body.
	var rest []byte
	if r.Method == http.MethodPost {
		if rest, err = io.ReadAll(body); err != nil {
			out.fail(exception(33, "reading request body: %v", err))
			return
		}
	}
	if len(rest) > 0 {
		if sql != "" {
			sql += "\n"
		}
		sql += string(rest)
	}
	if logged == "" {
		logged = sql
	}
	if strings.TrimSpace(sql) == "" {
		out.fail(exception(62, "Empty query. (SYNTAX_ERROR)"))
		return
	}
	format := q.Get("default_format")
	if format == "" {
		format = "TabSeparated"
	}
	if m := formatRe.FindStringSubmatch(sql); m != nil {
		format = m[1]
	}
	res, err := h.conn.Query(db, settings, sql, format, params)
	if err != nil {
		out.fail(err)
		return
	}
	if strings.EqualFold(format, "Native") && len(res) > 0 {
		// chDB writes Native in the protocol-version-0 layout. A real server
		// writes it in the layout of the client_protocol_version the client
		// sent (BlockInfo header, custom-serialization flags), and
		// clickhouse-go decodes with that revision, so re-encode.
		rev, _ := strconv.ParseUint(q.Get("client_protocol_version"), 10, 64)
		if res, err = reencodeNative(res, rev); err != nil {
			out.fail(exception(1000, "chdbserver: re-encoding Native output: %v", err))
			return
		}
	}
	out.send(res, format)
}

// response writes a body with the two layers of compression a client may ask
// for: ClickHouse block framing (compress=1) and HTTP Content-Encoding.
type response struct {
	w        http.ResponseWriter
	frame    bool   // compress=1
	encoding string // chosen from Accept-Encoding, "" for none
}

func newResponse(w http.ResponseWriter, r *http.Request, q map[string][]string) *response {
	out := &response{w: w, frame: len(q["compress"]) > 0 && q["compress"][0] == "1"}
	for _, e := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		e = strings.ToLower(strings.TrimSpace(strings.SplitN(e, ";", 2)[0]))
		switch e {
		case "gzip", "deflate", "br", "zstd", "lz4":
			out.encoding = e
		}
		if out.encoding != "" {
			break
		}
	}
	return out
}

func (o *response) send(body []byte, format string) {
	h := o.w.Header()
	switch strings.ToLower(format) {
	case "":
		h.Set("Content-Type", "text/plain; charset=UTF-8")
	case "native", "rowbinary", "rowbinarywithnamesandtypes", "parquet", "arrow", "arrowstream":
		h.Set("Content-Type", "application/octet-stream")
	case "tabseparated", "tsv", "tabseparatedwithnames", "tsvwithnames":
		h.Set("Content-Type", "text/tab-separated-values; charset=UTF-8")
	default:
		h.Set("Content-Type", "text/plain; charset=UTF-8")
	}
	if format != "" {
		h.Set("X-ClickHouse-Format", format)
	}
	o.write(http.StatusOK, body)
}

// chException is an error in ClickHouse's form, "Code: N. DB::Exception: ...",
// which is what fail sends and what clients parse (hence the capital letter
// the usual Go error style would not have).
type chException struct {
	code int
	msg  string
}

func (e *chException) Error() string {
	return "Code: " + strconv.Itoa(e.code) + ". DB::Exception: " + e.msg
}

// exception returns a *chException with ClickHouse's error code and a
// message formatted as by fmt.Sprintf.
func exception(code int, format string, args ...any) error {
	return &chException{code: code, msg: fmt.Sprintf(format, args...)}
}

// fail answers like ClickHouse does: HTTP 500, the exception code in a
// header and "Code: N. DB::Exception: ..." as the body. The body goes through
// the same compression as a result would: clickhouse-go reads an error body
// through its block decompressor when it asked for compress=1, so an
// unframed error would surface as a checksum error instead of the message.
func (o *response) fail(err error) {
	msg := strings.TrimSpace(err.Error())
	code := "1000"
	if m := codeRe.FindStringSubmatch(msg); m != nil {
		code = m[1]
	} else {
		msg = "Code: 1000. DB::Exception: " + msg
	}
	o.w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	o.w.Header().Set("X-ClickHouse-Exception-Code", code)
	o.write(http.StatusInternalServerError, []byte(msg+"\n"))
}

func (o *response) write(status int, body []byte) {
	if len(body) == 0 {
		// Empty result: clickhouse-go treats Content-Length 0 as "no blocks".
		o.w.Header().Set("Content-Length", "0")
		o.w.WriteHeader(status)
		return
	}
	if o.frame {
		body = frameBlocks(body)
	}
	if o.encoding != "" {
		if enc, err := encode(o.encoding, body); err != nil {
			// Content-Encoding is the client's preference, not a must:
			// send the body as it is rather than a broken stream.
			log.Printf("%s-encoding the response: %v; sending it unencoded", o.encoding, err)
		} else {
			body = enc
			o.w.Header().Set("Content-Encoding", o.encoding)
		}
	}
	o.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	o.w.WriteHeader(status)
	// A failed write means the client has gone; there is no one to tell.
	_, _ = o.w.Write(body)
}

// frameBlocks wraps data in ClickHouse's compressed-block framing
// (checksum, method byte, sizes) with LZ4, in chunks of at most 1 MiB.
func frameBlocks(data []byte) []byte {
	cw := compress.NewWriter(compress.LevelZero, compress.LZ4)
	var out []byte
	for len(data) > 0 {
		n := min(len(data), 1<<20)
		if err := cw.Compress(data[:n]); err != nil {
			panic(err) // only fails on absurd sizes
		}
		out = append(out, cw.Data...)
		data = data[n:]
	}
	return out
}

// encode compresses body with an HTTP Content-Encoding that newResponse chose.
func encode(enc string, body []byte) ([]byte, error) {
	var b bytes.Buffer
	var wc io.WriteCloser
	switch enc {
	case "gzip":
		wc = gzip.NewWriter(&b)
	case "deflate": // HTTP "deflate" is zlib-wrapped, which is what clickhouse-go reads
		wc = zlib.NewWriter(&b)
	case "br":
		wc = brotli.NewWriter(&b)
	case "zstd":
		zw, err := zstd.NewWriter(&b)
		if err != nil {
			return nil, err
		}
		wc = zw
	case "lz4":
		wc = lz4.NewWriter(&b)
	default:
		panic("unknown encoding " + enc)
	}
	if _, err := wc.Write(body); err != nil {
		return nil, err
	}
	if err := wc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// decodeBody undoes the request's Content-Encoding.
func decodeBody(r *http.Request) (io.Reader, error) {
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity", "none":
		return r.Body, nil
	case "gzip", "x-gzip":
		return gzip.NewReader(r.Body)
	case "deflate":
		return zlib.NewReader(r.Body)
	case "br":
		return brotli.NewReader(r.Body), nil
	case "zstd":
		zr, err := zstd.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	case "lz4":
		return lz4.NewReader(r.Body), nil
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q", enc)
	}
}

// eofReader turns the wrapped end-of-stream error of ch-go's block reader
// into a plain io.EOF, which io.Reader users (io.ReadFull, io.ReadAll) expect.
type eofReader struct{ r io.Reader }

func (e eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && errors.Is(err, io.EOF) {
		err = io.EOF
	}
	return n, err
}

func quoteIdent(s string) string {
	return "`" + strings.NewReplacer("\\", "\\\\", "`", "\\`").Replace(s) + "`"
}

func quoteString(s string) string {
	return "'" + strings.NewReplacer("\\", "\\\\", "'", "\\'").Replace(s) + "'"
}
