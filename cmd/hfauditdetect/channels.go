package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/retryafter"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/sameorigin"
)

// A channel sends one finding to people or systems. Its URL may hold a
// secret (Slack and webhook URLs do): only ID is ever logged.
type channel interface {
	// ID names the channel in logs and in huggingface_finding_deliveries:
	// the kind and a hash of the URL, stable across restarts.
	ID() string
	// Send delivers the finding; nil only after a 2xx answer.
	Send(ctx context.Context, f pendingFinding) error
}

// channelID is kind:first 12 hex digits of the URL's SHA-256.
func channelID(kind, rawURL string) string {
	sum := sha256.Sum256([]byte(rawURL))
	return kind + ":" + hex.EncodeToString(sum[:6])
}

// sendError is a delivery that failed; it never holds the URL.
type sendError struct {
	status     int           // HTTP status, 0 when none came back
	retryAfter time.Duration // the receiver's Retry-After, when sent
	err        error
}

// maxChannelWait caps the wait a channel asks for: a bad Retry-After (a
// date years ahead) would otherwise mute it until a restart.
const maxChannelWait = time.Hour

func (e *sendError) Error() string {
	if e.status != 0 {
		return fmt.Sprintf("HTTP %d", e.status)
	}
	return e.err.Error()
}

// post sends body to u and returns nil on a 2xx. Errors never carry u: the
// URL of a webhook is its secret.
func post(ctx context.Context, client *http.Client, u string, headers map[string]string, contentType string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return &sendError{err: errors.New("invalid URL")}
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "hfauditdetect")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		return &sendError{err: err}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	return &sendError{status: resp.StatusCode, retryAfter: min(retryafter.Parse(resp.Header, time.Now()), maxChannelWait)}
}

// sameOriginRedirects follows a channel's redirect only within its own
// origin: elsewhere, the channel's headers (an API key) and the Referer Go
// sets (the webhook URL, which is its secret) would go along. A 301, 302 or
// 303 is refused too: Go would repeat the POST as a GET without the
// finding, and a 200 to it (a sign-in page) would count as delivered. The
// error names no URL.
func sameOriginRedirects(req *http.Request, via []*http.Request) error {
	if req.Method != via[0].Method {
		return errors.New("redirect that turns the POST into a GET refused: the finding would not go along (only 307 and 308 keep it)")
	}
	return sameOriginCheck(req, via)
}

var sameOriginCheck = sameorigin.CheckRedirect(func(*url.URL) error {
	return errors.New("redirect to another host refused: the channel's URL and headers go to its own host only")
})

// webhook POSTs each finding as its JSON object (the -format json fields
// and dedup_key).
type webhook struct {
	url    string
	client *http.Client
}

func (w webhook) ID() string { return channelID("webhook", w.url) }

func (w webhook) Send(ctx context.Context, f pendingFinding) error {
	return post(ctx, w.client, w.url, nil, "application/json", []byte(f.Payload))
}

// slack POSTs each finding as a Slack incoming-webhook message.
type slack struct {
	url    string
	client *http.Client
}

func (s slack) ID() string { return channelID("slack", s.url) }

func (s slack) Send(ctx context.Context, f pendingFinding) error {
	body, err := json.Marshal(map[string]string{"text": slackText(f)})
	if err != nil {
		return err
	}
	return post(ctx, s.client, s.url, nil, "application/json", body)
}

// payloadFields are the fields of a finding's payload the messages use.
type payloadFields struct {
	Detection   string   `json:"detection"`
	DisplayName string   `json:"display_name"`
	Severity    string   `json:"severity"`
	RiskScore   int      `json:"risk_score"`
	Mitre       mitre    `json:"mitre"`
	Org         string   `json:"organization"`
	Actor       string   `json:"actor"`
	EventCount  int64    `json:"event_count"`
	EventIDs    []string `json:"event_ids"`
	FirstSeen   string   `json:"first_seen"`
	LastSeen    string   `json:"last_seen"`
	DedupKey    string   `json:"dedup_key"`
	Findings    []string `json:"findings"`
}

// slackText is one short message in Slack's mrkdwn.
func slackText(f pendingFinding) string {
	var p payloadFields
	_ = json.Unmarshal([]byte(f.Payload), &p)
	var b strings.Builder
	fmt.Fprintf(&b, "*[%s] %s* (risk %d)\n", p.Severity, p.DisplayName, p.RiskScore)
	fmt.Fprintf(&b, "actor `%s` in `%s`: %d event(s) from %s to %s\n", p.Actor, p.Org, p.EventCount, p.FirstSeen, p.LastSeen)
	if len(p.Findings) > 0 {
		fmt.Fprintf(&b, "findings: %s\n", strings.Join(p.Findings, ", "))
	} else if len(p.EventIDs) > 0 {
		ids := p.EventIDs
		more := ""
		if len(ids) > 5 {
			ids, more = ids[:5], fmt.Sprintf(" (+%d more)", len(p.EventIDs)-5)
		}
		fmt.Fprintf(&b, "events: %s%s\n", strings.Join(ids, ", "), more)
	}
	fmt.Fprintf(&b, "MITRE %s · `%s`", strings.Join(append(append([]string(nil), p.Mitre.Tactics...), p.Mitre.Techniques...), " "), f.DedupKey)
	return b.String()
}

// otlp POSTs each finding as one OTLP/HTTP log record (protobuf).
type otlp struct {
	url     string
	headers map[string]string
	client  *http.Client
}

func (o otlp) ID() string { return channelID("otlp", o.url) }

func (o otlp) Send(ctx context.Context, f pendingFinding) error {
	body, err := plogotlp.NewExportRequestFromLogs(findingLogs(f, time.Now())).MarshalProto()
	if err != nil {
		return err
	}
	return post(ctx, o.client, o.url, o.headers, "application/x-protobuf", body)
}

// severityNumbers maps a detection's severity to the OTel log severity.
var severityNumbers = map[string]plog.SeverityNumber{
	"Low": plog.SeverityNumberInfo, "Medium": plog.SeverityNumberWarn,
	"High": plog.SeverityNumberError, "Critical": plog.SeverityNumberFatal,
}

// findingLogs is a finding as one log record: the payload as the body (a
// map), the identifying fields as attributes, the last event's time as the
// timestamp.
func findingLogs(f pendingFinding, now time.Time) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "hfauditdetect")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("github.com/hfauditlog/huggingfaceauditreceiver/cmd/hfauditdetect")
	lr := sl.LogRecords().AppendEmpty()
	var p payloadFields
	_ = json.Unmarshal([]byte(f.Payload), &p)
	var body map[string]any
	if err := json.Unmarshal([]byte(f.Payload), &body); err == nil {
		_ = lr.Body().SetEmptyMap().FromRaw(body)
	} else {
		lr.Body().SetStr(f.Payload)
	}
	lr.SetEventName("huggingface.finding")
	lr.SetSeverityText(p.Severity)
	lr.SetSeverityNumber(severityNumbers[p.Severity])
	if t, err := time.ParseInLocation(time.DateTime, p.LastSeen, time.UTC); err == nil {
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t))
	}
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(now))
	a := lr.Attributes()
	a.PutStr("huggingface.detection", f.Detection)
	a.PutStr("huggingface.finding.dedup_key", f.DedupKey)
	a.PutInt("huggingface.finding.risk_score", int64(p.RiskScore))
	a.PutStr("huggingface.organization", p.Org)
	a.PutStr("user.name", p.Actor)
	ids := a.PutEmptySlice("huggingface.finding.event_ids")
	for _, id := range p.EventIDs {
		ids.AppendEmpty().SetStr(id)
	}
	return ld
}
