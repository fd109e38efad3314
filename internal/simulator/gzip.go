package simulator

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// acceptsGzip reports whether the request's Accept-Encoding lists gzip with
// a non-zero quality.
func acceptsGzip(r *http.Request) bool {
	for _, h := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(h, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			k, v, ok := strings.Cut(strings.ReplaceAll(params, " ", ""), "=")
			if !ok || !strings.EqualFold(k, "q") {
				return true
			}
			q, err := strconv.ParseFloat(v, 64)
			return err == nil && q > 0
		}
	}
	return false
}

// gzipResponse compresses what is written to it. Close finishes the
// stream; it must be called once the body is written.
type gzipResponse struct {
	http.ResponseWriter
	zw *gzip.Writer
}

// maybeGzip returns w itself, or, with Options.Gzip and a client that
// accepts gzip, a writer that sends the body gzip-compressed
// (Content-Encoding: gzip, no Content-Length), as the Hub does. finish
// must be called after the body is written.
func (s *Server) maybeGzip(w http.ResponseWriter, r *http.Request) (out http.ResponseWriter, finish func()) {
	if !s.opts.Gzip {
		return w, func() {}
	}
	w.Header().Add("Vary", "Accept-Encoding")
	if !acceptsGzip(r) {
		return w, func() {}
	}
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Del("Content-Length")
	g := &gzipResponse{ResponseWriter: w, zw: gzip.NewWriter(w)}
	return g, func() { _ = g.zw.Close() }
}

func (g *gzipResponse) Write(p []byte) (int, error) { return g.zw.Write(p) }
