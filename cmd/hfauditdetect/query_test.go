package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hfauditlog/huggingfaceauditreceiver/clickhouse"
	"github.com/hfauditlog/huggingfaceauditreceiver/detections"
)

// TestQueryRequest checks what one detection sends: its SQL with a FORMAT
// clause as the body, and only the database and query parameters in the
// URL (no settings, which a readonly=1 user may not change).
func TestQueryRequest(t *testing.T) {
	var gotQuery url.Values
	var gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotQuery = r.URL.Query()
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		_, _ = io.WriteString(w, `{"meta":[{"name":"actor","type":"String"},{"name":"event_count","type":"UInt64"},{"name":"event_ids","type":"Array(String)"}],
			"data":[["vera","2",["a","b"]]],"rows":1}`)
	}))
	defer srv.Close()
	cfg := config{
		target:   clickhouse.Target{DSN: srv.URL},
		database: "sec",
		from:     time.Unix(1700000000, 0),
		to:       time.Unix(1700003600, 0),
		jobs: []job{{
			detection: detections.Detection{Name: "d", SQL: "SELECT 1 -- why\n;\n"},
			params:    map[string]string{"threshold": "7"},
		}},
	}
	var errb bytes.Buffer
	findings, failed := execute(context.Background(), cfg, &errb)
	if failed != 0 || len(findings) != 1 {
		t.Fatalf("failed %d, %d findings: %s", failed, len(findings), errb.String())
	}
	if gotBody != "SELECT 1 -- why\nFORMAT JSONCompact" {
		t.Errorf("body %q", gotBody)
	}
	want := url.Values{"database": {"sec"}, "param_from": {"1700000000"}, "param_to": {"1700003600"}, "param_threshold": {"7"}}
	if gotQuery.Encode() != want.Encode() {
		t.Errorf("URL parameters %v, want %v", gotQuery, want)
	}
	if c := string(findings[0].value("event_count")); c != "2" {
		t.Errorf("event_count %s, want the number 2", c)
	}
	if strings.Contains(errb.String(), "d:") {
		t.Errorf("stderr: %s", errb.String())
	}
}
