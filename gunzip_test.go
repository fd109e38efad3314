package huggingfaceauditreceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/metadatatest"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

// The receiver asks for gzip and decompresses with gunzip (klauspost), not
// through the transport.
func TestGzipExport(t *testing.T) {
	var opened atomic.Int32
	saved := gunzip
	gunzip = func(r io.Reader) (io.ReadCloser, error) {
		opened.Add(1)
		return saved(r)
	}
	t.Cleanup(func() { gunzip = saved })

	h := onSim(t, simulator.Options{InitialEvents: 2000, NoSelfExport: true, Gzip: true})
	r, _ := h.start()
	r.poll(context.Background())
	assert.Equal(t, h.sim.EventIDs(), h.next.accepted())
	assert.Equal(t, int32(1), opened.Load(), "the gzip body went through gunzip")

	// max_response_size applies to the decompressed body.
	h2 := onSim(t, simulator.Options{InitialEvents: 2000, NoSelfExport: true, Gzip: true})
	r2, _ := h2.start(func(c *Config) { c.MaxResponseSize = 500_000 })
	r2.poll(context.Background())
	assert.Empty(t, h2.next.accepted())
	assert.Contains(t, h2.logText(), "larger than max_response_size (500000 bytes)")
}

func gzipped(t *testing.T, s string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write([]byte(s))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestGzipExportErrors(t *testing.T) {
	body := "[" + ev("6650a1b2c3d4e5f60000000a", "2026-11-20T10:00:00.123Z") + "," + ev("6650a1b2c3d4e5f60000000b", "2026-11-20T10:00:01.123Z") + "]"
	gz := gzipped(t, body)
	corrupt := append([]byte(nil), gz...)
	corrupt[len(corrupt)-6] ^= 0xff // the CRC-32 of the trailer
	for _, tt := range []struct {
		name      string
		serve     func(w http.ResponseWriter)
		wantClass string
		wantLog   string
	}{
		{"not gzip at all", func(w http.ResponseWriter) { _, _ = io.WriteString(w, body) }, classMalformed, "is not valid gzip"},
		{"bad checksum", func(w http.ResponseWriter) { _, _ = w.Write(corrupt) }, classMalformed, "is not valid gzip"},
		{"data after the array", func(w http.ResponseWriter) { _, _ = w.Write(gzipped(t, body+"<html>proxy error</html>")) }, classMalformed, "data after the closing ']'"},
		{"cut off", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", strconv.Itoa(len(gz)))
			_, _ = w.Write(gz[:len(gz)/2])
		}, classTruncated, "was cut off"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, "gzip", r.Header.Get("Accept-Encoding"))
				w.Header().Set("Content-Encoding", "gzip")
				tt.serve(w)
			}))
			t.Cleanup(srv.Close)
			h := newHarness(t, srv.URL)
			r, _ := h.start()
			r.poll(context.Background())
			assert.Empty(t, h.next.accepted())
			assert.Contains(t, h.logText(), tt.wantLog)
			metadatatest.AssertEqualReceiverHuggingfaceauditFailedRequests(t, h.tel, points(int64(strings.Count(h.logText(), "Export request failed; retrying")+1), "error.type", tt.wantClass), ignoreTime)
		})
	}
}
