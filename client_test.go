package huggingfaceauditreceiver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/metadatatest"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

// Every failure mode of the Hub, served by the simulator: what the receiver
// logs, counts and reports, that the cursor holds, and that the token never
// shows up in a log line.
func TestHTTPErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		opts        simulator.Options
		fault       string
		faultTimes  int
		mutate      func(*Config)
		wantClass   string
		wantLog     string
		wantStatus  componentstatus.Status
		wantCalls   int // export calls in the poll (retries included); 0: not checked
		recoverable bool
	}{
		{name: "401 invalid token", mutate: func(c *Config) { c.Token = "hf_wrong_secret_token_Pq3r" },
			wantClass: classUnauthorized, wantLog: "401 from the Hub: the token is missing, invalid or expired", wantStatus: componentstatus.StatusRecoverableError, wantCalls: 1},
		{name: "403 missing permission", opts: simulator.Options{Forbidden: true},
			wantClass: classForbidden, wantLog: "403 from the Hub: the token may not export the audit log of demo-org; use an organization admin's token with read access to the organization", wantStatus: componentstatus.StatusRecoverableError, wantCalls: 1},
		{name: "404 unknown organization", mutate: func(c *Config) { c.Organization = "no-such-org" },
			wantClass: classNotFound, wantLog: `404 from the Hub: no organization "no-such-org"`, wantStatus: componentstatus.StatusRecoverableError, wantCalls: 1},
		{name: "500 retried within the poll", fault: simulator.Fault500, faultTimes: 2,
			wantClass: classServer, wantStatus: componentstatus.StatusOK, wantCalls: 3, recoverable: true},
		{name: "502 until the budget is spent", fault: simulator.Fault502,
			wantClass: classServer, wantLog: "502 from the Hub", wantStatus: componentstatus.StatusRecoverableError},
		{name: "cut body retried", fault: simulator.FaultCut, faultTimes: 1,
			wantClass: classTruncated, wantStatus: componentstatus.StatusOK, wantCalls: 2, recoverable: true},
		{name: "malformed body retried", fault: simulator.FaultMalformed, faultTimes: 1,
			wantClass: classMalformed, wantStatus: componentstatus.StatusOK, wantCalls: 2, recoverable: true},
		{name: "malformed body until the budget is spent", fault: simulator.FaultMalformed,
			wantClass: classMalformed, wantLog: "is not valid JSON", wantStatus: componentstatus.StatusRecoverableError},
		{name: "not an array", fault: simulator.FaultWrongType,
			wantClass: classMalformed, wantLog: "is not a JSON array", wantStatus: componentstatus.StatusRecoverableError},
		{name: "slow answer times out and is retried", fault: simulator.FaultSlow, faultTimes: 1,
			opts:      simulator.Options{SlowDelay: 2 * time.Second},
			mutate:    func(c *Config) { c.HTTP.Timeout = 100 * time.Millisecond },
			wantClass: classTimeout, wantStatus: componentstatus.StatusOK, wantCalls: 2, recoverable: true},
		{name: "body over max_response_size", mutate: func(c *Config) { c.MaxResponseSize = 1000 },
			wantClass: classTooLarge, wantLog: "larger than max_response_size (1000 bytes)", wantStatus: componentstatus.StatusRecoverableError, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.InitialEvents = 10
			tt.opts.NoSelfExport = true
			h := onSim(t, tt.opts)
			var mutate []func(*Config)
			if tt.mutate != nil {
				mutate = append(mutate, tt.mutate)
			}
			r, _ := h.start(mutate...)
			if tt.fault != "" {
				require.NoError(t, h.sim.SetFault(tt.fault, tt.faultTimes))
			}
			r.poll(ctx)

			if tt.wantCalls > 0 {
				assert.Equal(t, tt.wantCalls, h.sim.Calls())
			}
			failed := h.sim.Calls()
			if tt.recoverable {
				failed-- // the last call succeeded
			}
			metadatatest.AssertEqualReceiverHuggingfaceauditFailedRequests(t, h.tel, points(int64(failed), "error.type", tt.wantClass), ignoreTime)
			require.NotNil(t, h.lastStatus())
			assert.Equal(t, tt.wantStatus, h.lastStatus().Status())
			if tt.wantLog != "" {
				assert.Contains(t, h.logText(), tt.wantLog)
			}
			if tt.recoverable {
				assert.Equal(t, h.sim.EventIDs(), h.next.accepted(), "a retried failure still delivers the poll")
			} else {
				assert.Empty(t, h.next.accepted())
				assertNothingSaved(t, r)
			}
			assert.NotContains(t, h.logText(), string(r.cfg.Token), "the token never appears in a log line")
			assert.NotContains(t, h.logText(), testToken)
		})
	}
}

func TestQueryAndRequestHeaders(t *testing.T) {
	h := onSim(t, simulator.Options{InitialEvents: 300, NoSelfExport: true})
	r, _ := h.start(func(c *Config) { c.Query = "type:repo.create" })
	r.poll(context.Background())

	req := h.sim.Requests()[0]
	assert.Equal(t, "type:repo.create", req.Q)
	assert.Equal(t, "otelcol-huggingfaceaudit/test", req.UserAgent)
	assert.Equal(t, testToken[len(testToken)-4:], req.Last4)
	var want []string
	for _, e := range h.sim.Events() {
		if e["type"] == "repo.create" {
			want = append(want, e["_id"].(string))
		}
	}
	require.NotEmpty(t, want)
	assert.Equal(t, want, h.next.accepted())
}

// TLS verification is on unless the configuration turns it off: a Hub
// whose certificate no configured CA signed gets no token and no trust.
func TestTLSVerification(t *testing.T) {
	ctx := context.Background()
	hub := &fakeHub{}
	hub.set(ev("6650a1b2c3d4e5f60000000a", "2026-11-20T10:00:00Z"))
	srv := httptest.NewTLSServer(hub)
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))

	t.Run("default: an unknown certificate is refused", func(t *testing.T) {
		h := newHarness(t, srv.URL)
		r, _ := h.start()
		r.poll(ctx)
		assert.Empty(t, h.next.accepted())
		metadatatest.AssertEqualReceiverHuggingfaceauditFailedRequests(t, h.tel, points(1, "error.type", classTLS), ignoreTime)
		assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, h.statusSequence())
		refused := h.logs.FilterMessage("Export refused").All()
		require.Len(t, refused, 1)
		assert.Contains(t, refused[0].ContextMap()["error"], "TLS certificate is not trusted")
		assert.Contains(t, refused[0].ContextMap()["error"], "http::tls::ca_file")
	})

	t.Run("the server's CA in http::tls::ca_file", func(t *testing.T) {
		h := newHarness(t, srv.URL)
		r, _ := h.start(func(c *Config) { c.HTTP.TLS.CAFile = caFile })
		r.poll(ctx)
		assert.Len(t, h.next.accepted(), 1)
	})
}

// The token goes to the configured origin only: a redirect elsewhere (another
// host, or the same host on another port or scheme) is refused before any
// request reaches it.
func TestRedirectsKeepTheToken(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var leaked []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		leaked = append(leaked, r.Host+" "+r.Header.Get("Authorization"))
		_, _ = w.Write([]byte("[]"))
	}))
	t.Cleanup(other.Close)
	_, port, err := net.SplitHostPort(other.Listener.Addr().String())
	require.NoError(t, err)

	for _, target := range []string{"http://localhost:" + port, "http://127.0.0.1:" + port} {
		t.Run(target, func(t *testing.T) {
			hub := http.NewServeMux()
			hub.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target+r.URL.Path, http.StatusFound)
			})
			srv := httptest.NewServer(hub)
			t.Cleanup(srv.Close)
			h := newHarness(t, srv.URL)
			r, _ := h.start()
			r.poll(ctx)
			author, err := r.client.whoami(ctx, r.cfg.Endpoint)
			assert.Empty(t, author)
			require.ErrorIs(t, err, errCrossOriginRedirect)

			mu.Lock()
			assert.Empty(t, leaked, "no request reached the other origin")
			mu.Unlock()
			metadatatest.AssertEqualReceiverHuggingfaceauditFailedRequests(t, h.tel, points(1, "error.type", classRedirect), ignoreTime)
			assert.Contains(t, h.logText(), "the token is not sent there")
			assert.NotContains(t, h.logText(), testToken)
		})
	}

	t.Run("a redirect within the origin is followed", func(t *testing.T) {
		hub := &fakeHub{}
		hub.set(ev("6650a1b2c3d4e5f60000000a", "2026-11-20T10:00:00Z"))
		mux := http.NewServeMux()
		mux.Handle("/moved/", http.StripPrefix("/moved", hub))
		mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/moved"+r.URL.Path, http.StatusFound)
		})
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		h := newHarness(t, srv.URL)
		r, _ := h.start()
		r.poll(ctx)
		assert.Len(t, h.next.accepted(), 1)
	})
}

// An origin is scheme, host and port; a default port written out is the same
// origin, anything else is not.
func TestSameOriginRedirects(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		same     bool
	}{
		{"https://huggingface.co/api/x", "https://huggingface.co/api/y", true},
		{"https://huggingface.co/api/x", "https://huggingface.co:443/api/y", true},
		{"https://HuggingFace.co/api/x", "https://huggingface.co/api/y", true},
		{"http://127.0.0.1/api/x", "http://127.0.0.1:80/api/y", true},
		{"https://huggingface.co/api/x", "http://huggingface.co/api/y", false},
		{"https://huggingface.co/api/x", "https://huggingface.co:8443/api/y", false},
		{"https://huggingface.co/api/x", "https://cdn.huggingface.co/api/y", false},
		{"https://huggingface.co/api/x", "https://evil.example/api/y", false},
	} {
		t.Run(tc.from+" -> "+tc.to, func(t *testing.T) {
			from, err := http.NewRequest(http.MethodGet, tc.from, http.NoBody)
			require.NoError(t, err)
			to, err := http.NewRequest(http.MethodGet, tc.to, http.NoBody)
			require.NoError(t, err)
			err = sameOriginRedirects(to, []*http.Request{from})
			if tc.same {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, errCrossOriginRedirect)
			}
		})
	}
}

// A token read from a file (a Kubernetes secret, ${file:...}) ends in a
// newline: it is trimmed, said once, and works.
func TestTokenFromASecretFile(t *testing.T) {
	h := onSim(t, simulator.Options{InitialEvents: 5, NoSelfExport: true})
	r, _ := h.start(func(c *Config) { c.Token = configopaque.String(testToken + "\n") })
	r.poll(context.Background())
	assert.Len(t, h.next.accepted(), 5)
	assert.Len(t, h.logs.FilterMessage("Token trimmed of surrounding white space").All(), 1)
	assert.NotContains(t, h.logText(), testToken)
}

// A token Go refuses to put in a header (Validate rejects it; this is the
// receiver's own guard) fails at once and for good: no request, no retry
// loop, a permanent status that says what to fix.
func TestRequestThatCanNeverSucceed(t *testing.T) {
	ctx := context.Background()
	h := onSim(t, simulator.Options{InitialEvents: 5, NoSelfExport: true})
	r, _ := h.start(func(c *Config) { c.Token = "hf_first_half\nsecond_half" })
	r.poll(ctx)
	r.poll(ctx)
	assert.Zero(t, h.sim.Calls(), "nothing is sent")
	metadatatest.AssertEqualReceiverHuggingfaceauditFailedRequests(t, h.tel, points(2, "error.type", classInvalid), ignoreTime)
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusPermanentError}, h.statusSequence())
	assert.Contains(t, h.lastStatus().Err().Error(), `set "token" to the token alone`)
	assert.Empty(t, h.logs.FilterMessage("Export request failed; retrying").All(), "not retried")
	assert.NotContains(t, h.logText(), "second_half")
}

// Bytes after the closing bracket (a proxy that appends its error page to a
// cut or replaced answer) make the body malformed: retried, nothing emitted,
// the cursor kept. White space after the array is fine.
func TestDataAfterTheArray(t *testing.T) {
	ctx := context.Background()
	h := onFakeHub(t)
	h.hub.set(ev("6650a1b2c3d4e5f60000000a", "2026-11-20T10:00:00Z"), ev("6650a1b2c3d4e5f60000000b", "2026-11-20T10:00:01Z"))
	h.hub.sendAfter(" <html>proxy error</html>")
	r, _ := h.start()
	r.poll(ctx)
	assert.Empty(t, h.next.accepted())
	assertNothingSaved(t, r)
	assert.Greater(t, h.hub.callCount(), 1, "retried within the poll")
	metadatatest.AssertEqualReceiverHuggingfaceauditFailedRequests(t, h.tel, points(int64(h.hub.callCount()), "error.type", classMalformed), ignoreTime)
	assert.Contains(t, h.logText(), "data after the closing ']'")
	assert.Equal(t, componentstatus.StatusRecoverableError, h.lastStatus().Status())

	h.hub.sendAfter("\n \t\r\n")
	r.poll(ctx)
	assert.Equal(t, []string{"6650a1b2c3d4e5f60000000a", "6650a1b2c3d4e5f60000000b"}, h.next.accepted())
	assert.Equal(t, componentstatus.StatusOK, h.lastStatus().Status())
}

// A Hub, or a proxy in front of it, that echoes the request in its error
// body would hand the token to the log, the error and the status: the
// token and the http::headers values are cut out of what is shown, plain
// or gzipped, on the export and on whoami, also when the echo is not
// verbatim (Go's JSON encoder writes '&' as \u0026; a body cut inside the
// token ends with its start).
func TestErrorBodyEchoingTheRequestHidesTheSecrets(t *testing.T) {
	const headerSecret = "k&S3cretHdr-98765"
	type echoCase struct {
		echo http.HandlerFunc
		want string // what the rest of the message still says
	}
	cases := map[string]echoCase{
		"escaped in JSON": {echo: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]any{"api-key": r.Header.Get("X-Proxy-Auth")})
		}, want: `{\"api-key\":\"[REDACTED]\"}`},
		"cut inside the token": {echo: func(w http.ResponseWriter, r *http.Request) {
			auth := r.Header.Get("Authorization")
			w.Header().Set("Content-Length", "4096")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte("invalid credentials: " + auth[:len(auth)-4]))
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			_ = conn.Close()
		}, want: "invalid credentials: Bearer [REDACTED]"},
	}
	for _, gz := range []bool{false, true} {
		for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusInternalServerError, http.StatusTeapot} {
			cases[fmt.Sprintf("%d gzip=%v", status, gz)] = echoCase{echo: func(w http.ResponseWriter, r *http.Request) {
				body := fmt.Sprintf(`{"error":"bad request; you sent Authorization: %s and X-Proxy-Auth: %s"}`,
					r.Header.Get("Authorization"), r.Header.Get("X-Proxy-Auth"))
				if gz {
					body = string(gzipped(t, body))
					w.Header().Set("Content-Encoding", "gzip")
				}
				w.WriteHeader(status)
				_, _ = w.Write([]byte(body))
			}, want: "you sent Authorization: Bearer [REDACTED] and X-Proxy-Auth: [REDACTED]"}
		}
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(tc.echo)
			t.Cleanup(srv.Close)
			h := newHarness(t, srv.URL)
			r, _ := h.start(func(c *Config) {
				c.HTTP.Headers = configopaque.MapList{{Name: "X-Proxy-Auth", Value: headerSecret}}
			})
			r.poll(context.Background())
			_, whoamiErr := r.client.whoami(context.Background(), r.cfg.Endpoint)
			require.Error(t, whoamiErr)

			shown := h.logText() + "\n" + h.lastStatus().Err().Error() + "\n" + whoamiErr.Error()
			assert.Contains(t, shown, tc.want, "the rest of the Hub's message is kept")
			assert.NotContains(t, shown, "S3cretHdr")
			assert.NotContains(t, shown, testToken[:len(testToken)-4])
		})
	}
}

// An element that is not JSON (a missing colon, a raw control character in
// a string, a bare word) means the response is broken, as a body that is
// not JSON does: the poll fails (malformed), nothing from that event on is
// emitted, and the cursor stays before it, so the event arrives once the Hub
// answers whole. (Valid JSON that is no usable event is skipped instead:
// TestSchemaDriftKeepsTheEvent.)
func TestAnEventThatIsNotJSONFailsThePoll(t *testing.T) {
	const (
		a = "6650a1b2c3d4e5f60000000a"
		b = "6650a1b2c3d4e5f60000000b"
		c = "6650a1b2c3d4e5f60000000c"
	)
	good := ev(b, "2026-11-20T10:00:01Z")
	for name, broken := range map[string]string{
		"missing colon":              strings.Replace(good, `"message":"m"`, `"message" "m"`, 1),
		"raw tab in a string":        strings.Replace(good, `"message":"m"`, "\"message\":\"m\tm\"", 1),
		"raw tab in the _id":         strings.Replace(good, b, "6650a1b2c3d4\te5f60000000b", 1),
		"a bare word for a value":    strings.Replace(good, `"message":"m"`, `"message":tru`, 1),
		"missing colon after _id":    strings.Replace(good, `"_id":`, `"_id" `, 1),
		"a bare word for the event":  "tru",
		"unclosed object in data":    strings.Replace(good, `"message":"m"`, `"message":"m","data":{"x":[1,}`, 1),
		"trailing comma in an array": strings.Replace(good, `"message":"m"`, `"message":"m","data":[1,]`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			h := onFakeHub(t)
			h.hub.set(ev(a, "2026-11-20T10:00:00Z"), broken, ev(c, "2026-11-20T10:00:02Z"))
			r, _ := h.start(func(cfg *Config) { cfg.BatchSize = 1 })
			r.poll(ctx)
			r.poll(ctx)
			assert.Subset(t, []string{a}, h.next.accepted(), "nothing from the broken event on")
			assert.Equal(t, componentstatus.StatusRecoverableError, h.lastStatus().Status())
			assert.Contains(t, h.logText(), "not valid JSON")
			assert.Positive(t, h.counted("otelcol_receiver_huggingfaceaudit_failed_requests"))
			assert.Empty(t, h.logs.FilterMessage("Skipping an invalid event").All(), "not skipped as invalid")

			h.hub.set(ev(a, "2026-11-20T10:00:00Z"), good, ev(c, "2026-11-20T10:00:02Z"))
			r.poll(ctx)
			assert.Equal(t, []string{a, b, c}, h.next.accepted(), "each event once, in order")
			assert.Equal(t, componentstatus.StatusOK, h.lastStatus().Status())
		})
	}
}

// A key written with escapes ("\u005fid") is the same key to JSON: the
// element's _id and createdAt are read as the decoder reads them (the
// first of duplicate keys counts), so the cursor files each event under
// the _id and time of the record it emitted.
func TestEscapedKeys(t *testing.T) {
	const (
		x = "6650a1b2c3d4e5f60000000a"
		y = "6650a1b2c3d4e5f60000000b"
	)
	ctx := context.Background()
	h := onFakeHub(t)
	h.hub.set(
		`{"\u005fid":"`+x+`","_id":"`+y+`","creat\u0065dAt":"2026-11-20T10:00:00Z","createdAt":"2026-11-20T10:30:00Z","type":"repo.create"}`,
		`{"_id":"`+y+`","createdAt":"2026-11-20T10:00:00Z","type":"repo.delete"}`)
	r, _ := h.start()
	r.poll(ctx)
	r.poll(ctx)
	assert.ElementsMatch(t, []string{x, y}, h.next.accepted(), "two events, each once")
	assert.Equal(t, "2026-11-20T10:00:00Z", formatNanos(savedCursor(t, r).watermark))
}

// The same _id twice in one response is one event, delivered once (its
// oldest copy), also when its copies' createdAt differ and other events
// sort between them.
func TestSameIDTwiceInAResponse(t *testing.T) {
	const (
		a = "6650a1b2c3d4e5f60000000a"
		b = "6650a1b2c3d4e5f60000000b"
		c = "custom-id-c"
	)
	ctx := context.Background()
	h := onFakeHub(t)
	h.hub.set(ev(a, "2026-11-20T10:00:02Z"), ev(c, "2026-11-20T10:00:03Z"), ev(b, "2026-11-20T10:00:01Z"),
		ev(a, "2026-11-20T10:00:00Z"), ev(c, "2026-11-20T10:00:00.5Z"), ev(a, "2026-11-20T10:00:00Z"))
	r, _ := h.start(func(cfg *Config) { cfg.BatchSize = 2 })
	r.poll(ctx)
	r.poll(ctx)
	assert.Equal(t, []string{a, c, b}, h.next.accepted())
}

// A proxy that echoes the request shows the Proxy-Authorization that
// http::proxy_url's credentials make: it is cut out too.
func TestErrorBodyEchoingTheProxyCredentials(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte(`{"error":"upstream failed; you sent Proxy-Authorization: ` + r.Header.Get("Proxy-Authorization") + `"}`))
	}))
	t.Cleanup(srv.Close)
	h := newHarness(t, srv.URL)
	proxy := strings.Replace(srv.URL, "http://", "http://proxyuser:Pr0xyS3cret@", 1) // loopback: no allow_insecure_http needed
	r, _ := h.start(func(c *Config) { c.HTTP.ProxyURL = proxy })
	r.poll(context.Background())
	shown := h.logText() + "\n" + h.lastStatus().Err().Error()
	assert.Contains(t, shown, "you sent Proxy-Authorization: Basic [REDACTED]", "the proxy was used and echoed")
	assert.NotContains(t, shown, base64.StdEncoding.EncodeToString([]byte("proxyuser:Pr0xyS3cret")))
}
