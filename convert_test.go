package huggingfaceauditreceiver

import (
	"bytes"
	"context"
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

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fastjson"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

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
		self: selfIdentity{tokenLast4: "abcd", userAgent: "otelcol-huggingfaceaudit/test", author: "audit-bot"},
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(raw)
	require.NoError(t, err)
	id, createdAt, err := eventKey(v)
	require.NoError(t, err)
	pending := []pendingEvent{{id: string(id), createdAt: createdAt, raw: raw}}
	observed := pcommon.NewTimestampFromTime(time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC))
	out, _ := r.buildLogs(t.Context(), pending, observed)
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
		require.Equal(t, simulator.DefaultTokenOwner, r.conv.self.author)
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
		assert.Contains(t, savedCursor(t, r).seen, ids[6], "a dropped self export still moves the cursor")
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
	hub := &fakeHub{}
	var whoamiCalls atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/whoami-v2", func(w http.ResponseWriter, _ *http.Request) {
		if int(whoamiCalls.Add(1)) <= failures {
			http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, `{"type":"user","name":"`+user+`"}`)
	})
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
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			lrs := ld.ResourceLogs().At(i).ScopeLogs().At(0).LogRecords()
			for j := 0; j < lrs.Len(); j++ {
				uid, _ := lrs.At(j).Attributes().Get(attrRecordUID)
				out[uid.Str()] = lrs.At(j)
			}
		}
	}
	return out
}

// startWithSink sets up a receiver of h that sends to a sink.
func startWithSink(t *testing.T, h *harness, mutate ...func(*Config)) (*auditReceiver, *consumertest.LogsSink) {
	t.Helper()
	sink := &consumertest.LogsSink{}
	ext := startFileStorage(t, h.storageDir)
	r := h.newReceiver(sink, mutate...)
	require.NoError(t, r.setup(t.Context(), h.host(ext)))
	t.Cleanup(func() {
		require.NoError(t, r.Shutdown(context.Background()))
		require.NoError(t, ext.Shutdown(context.Background()))
	})
	return r, sink
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
			h := onHubWithWhoami(t, "audit-bot", 1)
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
			assert.Equal(t, "audit-bot", r.conv.self.author, "asked again, and known")
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

func TestDecodeEventRejectsWrongTypes(t *testing.T) {
	tests := map[string]string{
		"not an object":           `["x"]`,
		"missing _id":             `{"createdAt":"2026-11-20T10:00:00Z","type":"repo.create","message":"m","author":{}}`,
		"numeric createdAt":       `{"_id":"6650a1b2c3d4e5f601234567","createdAt":1700000000,"type":"repo.create"}`,
		"unparsable time":         `{"_id":"6650a1b2c3d4e5f601234567","createdAt":"yesterday","type":"repo.create"}`,
		"missing type":            `{"_id":"6650a1b2c3d4e5f601234567","createdAt":"2026-11-20T10:00:00Z"}`,
		"author as string":        `{"_id":"6650a1b2c3d4e5f601234567","createdAt":"2026-11-20T10:00:00Z","type":"repo.create","author":"alice"}`,
		"ip as number":            `{"_id":"6650a1b2c3d4e5f601234567","createdAt":"2026-11-20T10:00:00Z","type":"repo.create","ip":5}`,
		"token deleted as string": `{"_id":"6650a1b2c3d4e5f601234567","createdAt":"2026-11-20T10:00:00Z","type":"repo.create","token":{"type":"access_token","id":"x","deleted":"no"}}`,
		"message as object":       `{"_id":"6650a1b2c3d4e5f601234567","createdAt":"2026-11-20T10:00:00Z","type":"repo.create","message":{}}`,
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			var p fastjson.Parser
			v, err := p.Parse(raw)
			require.NoError(t, err)
			_, err = decodeEvent(v)
			assert.Error(t, err)
		})
	}
}

func TestReadOnlyRule(t *testing.T) {
	for typ, want := range map[string]bool{
		"org.audit_log.export": true, "org.sso_login": true, "org.settings.inference_providers.usage": true,
		"repo.create": false, "org.change_role": false, "org.unknown_future.thing": false, "oauth.token": false,
	} {
		assert.Equal(t, want, isReadOnly([]byte(typ)), typ)
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
