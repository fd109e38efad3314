package clickhouse

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestApply(t *testing.T) {
	var got []string
	fail := ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != "alice" || p != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, "Code: 516. DB::Exception: alice: Authentication failed")
			return
		}
		b, _ := io.ReadAll(r.Body)
		if strings.Contains(string(b), "FROM system.") {
			return // an empty answer: nothing exists yet
		}
		if fail != "" && strings.HasPrefix(string(b), fail) {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "Code: 60. DB::Exception: Unknown table otel.otel_logs. (UNKNOWN_TABLE)\n")
			return
		}
		got = append(got, string(b))
	}))
	defer srv.Close()
	dsn := strings.Replace(srv.URL, "http://", "http://alice:s3cret@", 1)

	var done []Result
	if err := Apply(context.Background(), Target{DSN: dsn}, Options{}, func(r Result) { done = append(done, r) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || len(done) != 4 || done[3].Statement != "INSERT INTO `otel`.`huggingface_logs`" {
		t.Fatalf("sent %d, done %v", len(got), done)
	}

	// -user/-password override the DSN's.
	bad := strings.Replace(srv.URL, "http://", "http://bob:wrong@", 1)
	if err := Apply(context.Background(), Target{DSN: bad, User: "alice", Password: "s3cret"}, Options{}, nil); err != nil {
		t.Fatal(err)
	}
	err := Apply(context.Background(), Target{DSN: bad}, Options{}, nil)
	if err == nil || !strings.Contains(err.Error(), "Authentication failed") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("auth error: %v", err)
	}

	// Stops at the first error, with ClickHouse's text.
	got = nil
	fail = "CREATE MATERIALIZED VIEW"
	err = Apply(context.Background(), Target{DSN: dsn}, Options{}, nil)
	if err == nil || !strings.Contains(err.Error(), "UNKNOWN_TABLE") || !strings.Contains(err.Error(), "HTTP 500") {
		t.Fatalf("error: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("%d statements sent before the failing one, want 2", len(got))
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatal("password in the error")
	}
	if e := (Target{DSN: dsn}).Endpoint(); strings.Contains(e, "s3cret") || strings.Contains(e, "alice") {
		t.Fatalf("Endpoint() = %q", e)
	}
	if err := Apply(context.Background(), Target{DSN: "clickhouse:9000"}, Options{}, nil); err == nil {
		t.Fatal("a DSN without http(s) was accepted")
	}
}

func TestQuery(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, _ := r.BasicAuth(); u != "alice" || p != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		b, _ := io.ReadAll(r.Body)
		if strings.Contains(string(b), "bad") {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "Code: 62. DB::Exception: Syntax error. (SYNTAX_ERROR)\n")
			return
		}
		_, _ = io.WriteString(w, string(b)+"|"+r.URL.Query().Get("param_from")+"|"+r.URL.Query().Get("max_threads"))
	}))
	defer srv.Close()
	target := Target{DSN: strings.Replace(srv.URL, "http://", "http://alice:s3cret@", 1) + "/?max_threads=2"}
	got, err := target.Query(context.Background(), "SELECT {from:DateTime}", url.Values{"param_from": {"1700000000"}})
	if err != nil || string(got) != "SELECT {from:DateTime}|1700000000|2" {
		t.Fatalf("Query = %q, %v", got, err)
	}
	_, err = target.Query(context.Background(), "bad", nil)
	if err == nil || !strings.Contains(err.Error(), "HTTP 500: Code: 62") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error: %v", err)
	}
	if e := (Target{DSN: "http://h:8123/?user=u&password=s3cret"}).Endpoint(); strings.Contains(e, "s3cret") {
		t.Fatalf("Endpoint() = %q", e)
	}
}

// Endpoint is printed by the tools and quoted in errors. DSNs that Go
// parses another way than meant (a typo in the scheme, a query that does
// not parse, a '/' or '#' in a password) never show the password.
func TestEndpointNeverShowsThePassword(t *testing.T) {
	const secret = "S3cretPw"
	for _, dsn := range []string{
		"http:/default:" + secret + "@127.0.0.1:1",             // one slash missing
		"https//default:" + secret + "@127.0.0.1:1",            // colon missing
		"http:default:" + secret + "@127.0.0.1:1",              // both slashes missing
		"http://127.0.0.1:1/?user=u&password=" + secret + ";x", // ';' in a query password
		"http://127.0.0.1:1/?password=" + secret + "%zz",       // '%' in a query password
		"http://u:2024/" + secret + "@127.0.0.1:1",             // '/' in the password
		"http://u:2024#" + secret + "@127.0.0.1:1",             // '#' in the password
		"http://u:2024?" + secret + "@127.0.0.1:1",             // '?' in the password
	} {
		t.Run(dsn, func(t *testing.T) {
			tg := Target{DSN: dsn}
			if ep := tg.Endpoint(); strings.Contains(ep, secret) {
				t.Errorf("Endpoint() = %q shows the password", ep)
			}
			if _, _, _, err := tg.resolve(); err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("resolve error %q shows the password", err)
			}
		})
	}
	if got := (Target{DSN: "http://h:8123/?max_threads=2"}).Endpoint(); got != "http://h:8123/?max_threads=2" {
		t.Errorf("a plain DSN is shown as is, got %q", got)
	}
}

// A proxy in front of ClickHouse that echoes the request in its error
// does not put the password in the error.
func TestServerErrorHidesThePassword(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "bad gateway for "+r.Header.Get("Authorization")+" "+r.URL.RawQuery)
	}))
	defer srv.Close()
	for _, target := range []Target{
		{DSN: srv.URL, User: "alice", Password: "pw-S3cret"},
		{DSN: strings.Replace(srv.URL, "http://", "http://alice:pw-S3cret@", 1)},
		{DSN: srv.URL + "/?user=alice&password=pw-S3cret%2B1"},
		{DSN: srv.URL, User: "alice", Password: "S3c"}, // short: its Basic credentials only
	} {
		_, err := target.Query(context.Background(), "SELECT 1", nil)
		if err == nil || !strings.Contains(err.Error(), "bad gateway for ") {
			t.Fatalf("error %v, want the echo with the credentials cut out", err)
		}
		if strings.Contains(err.Error(), "S3cret") || strings.Contains(err.Error(), base64.StdEncoding.EncodeToString([]byte("alice:"+target.Password))) {
			t.Fatalf("the password is in the error: %v", err)
		}
	}
}
