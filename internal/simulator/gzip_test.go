package simulator

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"": false, "gzip": true, "GZIP": true, "deflate, gzip;q=1.0, *;q=0.5": true, "br, gzip; q=0.8": true,
		"gzip;q=0": false, "gzip;q=0.000": false, "identity": false, "x-gzip": false, "br": false,
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if h != "" {
			r.Header.Set("Accept-Encoding", h)
		}
		if got := acceptsGzip(r); got != want {
			t.Errorf("Accept-Encoding %q: %v, want %v", h, got, want)
		}
	}
}

// With Gzip, a client that asks for gzip gets the same array compressed;
// one that does not gets it plain; without Gzip nobody gets it compressed.
func TestGzip(t *testing.T) {
	for _, on := range []bool{false, true} {
		sim, err := New(Options{InitialEvents: 500, Seed: 3, NoSelfExport: true, Gzip: on})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(sim)
		get := func(acceptEncoding string) (*http.Response, []byte) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/organizations/"+DefaultOrg+"/audit-log/export", nil)
			req.Header.Set("Authorization", "Bearer "+DefaultToken)
			if acceptEncoding != "" {
				req.Header.Set("Accept-Encoding", acceptEncoding) // the transport then leaves the body as sent
			}
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return resp, b
		}
		plainResp, plain := get("identity")
		if plainResp.Header.Get("Content-Encoding") != "" {
			t.Fatalf("gzip=%v: Content-Encoding %q without Accept-Encoding: gzip", on, plainResp.Header.Get("Content-Encoding"))
		}
		var events []json.RawMessage
		if err := json.Unmarshal(plain, &events); err != nil || len(events) != 500 {
			t.Fatalf("plain body: %d events, %v", len(events), err)
		}
		resp, body := get("gzip")
		if got := resp.Header.Get("Content-Encoding"); (got == "gzip") != on {
			t.Fatalf("gzip=%v: Content-Encoding %q", on, got)
		}
		if on {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
			if len(body) != len(plain) || string(body) != string(plain) {
				t.Fatalf("the gunzipped body differs from the plain one (%d vs %d bytes)", len(body), len(plain))
			}
			if resp.Header.Get("Vary") != "Accept-Encoding" {
				t.Errorf("Vary %q", resp.Header.Get("Vary"))
			}
		}
		// A fault body stays plain even when gzip was asked for.
		if err := sim.SetFault(FaultMalformed, 1); err != nil {
			t.Fatal(err)
		}
		if resp, body := get("gzip"); resp.Header.Get("Content-Encoding") != "" || string(body) != `[{"_id": "abc` {
			t.Fatalf("malformed fault: %q %q", resp.Header.Get("Content-Encoding"), body)
		}
		srv.Close()
		sim.Close()
	}
}
