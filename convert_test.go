package huggingfaceauditreceiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fastjson"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/ipenrich"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/metadata"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/metadatatest"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of the conversion tests")

// convertFile runs one event file through the receiver's conversion, as a
// poll would: first-pass key and self-export check, then buildLogs.
func convertFile(t *testing.T, path string, dropSelf bool) (raw []byte, r *auditReceiver, logs []byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	cfg.Organization = "acme"
	cfg.Token = "hf_test_token_abcd"
	cfg.DropSelfExports = dropSelf
	set := receivertest.NewNopSettings(metadata.Type)
	set.BuildInfo.Version = "test"
	r, err = newAuditReceiver(cfg, set, consumertest.NewNop())
	require.NoError(t, err)
	enricher, err := ipenrich.Open(ipenrich.Config{})
	require.NoError(t, err)
	r.conv = converter{
		organization: cfg.Organization, includeRaw: true, enricher: enricher,
		self: selfIdentity{tokenLast4: "abcd", userAgent: "otelcol-huggingfaceaudit/test", author: tokenOwner{Name: "audit-bot"}},
	}
	ev, err := eventDecoder{}.decode(raw)
	require.NoError(t, err)
	pending := []pendingEvent{{id: newEventID(ev.id), createdAt: ev.createdAt}}
	observed := pcommon.NewTimestampFromTime(time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC))
	out, _, err := r.buildLogs(t.Context(), pending, [][]byte{raw}, observed)
	require.NoError(t, err)
	assert.NoError(t, r.Shutdown(t.Context()))
	return raw, r, mustMarshalLogs(t, out)
}

func TestConvertGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "convert", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, inputs)
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			raw, _, got := convertFile(t, in, false)
			gotLogs := mustUnmarshalLogs(t, got)
			expectedPath := filepath.Join("testdata", "convert", name+".yaml")
			if *updateGolden {
				require.NoError(t, golden.WriteLogs(t, expectedPath, gotLogs))
			}
			want, err := golden.ReadLogs(expectedPath)
			require.NoError(t, err)
			require.NoError(t, plogtest.CompareLogs(want, gotLogs))

			// What a user checks on every record, whatever the golden file says.
			lr := gotLogs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
			rawAttr, ok := lr.Attributes().Get(attrRaw)
			require.True(t, ok)
			assert.True(t, bytes.Equal(raw, []byte(rawAttr.Str())), "huggingface.raw is the event byte for byte")
			lr.Attributes().Range(func(k string, v pcommon.Value) bool {
				assert.False(t, v.Type() == pcommon.ValueTypeStr && v.Str() == "", "attribute %s is an empty string", k)
				return true
			})
		})
	}
}

func TestConvertOptionalFieldsAbsent(t *testing.T) {
	_, _, out := convertFile(t, filepath.Join("testdata", "convert", "required_only.json"), false)
	lr := mustUnmarshalLogs(t, out).ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	for _, absent := range []string{
		attrClientAddress, attrUserAgent, attrLocationFormatted, attrLocationCountry, attrLocationCity,
		attrTokenType, attrTokenID, attrTokenRole, attrTokenLast4, attrTokenDeleted,
		attrOAuthClientID, attrOAuthName, attrData, attrAuthorDeleted, attrSelfExport,
	} {
		_, ok := lr.Attributes().Get(absent)
		assert.False(t, ok, "%s must be absent", absent)
	}
}

func TestConvertSelfExport(t *testing.T) {
	_, _, out := convertFile(t, filepath.Join("testdata", "convert", "self_export.json"), false)
	lr := mustUnmarshalLogs(t, out).ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	v, ok := lr.Attributes().Get(attrSelfExport)
	require.True(t, ok)
	assert.True(t, v.Bool())

	// Same token suffix, other author and user agent: someone else's export.
	_, _, out = convertFile(t, filepath.Join("testdata", "convert", "other_export.json"), false)
	lr = mustUnmarshalLogs(t, out).ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	_, ok = lr.Attributes().Get(attrSelfExport)
	assert.False(t, ok)

	// drop_self_exports keeps the first from an address not on record.
	_, _, out = convertFile(t, filepath.Join("testdata", "convert", "self_export.json"), true)
	assert.Equal(t, 1, mustUnmarshalLogs(t, out).LogRecordCount())
}

// Through polls against the simulator: the receiver's own export calls,
// recognised by the token owner (whoami), come back marked. With
// drop_self_exports the first from the receiver's address is kept, the
// later ones are dropped.
func TestSelfExportsInAPoll(t *testing.T) {
	ctx := context.Background()
	for _, drop := range []bool{false, true} {
		h := onSim(t, simulator.Options{InitialEvents: 5, InitialSpan: time.Minute})
		r, _ := h.start(func(c *Config) { c.DropSelfExports = drop })
		r.poll(ctx)
		require.Equal(t, simulator.DefaultTokenOwner, r.conv.self.author.Name)
		r.poll(ctx) // sees the export event of the first poll
		r.poll(ctx) // and of the second
		ids := h.sim.EventIDs()
		if drop {
			assert.Equal(t, ids[:6], h.next.accepted())
			metadatatest.AssertEqualReceiverHuggingfaceauditEventsSkipped(t, h.tel, points(1, "reason", "self_export"), ignoreTime)
		} else {
			assert.Equal(t, ids[:7], h.next.accepted())
			h.assertNoMetric("events_skipped")
		}
		assert.True(t, savedCursor(t, r).seen.has([]byte(ids[6])), "a dropped self export still moves the cursor")
	}
}

// A batch holding dropped self exports that the pipeline refuses is offered
// again in the next poll: each self export is counted once, when it settles.
func TestSelfExportCountedOnceAcrossARefusedBatch(t *testing.T) {
	ctx := context.Background()
	h := onSim(t, simulator.Options{InitialEvents: 5, InitialSpan: time.Minute})
	r, _ := h.start(func(c *Config) { c.DropSelfExports = true; c.RetryOnFailure.Enabled = false })
	r.poll(ctx)
	r.poll(ctx) // the first poll's export event: kept, its address on record
	require.Len(t, h.next.accepted(), 6)
	added := h.sim.Add(1)
	h.next.fail(errors.New("exporter queue is full"))
	r.poll(ctx) // the second poll's export event and the new one: refused
	require.Len(t, h.next.accepted(), 6)
	r.poll(ctx) // offered again with the third poll's export event, accepted
	assert.Equal(t, added, h.next.accepted()[6:])
	metadatatest.AssertEqualReceiverHuggingfaceauditEventsSkipped(t, h.tel, points(2, "reason", "self_export"), ignoreTime)
}

// selfExport is an org.audit_log.export event by user from ip, sent with
// the harness's token and the receiver's User-Agent.
func selfExport(id, createdAt, user, ip string) string {
	return `{"_id":"` + id + `","createdAt":"` + createdAt + `","type":"org.audit_log.export","message":"Exported the audit log",` +
		`"author":{"_id":"65a0b1c2d3e4f5a6b7c8d9e0","user":"` + user + `","avatarUrl":"a","type":"user"},"ip":"` + ip + `",` +
		`"userAgent":"otelcol-huggingfaceaudit/test","token":{"type":"access_token","id":"65a0b1c2d3e4f5a6b7c8d9ff","role":"read","last4":"` +
		testToken[len(testToken)-4:] + `"}}`
}

// onHubWithWhoami is a fakeHub whose whoami-v2 fails the first failures
// times, then names the token's user.
func onHubWithWhoami(t *testing.T, user string, failures int) *harness {
	var whoamiCalls atomic.Int32
	return onHubWithWhoamiHandler(t, func(w http.ResponseWriter, _ *http.Request) {
		if int(whoamiCalls.Add(1)) <= failures {
			http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, `{"type":"user","name":"`+user+`"}`)
	})
}

// onHubWithWhoamiHandler is a fake Hub whose whoami-v2 is served by whoami.
func onHubWithWhoamiHandler(t *testing.T, whoami http.HandlerFunc) *harness {
	hub := &fakeHub{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/whoami-v2", whoami)
	mux.Handle("/", hub)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	h := newHarness(t, srv.URL)
	h.hub = hub
	return h
}

// pollRecords polls once and returns every record the sink holds, by
// log.record.uid.
func pollRecords(t *testing.T, r *auditReceiver, sink *consumertest.LogsSink) map[string]plog.LogRecord {
	t.Helper()
	r.poll(t.Context())
	out := map[string]plog.LogRecord{}
	for _, ld := range sink.AllLogs() {
		forEachRecord(ld, func(lr plog.LogRecord) {
			uid, _ := lr.Attributes().Get(attrRecordUID)
			out[uid.Str()] = lr
		})
	}
	return out
}

// startWithSink sets up a receiver of h that sends to a sink.
func startWithSink(t *testing.T, h *harness, mutate ...func(*Config)) (*auditReceiver, *consumertest.LogsSink) {
	t.Helper()
	sink := &consumertest.LogsSink{}
	return startWith(t, h, sink, mutate...), sink
}

// startWith sets up a receiver of h that sends to next.
func startWith(t *testing.T, h *harness, next consumer.Logs, mutate ...func(*Config)) *auditReceiver {
	t.Helper()
	ext := startFileStorage(t, h.storageDir)
	r := h.newReceiver(next, mutate...)
	require.NoError(t, r.setup(t.Context(), h.host(ext)))
	t.Cleanup(func() {
		require.NoError(t, r.Shutdown(context.Background()))
		require.NoError(t, ext.Shutdown(context.Background()))
	})
	return r
}

func isSelf(lr plog.LogRecord) bool {
	v, ok := lr.Attributes().Get(attrSelfExport)
	return ok && v.Bool()
}

// An export by another user, from another address, that copies the
// receiver's public User-Agent and the token's last four characters is not
// the receiver's own. Nothing is taken for the receiver's own until whoami
// names the token's user; whoami is asked again on each poll until then.
func TestSelfExportNeedsTheTokensUser(t *testing.T) {
	for _, drop := range []bool{false, true} {
		t.Run(fmt.Sprintf("drop_self_exports=%v", drop), func(t *testing.T) {
			h := onHubWithWhoami(t, "audit-bot", 2) // both asks of the first poll fail
			ours1 := selfExport("6650a1b2c3d4e5f600000001", "2026-11-20T10:00:00Z", "audit-bot", "203.0.113.10")
			theirs1 := selfExport("6650a1b2c3d4e5f600000002", "2026-11-20T10:00:01Z", "mallory", "198.51.100.7")
			h.hub.set(ours1, theirs1)
			r, sink := startWithSink(t, h, func(c *Config) { c.DropSelfExports = drop })

			got := pollRecords(t, r, sink)
			require.Len(t, got, 2, "whoami failed: nothing is dropped")
			assert.False(t, isSelf(got["6650a1b2c3d4e5f600000001"]), "not marked while the token's user is unknown")
			assert.False(t, isSelf(got["6650a1b2c3d4e5f600000002"]))
			assert.Len(t, h.logs.FilterMessage("Token owner unknown; no export is marked as the receiver's own until it is").All(), 1)

			ours2 := selfExport("6650a1b2c3d4e5f600000003", "2026-11-20T10:05:00Z", "audit-bot", "203.0.113.10")
			theirs2 := selfExport("6650a1b2c3d4e5f600000004", "2026-11-20T10:05:01Z", "mallory", "198.51.100.7")
			h.hub.set(ours1, theirs1, ours2, theirs2)
			got = pollRecords(t, r, sink)
			assert.Equal(t, "audit-bot", r.conv.self.author.Name, "asked again, and known")
			require.Contains(t, got, "6650a1b2c3d4e5f600000003", "the first self export from an address is kept")
			assert.True(t, isSelf(got["6650a1b2c3d4e5f600000003"]))
			require.Contains(t, got, "6650a1b2c3d4e5f600000004", "another user's export is never dropped")
			assert.False(t, isSelf(got["6650a1b2c3d4e5f600000004"]), "another user's export is never marked")
			ip, _ := got["6650a1b2c3d4e5f600000003"].Attributes().Get(attrClientAddress)
			assert.Equal(t, "203.0.113.10", ip.Str(), "the self export keeps its client address")
		})
	}
}

// drop_self_exports drops a self export only from a client address already
// on record: the first from each address is delivered, marked, so a stolen
// token used from elsewhere shows up. A batch the pipeline refused puts no
// address on record.
func TestDropSelfExportsKeepsEachNewAddress(t *testing.T) {
	h := onHubWithWhoami(t, "audit-bot", 0)
	events := []string{
		selfExport("6650a1b2c3d4e5f600000001", "2026-11-20T10:00:00Z", "audit-bot", "203.0.113.10"),
		selfExport("6650a1b2c3d4e5f600000002", "2026-11-20T10:05:00Z", "audit-bot", "203.0.113.10"),
		selfExport("6650a1b2c3d4e5f600000003", "2026-11-20T10:10:00Z", "audit-bot", "198.51.100.7"),
		selfExport("6650a1b2c3d4e5f600000004", "2026-11-20T10:15:00Z", "audit-bot", "203.0.113.10"),
	}
	h.hub.set(events...)
	refusing := &recordingConsumer{}
	ext := startFileStorage(t, h.storageDir)
	r := h.newReceiver(refusing.consumer(t), func(c *Config) { c.DropSelfExports = true; c.RetryOnFailure.Enabled = false })
	require.NoError(t, r.setup(t.Context(), h.host(ext)))
	refusing.fail(errors.New("exporter queue is full"))
	r.poll(t.Context())
	require.Empty(t, refusing.accepted())
	r.poll(t.Context()) // offered again: the refused batch put no address on record
	assert.Equal(t, []string{"6650a1b2c3d4e5f600000001", "6650a1b2c3d4e5f600000003"}, refusing.accepted())
	metadatatest.AssertEqualReceiverHuggingfaceauditEventsSkipped(t, h.tel, points(2, "reason", "self_export"), ignoreTime)

	h.hub.set(append(events,
		selfExport("6650a1b2c3d4e5f600000005", "2026-11-20T10:20:00Z", "audit-bot", "198.51.100.7"),
		selfExport("6650a1b2c3d4e5f600000006", "2026-11-20T10:25:00Z", "audit-bot", "192.0.2.44"))...)
	r.poll(t.Context())
	assert.Equal(t, []string{"6650a1b2c3d4e5f600000001", "6650a1b2c3d4e5f600000003", "6650a1b2c3d4e5f600000006"}, refusing.accepted(),
		"a self export from a new address is delivered")
	require.NoError(t, r.Shutdown(context.Background()))
	require.NoError(t, ext.Shutdown(context.Background()))
}

// drop_self_exports keeps a self export of each address every day, not
// only the first in the receiver's life: huggingface-audit-log-exported
// learns the collector's addresses from its lookback_days (30), so after a
// month's uptime it had none on record, and the collector's token used
// from a new address was not reported.
func TestDropSelfExportsKeepsEachAddressDaily(t *testing.T) {
	h := onHubWithWhoami(t, "audit-bot", 0)
	var events []string
	start := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for i := range 12 { // every 6 hours for 3 days
		events = append(events, selfExport(fmt.Sprintf("6650a1b2c3d4e5f6000000%02d", i+1),
			start.Add(time.Duration(i)*6*time.Hour).Format(time.RFC3339), "audit-bot", "203.0.113.10"))
	}
	h.hub.set(events...)
	r, sink := startWithSink(t, h, func(c *Config) { c.DropSelfExports = true })
	got := pollRecords(t, r, sink)
	for _, id := range []string{"6650a1b2c3d4e5f600000001", "6650a1b2c3d4e5f600000005", "6650a1b2c3d4e5f600000009"} {
		assert.Contains(t, got, id, "the first self export of the address each day is kept")
	}
	assert.Len(t, got, 3)
}

// Only invalid JSON or a bad _id, createdAt or type makes an event unusable
// (schema drift elsewhere is TestSchemaDriftKeepsTheEvent's).
func TestDecodeEventRejectsUnusableEvents(t *testing.T) {
	tests := map[string]struct{ raw, err string }{
		"not an object":                        {`["x"]`, "the event is a JSON array, not an object"},
		"not JSON":                             {`<html>`, "invalid JSON at byte 0 of the event"},
		"a bare word":                          {`tru`, "invalid JSON at byte 0 of the event: invalid literal"},
		"missing _id":                          {`{"createdAt":"2026-11-20T10:00:00Z","type":"repo.create","message":"m","author":{}}`, `required "_id" is missing`},
		"numeric createdAt":                    {`{"_id":"6650a1b2c3d4e5f601234567","createdAt":1700000000,"type":"repo.create"}`, `"createdAt" is a JSON number, want string`},
		"unparsable time":                      {`{"_id":"6650a1b2c3d4e5f601234567","createdAt":"yesterday","type":"repo.create"}`, `"createdAt" "yesterday" is not an RFC 3339 time`},
		"year 2263":                            {`{"_id":"6650a1b2c3d4e5f601234567","createdAt":"2263-01-01T00:00:00Z","type":"repo.create"}`, `is outside 1970-01-01T00:00:00Z (excluded) to 2262-04-11`},
		"1969":                                 {`{"_id":"6650a1b2c3d4e5f601234567","createdAt":"1969-12-31T23:59:59.999Z","type":"repo.create"}`, `"createdAt" "1969-12-31T23:59:59.999Z" is outside 1970-01-01T00:00:00Z (excluded)`},
		"the Unix epoch, an unknown timestamp": {`{"_id":"6650a1b2c3d4e5f601234567","createdAt":"1970-01-01T00:00:00Z","type":"repo.create"}`, `is outside 1970-01-01T00:00:00Z (excluded)`},
		"missing type":                         {`{"_id":"6650a1b2c3d4e5f601234567","createdAt":"2026-11-20T10:00:00Z"}`, `required "type" is missing`},
		"empty type":                           {`{"_id":"6650a1b2c3d4e5f601234567","createdAt":"2026-11-20T10:00:00Z","type":""}`, `required "type" is empty`},
		"invalid JSON":                         {`{"_id":"6650a1b2c3d4e5f601234567","createdAt":"2026-11-20T10:00:00Z","type":"repo.create","data":{"a":tru}}`, "invalid JSON"},
		"trailing bytes":                       {`{"_id":"6650a1b2c3d4e5f601234567","createdAt":"2026-11-20T10:00:00Z","type":"repo.create"} x`, "data after the event"},
		"bad escape":                           {`{"_id":"6650a1b2c3d4e5f601234567","createdAt":"2026-11-20T10:00:00Z","type":"repo.create","message":"\x"}`, "invalid escape"},
		"bad JSON deep inside":                 {`{"_id":"6650a1b2c3d4e5f601234567","createdAt":"2026-11-20T10:00:00Z","type":"repo.create","x":` + strings.Repeat("[", 20_000) + "1 2" + strings.Repeat("]", 20_000) + `}`, "invalid JSON"},
		"bad JSON after a deep value":          {`{"_id":"6650a1b2c3d4e5f601234567","createdAt":"2026-11-20T10:00:00Z","type":"repo.create","x":` + nestedArray(20_000) + `,"y":tru}`, "invalid JSON"},
		"a deep value left open":               {`{"_id":"6650a1b2c3d4e5f601234567","createdAt":"2026-11-20T10:00:00Z","type":"repo.create","x":` + strings.Repeat(`{"a":[`, 2_000) + `}`, "invalid JSON"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := eventDecoder{}.decode([]byte(tc.raw))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
}

// nestedArray is an array n levels deep.
func nestedArray(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

func TestReadOnlyRule(t *testing.T) {
	for typ, want := range map[string]bool{
		"org.audit_log.export": true, "org.sso_login": true, "org.settings.inference_providers.usage": true,
		"repo.create": false, "org.change_role": false, "org.unknown_future.thing": false, "oauth.token": false,
	} {
		assert.Equal(t, want, isReadOnly(typ), typ)
	}
}

// resource_attributes turns the records' resource attributes off one by one.
func TestResourceAttributes(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(*Config)
		want   map[string]any
	}{
		{"default", func(*Config) {}, map[string]any{"service.name": "huggingface", "huggingface.organization": "demo-org"}},
		{"organization off", func(c *Config) { c.ResourceAttributes.HuggingfaceOrganization.Enabled = false }, map[string]any{"service.name": "huggingface"}},
		{"both off", func(c *Config) {
			c.ResourceAttributes.HuggingfaceOrganization.Enabled = false
			c.ResourceAttributes.ServiceName.Enabled = false
		}, map[string]any{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := onFakeHub(t)
			h.hub.set(ev("6650a1b2c3d4e5f60000000a", "2026-11-20T10:00:00Z"))
			r, sink := startWithSink(t, h, tt.mutate)
			require.Len(t, pollRecords(t, r, sink), 1)
			assert.Equal(t, tt.want, sink.AllLogs()[0].ResourceLogs().At(0).Resource().Attributes().AsRaw())
		})
	}
}

// Schema drift keeps the event: an optional field of an unexpected JSON
// type is left out of the record, which keeps huggingface.raw (even with
// include_raw off) and lists the field in huggingface.decode_errors; the
// field is counted. Only a bad _id, createdAt or type makes an event
// unusable (skipped, counted as invalid).
func TestSchemaDriftKeepsTheEvent(t *testing.T) {
	const dataMember = `"data":{"repo":{"name":"acme/m","type":"model"}}`
	const full = `"type":"repo.update","message":"m","author":{"_id":"64f0a1b2c3d4e5f6a7b8c9d0","user":"alice","avatarUrl":"a","type":"user","deleted":false},` +
		`"ip":"203.0.113.7","userAgent":"ua","location":{"formatted":"Paris, FR","country":"FR","city":"Paris"},` +
		`"token":{"type":"access_token","id":"t1","role":"write","last4":"Zq7w","deleted":false},"oauth":{"clientId":"c1","name":"app"},` + dataMember
	// set replaces top-level members of full (or adds them): key, value, ...
	set := func(kv ...string) string {
		v, err := fastjson.Parse("{" + full + "}")
		require.NoError(t, err)
		o := v.GetObject()
		for i := 0; i < len(kv); i += 2 {
			o.Set(kv[i], fastjson.MustParse(kv[i+1]))
		}
		return strings.TrimSuffix(strings.TrimPrefix(string(o.MarshalTo(nil)), "{"), "}")
	}
	drift := []struct {
		name    string
		members string
		dropped []string // decode_errors entries
		absent  []string // attributes the record must not have
		present []string // attributes it still has
	}{
		{"city a number", set("location", `{"formatted":"Paris, FR","country":"FR","city":5}`),
			[]string{"location.city: a JSON number, want string"}, []string{attrLocationCity}, []string{attrLocationCountry, attrLocationFormatted}},
		{"location a string", set("location", `"Paris"`),
			[]string{"location: a JSON string, want object"}, []string{attrLocationCity, attrLocationCountry, attrLocationFormatted}, []string{attrClientAddress}},
		{"location an array", set("location", `["FR"]`),
			[]string{"location: a JSON array, want object"}, []string{attrLocationCountry}, nil},
		{"author user a number", set("author", `{"_id":"64f0a1b2c3d4e5f6a7b8c9d0","user":7,"type":"user"}`),
			[]string{"author.user: a JSON number, want string"}, []string{attrUserName}, []string{attrUserID, attrAuthorType}},
		{"author a string", set("author", `"alice"`),
			[]string{"author: a JSON string, want object"}, []string{attrUserName, attrUserID}, []string{attrTokenID}},
		{"author deleted a string", set("author", `{"user":"alice","deleted":"yes"}`),
			[]string{"author.deleted: a JSON string, want boolean"}, []string{attrAuthorDeleted}, []string{attrUserName}},
		{"token a string", set("token", `"x"`),
			[]string{"token: a JSON string, want object"}, []string{attrTokenID, attrTokenLast4, attrTokenType, attrTokenRole, attrTokenDeleted}, []string{attrUserName}},
		{"token last4 a number", set("token", `{"id":"t1","last4":1234}`),
			[]string{"token.last4: a JSON number, want string"}, []string{attrTokenLast4}, []string{attrTokenID}},
		{"token deleted a number", set("token", `{"id":"t1","deleted":0}`),
			[]string{"token.deleted: a JSON number, want boolean"}, []string{attrTokenDeleted}, []string{attrTokenID}},
		{"ip a number", set("ip", `3405803783`),
			[]string{"ip: a JSON number, want string"}, []string{attrClientAddress}, []string{attrUserAgent}},
		{"userAgent an object", set("userAgent", `{"browser":"x"}`),
			[]string{"userAgent: a JSON object, want string"}, []string{attrUserAgent}, []string{attrClientAddress}},
		{"message a number", set("message", `42`),
			[]string{"message: a JSON number, want string"}, nil, []string{attrUserName}},
		{"oauth a boolean", set("oauth", `true`),
			[]string{"oauth: a JSON true, want object"}, []string{attrOAuthClientID, attrOAuthName}, nil},
		{"oauth clientId an array", set("oauth", `{"clientId":[1],"name":"app"}`),
			[]string{"oauth.clientId: a JSON array, want string"}, []string{attrOAuthClientID}, []string{attrOAuthName}},
		{"two fields at once", set("location", `{"country":"FR","city":{"name":"Paris"}}`, "token", `[]`),
			[]string{"location.city: a JSON object, want string", "token: a JSON array, want object"}, []string{attrTokenID, attrLocationCity}, []string{attrLocationCountry}},
		{"data a string", set("data", `"x"`), nil, nil, []string{attrData}},
		{"data a number", set("data", `5.5`), nil, nil, []string{attrData}},
		{"data an array", set("data", `[1,"a",{"b":null},[true]]`), nil, nil, []string{attrData}},
		{"data a boolean", set("data", `false`), nil, nil, []string{attrData}},
		{"data null", set("data", `null`), nil, []string{attrData}, nil},
		{"data an empty string", set("data", `""`), nil, []string{attrData}, []string{attrUserName}},
		{"data deeply nested", set("data", `{"a":{"b":{"c":[{"d":[1e300,-0,"é\u0000"]}]}}}`), nil, nil, []string{attrData}},
		{"optional fields null", set("location", `null`), nil, []string{attrLocationCity}, []string{attrUserName}},
		{"unknown fields", set("newField", `{"any":[1,2]}`), nil, nil, []string{attrUserName}},
		// Nesting, built by hand (fastjson reads 300 levels at most).
		{"data as deep as a record holds", strings.Replace(full, dataMember, `"data":`+nestedArray(maxDataDepth), 1), nil, nil, []string{attrData}},
		{"data deeper than a record holds", strings.Replace(full, dataMember, `"data":`+nestedArray(maxDataDepth+100), 1),
			[]string{"data: nested 400 levels deep, more than the 300 a record holds"}, []string{attrData}, []string{attrUserName}},
		{"a city nested 400 deep", strings.Replace(full, `"city":"Paris"`, `"city":`+nestedArray(400), 1),
			[]string{"location.city: a JSON array, want string"}, []string{attrLocationCity}, []string{attrLocationCountry}},
		{"an unknown field nested 5,000 deep", full + `,"newField":` + nestedArray(5000), nil, nil, []string{attrData}},
		{"an unknown field nested 50,000 deep, objects and arrays", full + `,"newField":` + strings.Repeat(`{"a":[1,{},[],`, 50_000) + "null" + strings.Repeat("]}", 50_000), nil, nil, []string{attrData}},
		{"data nested 20,000 deep", strings.Replace(full, dataMember, `"data":`+nestedArray(20_000), 1),
			[]string{"data: nested 20000 levels deep, more than the 300 a record holds"}, []string{attrData}, []string{attrUserName}},
	}
	unusable := []struct{ name, event string }{
		{"_id a number", `{"_id":5,"createdAt":"2026-11-20T10:00:00Z","type":"repo.create"}`},
		{"_id missing", `{"createdAt":"2026-11-20T10:00:00Z","type":"repo.create"}`},
		{"_id empty", `{"_id":"","createdAt":"2026-11-20T10:00:00Z","type":"repo.create"}`},
		{"createdAt a number", `{"_id":"6650a1b2c3d4e5f6000000f1","createdAt":1795168800000,"type":"repo.create"}`},
		{"createdAt not RFC 3339", `{"_id":"6650a1b2c3d4e5f6000000f2","createdAt":"yesterday","type":"repo.create"}`},
		{"createdAt past 2262", `{"_id":"6650a1b2c3d4e5f6000000f3","createdAt":"9999-12-31T00:00:00Z","type":"repo.create"}`},
		{"createdAt before 1678", `{"_id":"6650a1b2c3d4e5f6000000f4","createdAt":"1500-01-01T00:00:00Z","type":"repo.create"}`},
		{"createdAt before 1970", `{"_id":"6650a1b2c3d4e5f6000000f9","createdAt":"1969-07-20T20:17:40Z","type":"repo.create"}`},
		{"createdAt the Unix epoch", `{"_id":"6650a1b2c3d4e5f6000000fa","createdAt":"1970-01-01T00:00:00.000Z","type":"repo.create"}`},
		{"type a number", `{"_id":"6650a1b2c3d4e5f6000000f5","createdAt":"2026-11-20T10:00:00Z","type":5}`},
		{"type missing", `{"_id":"6650a1b2c3d4e5f6000000f6","createdAt":"2026-11-20T10:00:00Z"}`},
		{"not an object", `["6650a1b2c3d4e5f6000000f7"]`},
	}

	ctx := context.Background()
	h := onFakeHub(t)
	var events []string
	ids := map[string]int{} // _id -> drift case
	base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for i, c := range drift {
		id := fmt.Sprintf("6650a1b2c3d4e5f6%08x", i)
		ids[id] = i
		events = append(events, `{"_id":"`+id+`","createdAt":"`+base.Add(time.Duration(i)*time.Second).Format(time.RFC3339)+`",`+c.members+`}`)
	}
	for _, u := range unusable {
		events = append(events, u.event)
	}
	h.hub.set(events...)
	sink := new(consumertest.LogsSink)
	r := h.newReceiver(sink, func(c *Config) { c.IncludeRaw = false })
	ext := startFileStorage(t, h.storageDir)
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(ctx)) })
	require.NoError(t, r.setup(ctx, h.host(ext)))
	defer func() { require.NoError(t, r.Shutdown(ctx)) }()
	r.poll(ctx)
	r.poll(ctx) // nothing new: the drifted events are not emitted again

	require.Equal(t, len(drift), sink.LogRecordCount(), "every event with a usable _id, createdAt and type")
	wantCounts := map[string]int64{}
	for _, ld := range sink.AllLogs() {
		records := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		for k := range records.Len() {
			attrs := records.At(k).Attributes()
			uid, _ := attrs.Get(attrRecordUID)
			i, ok := ids[uid.Str()]
			require.True(t, ok, uid.Str())
			c := drift[i]
			t.Run(c.name, func(t *testing.T) {
				var got []string
				if v, ok := attrs.Get(attrDecodeErrors); ok {
					for _, e := range v.Slice().AsRaw() {
						got = append(got, e.(string))
					}
				}
				assert.Equal(t, c.dropped, got)
				for _, a := range c.absent {
					_, ok := attrs.Get(a)
					assert.False(t, ok, "%s is left out", a)
				}
				for _, a := range c.present {
					_, ok := attrs.Get(a)
					assert.True(t, ok, "%s is kept", a)
				}
				raw, ok := attrs.Get(attrRaw)
				if len(c.dropped) > 0 {
					require.True(t, ok, "huggingface.raw is kept when fields are left out")
					assert.Equal(t, events[i], raw.Str(), "byte for byte")
				} else {
					assert.False(t, ok, "include_raw is off")
				}
			})
			for _, d := range c.dropped {
				wantCounts[d[:strings.Index(d, ":")]]++
			}
		}
	}
	var want []metricdata.DataPoint[int64]
	for field, n := range wantCounts {
		want = append(want, point(n, "field", field))
	}
	metadatatest.AssertEqualReceiverHuggingfaceauditFieldsDropped(t, h.tel, want, ignoreTime)
	metadatatest.AssertEqualReceiverHuggingfaceauditEventsSkipped(t, h.tel, points(int64(len(unusable)), "reason", "invalid"), ignoreTime)
	assert.Len(t, h.logs.FilterMessage("Skipping an invalid event").All(), len(unusable))
}

// A whoami that fails while the Hub is coming back, just before an export
// that succeeds, is asked again before the records are built: the pass
// still marks the receiver's own exports.
func TestSelfExportWhoamiAskedAgainAfterTheExport(t *testing.T) {
	h := onHubWithWhoami(t, "audit-bot", 1)
	h.hub.set(selfExport("6650a1b2c3d4e5f600000001", "2026-11-20T10:00:00Z", "audit-bot", "203.0.113.10"))
	r, sink := startWithSink(t, h)
	got := pollRecords(t, r, sink)
	require.Len(t, got, 1)
	assert.True(t, isSelf(got["6650a1b2c3d4e5f600000001"]), "marked in the same poll")
}

// The self-export addresses are kept for the life of the receiver: they
// must be copies, not strings pointing into a batch's bytes, or each one
// would keep a whole batch alive.
func TestSelfExportAddressesAreCopies(t *testing.T) {
	raw := []byte(`{"_id":"6650a1b2c3d4e5f601234567","createdAt":"2026-11-20T10:00:00Z","type":"org.audit_log.export","message":"m","ip":"203.0.113.7","author":{"user":"bot"},"token":{"last4":"abcd"}}`)
	ev, err := eventDecoder{}.decode(raw)
	require.NoError(t, err)
	s := selfIdentity{tokenLast4: "abcd", author: tokenOwner{Name: "bot"}}
	require.True(t, s.matches(&ev))
	s.droppable(&ev)
	s.settle()
	require.Len(t, s.addresses, 1)
	lo, hi := uintptr(unsafe.Pointer(&raw[0])), uintptr(unsafe.Pointer(&raw[len(raw)-1]))
	for addr := range s.addresses {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(addr))); p >= lo && p <= hi {
			t.Errorf("address %q points into the event's bytes", addr)
		}
	}
}

// A number in data that no double holds (1e400) keeps its value, as its
// text. As a double it was +Inf: the record's attributes then had no JSON
// form, so huggingface.data came out empty in AsString (the ClickHouse
// exporter's map column) and json.Marshal (its json mode) failed the whole
// batch.
func TestDataNumberBeyondADouble(t *testing.T) {
	h := onFakeHub(t)
	h.hub.set(
		`{"_id":"6650a1b2c3d4e5f600000001","createdAt":"2026-11-20T10:00:00Z","type":"repo.update","message":"m",`+
			`"data":{"repo":{"name":"acme/m","type":"model"},"quota":1e400,"list":[-2E+999,1.5,7]}}`,
		`{"_id":"6650a1b2c3d4e5f600000002","createdAt":"2026-11-20T10:00:01Z","type":"repo.update","message":"m","data":-1e400}`,
	)
	r, sink := startWithSink(t, h, func(c *Config) { c.IncludeRaw = false })
	got := pollRecords(t, r, sink)
	require.Len(t, got, 2)

	attrs := got["6650a1b2c3d4e5f600000001"].Attributes()
	_, err := json.Marshal(attrs.AsRaw())
	require.NoError(t, err, "the attributes have a JSON form")
	data, ok := attrs.Get(attrData)
	require.True(t, ok)
	assert.JSONEq(t, `{"repo":{"name":"acme/m","type":"model"},"quota":"1e400","list":["-2E+999",1.5,7]}`, data.AsString())
	res, _ := attrs.Get(attrResources)
	assert.Equal(t, []any{"model:acme/m"}, res.Slice().AsRaw())

	data, ok = got["6650a1b2c3d4e5f600000002"].Attributes().Get(attrData)
	require.True(t, ok)
	assert.Equal(t, "-1e400", data.Str())
}

// drop_self_exports drops only from an address on record, so a self export
// whose address cannot be read (ip of another JSON type, or none) is never
// dropped: all such exports looked like one address, "", and every one
// after the first was dropped, from wherever it came.
func TestDropSelfExportsKeepsThoseWithoutAnAddress(t *testing.T) {
	h := onHubWithWhoami(t, "audit-bot", 0)
	withIP := func(id, createdAt, ip string) string {
		return strings.Replace(selfExport(id, createdAt, "audit-bot", "IP"), `"ip":"IP"`, ip, 1)
	}
	h.hub.set(
		selfExport("6650a1b2c3d4e5f600000001", "2026-11-20T10:00:00Z", "audit-bot", "203.0.113.10"),
		withIP("6650a1b2c3d4e5f600000002", "2026-11-20T10:05:00Z", `"ip":{"address":"198.51.100.7"}`),
		withIP("6650a1b2c3d4e5f600000003", "2026-11-20T10:10:00Z", `"ip":{"address":"192.0.2.44"}`),
		withIP("6650a1b2c3d4e5f600000004", "2026-11-20T10:15:00Z", `"ip":["192.0.2.45"]`),
		withIP("6650a1b2c3d4e5f600000005", "2026-11-20T10:20:00Z", `"ip":null`),
		selfExport("6650a1b2c3d4e5f600000006", "2026-11-20T10:25:00Z", "audit-bot", "203.0.113.10"),
	)
	r, sink := startWithSink(t, h, func(c *Config) { c.DropSelfExports = true })
	got := pollRecords(t, r, sink)
	for _, id := range []string{"6650a1b2c3d4e5f600000001", "6650a1b2c3d4e5f600000002", "6650a1b2c3d4e5f600000003", "6650a1b2c3d4e5f600000004", "6650a1b2c3d4e5f600000005"} {
		require.Contains(t, got, id, "a self export from an address not on record is kept")
		assert.True(t, isSelf(got[id]))
	}
	assert.NotContains(t, got, "6650a1b2c3d4e5f600000006", "the address is on record")
	_, ok := got["6650a1b2c3d4e5f600000003"].Attributes().Get(attrDecodeErrors)
	assert.True(t, ok)
}

// The token's user renamed: the Hub shows the new name on every event and
// whoami the new name too, but the user's ID stays. The receiver's own
// exports are still recognised after the rename, by that ID.
func TestSelfExportSurvivesARename(t *testing.T) {
	const botID = "65a0b1c2d3e4f5a6b7c8d9e0"
	var name atomic.Value
	name.Store("audit-bot")
	h := onHubWithWhoamiHandler(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"type":"user","id":"`+botID+`","name":"`+name.Load().(string)+`"}`)
	})
	r, sink := startWithSink(t, h)
	h.hub.set(selfExport("6650a1b2c3d4e5f600000001", "2026-11-20T10:00:00Z", "audit-bot", "203.0.113.10"))
	require.True(t, isSelf(pollRecords(t, r, sink)["6650a1b2c3d4e5f600000001"]))

	name.Store("audit-bot-2")
	h.hub.set(
		selfExport("6650a1b2c3d4e5f600000001", "2026-11-20T10:00:00Z", "audit-bot-2", "203.0.113.10"),
		selfExport("6650a1b2c3d4e5f600000002", "2026-11-20T10:05:00Z", "audit-bot-2", "203.0.113.10"))
	got := pollRecords(t, r, sink)
	require.Contains(t, got, "6650a1b2c3d4e5f600000002")
	assert.True(t, isSelf(got["6650a1b2c3d4e5f600000002"]), "the same user, renamed, is still the token's user")
}

// Another user whose name is the token user's old name (taken after a
// rename) is not the receiver's: the IDs differ.
func TestSelfExportNotByANameAlone(t *testing.T) {
	h := onHubWithWhoamiHandler(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"type":"user","id":"65a0b1c2d3e4f5a6b7c8d9ee","name":"audit-bot"}`)
	})
	r, sink := startWithSink(t, h)
	h.hub.set(selfExport("6650a1b2c3d4e5f600000001", "2026-11-20T10:00:00Z", "audit-bot", "203.0.113.10"))
	got := pollRecords(t, r, sink)
	require.Contains(t, got, "6650a1b2c3d4e5f600000001")
	assert.False(t, isSelf(got["6650a1b2c3d4e5f600000001"]), "same name, another user ID")
}

// A whoami answer whose id is not a string still names the token's user.
func TestSelfExportWhoamiWithAnOddID(t *testing.T) {
	h := onHubWithWhoamiHandler(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"type":"user","id":12345,"name":"audit-bot"}`)
	})
	r, sink := startWithSink(t, h)
	h.hub.set(selfExport("6650a1b2c3d4e5f600000001", "2026-11-20T10:00:00Z", "audit-bot", "203.0.113.10"))
	assert.True(t, isSelf(pollRecords(t, r, sink)["6650a1b2c3d4e5f600000001"]))
}

// After an upgrade the export made by the previous version (its version in
// the User-Agent) is read by the new one: it is still the receiver's own.
func TestSelfExportOfAnotherVersion(t *testing.T) {
	h := onHubWithWhoami(t, "audit-bot", 0)
	old := strings.Replace(selfExport("6650a1b2c3d4e5f600000001", "2026-11-20T10:00:00Z", "audit-bot", "203.0.113.10"),
		"otelcol-huggingfaceaudit/test", "otelcol-huggingfaceaudit/0.9.0", 1)
	other := strings.Replace(selfExport("6650a1b2c3d4e5f600000002", "2026-11-20T10:00:01Z", "audit-bot", "203.0.113.10"),
		"otelcol-huggingfaceaudit/test", "python-requests/2.32", 1)
	h.hub.set(old, other)
	r, sink := startWithSink(t, h)
	got := pollRecords(t, r, sink)
	assert.True(t, isSelf(got["6650a1b2c3d4e5f600000001"]), "another version of the receiver")
	assert.False(t, isSelf(got["6650a1b2c3d4e5f600000002"]), "another client with the token")
}
