package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

// The sink counts each record's ID under its organization.
func TestSink(t *testing.T) {
	sk := &sink{counts: map[string]map[string]int{}}
	srv := httptest.NewServer(sk)
	defer srv.Close()
	send := func(org string, ids ...string) {
		logs := plog.NewLogs()
		rl := logs.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("huggingface.organization", org)
		recs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for _, id := range ids {
			recs.AppendEmpty().Attributes().PutStr("log.record.uid", id)
		}
		body, err := plogotlp.NewExportRequestFromLogs(logs).MarshalProto()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(srv.URL+"/v1/logs", "application/x-protobuf", bytes.NewReader(body))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%v %v", resp, err)
		}
		resp.Body.Close()
	}
	send("org-001", "a", "b")
	send("org-002", "a")
	send("org-001", "b")
	if sk.delivered() != 4 || sk.counts["org-001"]["b"] != 2 || sk.counts["org-002"]["a"] != 1 {
		t.Fatalf("counts %v, total %d", sk.counts, sk.delivered())
	}
	resp, err := http.Post(srv.URL+"/v1/logs", "application/x-protobuf", strings.NewReader("not protobuf \xff\xff"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || sk.badBody != 1 {
		t.Fatalf("a bad body: %d, %d", resp.StatusCode, sk.badBody)
	}
}

// A collector that exits at start (here a script that says what a
// collector refusing its configuration says) ends the wait at once with the
// log's path and its last lines, instead of after -timeout.
func TestMeasureStopsWhenTheCollectorExits(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "collector")
	script := "#!/bin/sh\necho 'Error: invalid configuration' >&2\nexit 1\n"
	if err := os.WriteFile(bin, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p, err := startMeasured(bin, dir, "exits", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	start := time.Now()
	_, _, err = measureUntilCounted(p, options{events: 10, timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "exited early") || !strings.Contains(err.Error(), p.log) ||
		!strings.Contains(err.Error(), "invalid configuration") {
		t.Fatalf("got %v, want the early exit, the log's path and what the collector said", err)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Fatalf("waited %v for a collector that had exited", waited)
	}
}
