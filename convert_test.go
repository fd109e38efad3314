package huggingfaceauditreceiver

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fastjson"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
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

	// drop_self_exports leaves it out.
	_, _, out = convertFile(t, filepath.Join("testdata", "convert", "self_export.json"), true)
	assert.Zero(t, mustUnmarshalLogs(t, out).LogRecordCount())
}

// Through a poll against the simulator: the receiver's own export calls,
// recognised by the token owner (whoami), come back marked, or are dropped.
func TestSelfExportsInAPoll(t *testing.T) {
	ctx := context.Background()
	for _, drop := range []bool{false, true} {
		h := onSim(t, simulator.Options{InitialEvents: 5, InitialSpan: time.Minute})
		r, _ := h.start(func(c *Config) { c.DropSelfExports = drop })
		r.conv.self.author = r.client.whoami(ctx, r.cfg.Endpoint) // as run() does
		require.Equal(t, simulator.DefaultTokenOwner, r.conv.self.author)
		r.poll(ctx)
		r.poll(ctx) // sees the export event of the first poll
		if drop {
			assert.Len(t, h.next.accepted(), 5)
			metadatatest.AssertEqualReceiverHuggingfaceauditEventsSkipped(t, h.tel, points(1, "reason", "self_export"), ignoreTime)
		} else {
			assert.Len(t, h.next.accepted(), 6)
			h.assertNoMetric("events_skipped")
		}
		assert.True(t, savedCursor(t, r).seen.has([]byte(h.sim.EventIDs()[5])), "a dropped self export still moves the cursor")
	}
}

// A batch holding dropped self exports that the pipeline refuses is offered
// again in the next poll: each self export is counted once, when it settles.
func TestSelfExportCountedOnceAcrossARefusedBatch(t *testing.T) {
	ctx := context.Background()
	h := onSim(t, simulator.Options{InitialEvents: 5, InitialSpan: time.Minute})
	r, _ := h.start(func(c *Config) { c.DropSelfExports = true; c.RetryOnFailure.Enabled = false })
	r.conv.self.author = r.client.whoami(ctx, r.cfg.Endpoint) // as run() does
	r.poll(ctx)
	added := h.sim.Add(1)
	h.next.fail(errors.New("exporter queue is full"))
	r.poll(ctx) // the first poll's export event and the new one: refused
	require.Len(t, h.next.accepted(), 5)
	r.poll(ctx) // offered again with the second poll's export event, accepted
	assert.Equal(t, added, h.next.accepted()[5:])
	metadatatest.AssertEqualReceiverHuggingfaceauditEventsSkipped(t, h.tel, points(2, "reason", "self_export"), ignoreTime)
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
