package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
