package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

const testPayload = `{"detection":"huggingface-sso-disabled","display_name":"SSO Disabled","severity":"Critical","risk_score":90,` +
	`"mitre":{"tactics":["TA0005"],"techniques":["T1556"]},"organization":"acme","actor":"vera","event_count":1,` +
	`"event_ids":["6650a1b2c3d4e5f6a7b8c9d0"],"first_seen":"2026-06-10 11:50:00","last_seen":"2026-06-10 11:50:00",` +
	`"dedup_key":"huggingface-sso-disabled|acme|vera|2026-06-10T11:50:00Z|6650a1b2c3d4e5f6a7b8c9d0"}`

var ssoFinding = pendingFinding{DedupKey: "huggingface-sso-disabled|acme|vera|2026-06-10T11:50:00Z|6650a1b2c3d4e5f6a7b8c9d0",
	Detection: "huggingface-sso-disabled", Payload: testPayload}

// capture answers status and keeps the last request.
type capture struct {
	status  int
	header  http.Header
	body    []byte
	path    string
	headers http.Header
}

func (c *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.body, _ = io.ReadAll(r.Body)
	c.path, c.headers = r.URL.Path, r.Header.Clone()
	for k, v := range c.header {
		w.Header()[k] = v
	}
	w.WriteHeader(c.status)
}

func TestWebhookSend(t *testing.T) {
	c := &capture{status: http.StatusAccepted}
	srv := httptest.NewServer(c)
	defer srv.Close()
	wh := webhook{url: srv.URL + "/hooks/T0/s3cret", client: srv.Client()}
	if err := wh.Send(context.Background(), ssoFinding); err != nil {
		t.Fatal(err)
	}
	if string(c.body) != testPayload || c.headers.Get("Content-Type") != "application/json" {
		t.Errorf("sent %q (%s)", c.body, c.headers.Get("Content-Type"))
	}
	if id := wh.ID(); !strings.HasPrefix(id, "webhook:") || strings.Contains(id, "s3cret") || id != (webhook{url: wh.url}).ID() {
		t.Errorf("ID %q: want stable, without the URL", id)
	}

	c.status, c.header = http.StatusTooManyRequests, http.Header{"Retry-After": {"30"}}
	err := wh.Send(context.Background(), ssoFinding)
	var se *sendError
	if !errors.As(err, &se) || se.status != 429 || se.retryAfter != 30*time.Second {
		t.Errorf("429: %#v", err)
	}
	// An HTTP date counts; a wait of years (a bad header) is capped, so one
	// answer cannot mute the channel until a restart.
	for _, tc := range []struct {
		header string
		min    time.Duration
		max    time.Duration
	}{
		{time.Now().Add(10 * time.Minute).UTC().Format(http.TimeFormat), 9 * time.Minute, 10 * time.Minute},
		{"999999999", maxChannelWait, maxChannelWait},
		{"99999999999999999999999", maxChannelWait, maxChannelWait},
		{time.Now().AddDate(30, 0, 0).UTC().Format(http.TimeFormat), maxChannelWait, maxChannelWait},
	} {
		c.header = http.Header{"Retry-After": {tc.header}}
		err := wh.Send(context.Background(), ssoFinding)
		if !errors.As(err, &se) || se.retryAfter < tc.min || se.retryAfter > tc.max {
			t.Errorf("Retry-After %q: %#v, want a wait in [%v, %v]", tc.header, err, tc.min, tc.max)
		}
	}
	// Nothing listens: the error names the failure, never the URL (its secret).
	srv.Close()
	err = wh.Send(context.Background(), ssoFinding)
	if err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "/hooks/") {
		t.Errorf("error %v: want one without the URL", err)
	}
}

func TestSlackSend(t *testing.T) {
	c := &capture{status: http.StatusOK}
	srv := httptest.NewServer(c)
	defer srv.Close()
	if err := (slack{url: srv.URL, client: srv.Client()}).Send(context.Background(), ssoFinding); err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(c.body, &msg); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[Critical] SSO Disabled", "actor `vera` in `acme`", "6650a1b2c3d4e5f6a7b8c9d0", ssoFinding.DedupKey, "TA0005 T1556"} {
		if !strings.Contains(msg.Text, want) {
			t.Errorf("Slack text lacks %q:\n%s", want, msg.Text)
		}
	}
}

func TestOTLPSend(t *testing.T) {
	c := &capture{status: http.StatusOK}
	srv := httptest.NewServer(c)
	defer srv.Close()
	o := otlp{url: srv.URL + "/v1/logs", headers: map[string]string{"Authorization": "Bearer tok"}, client: srv.Client()}
	if err := o.Send(context.Background(), ssoFinding); err != nil {
		t.Fatal(err)
	}
	if c.path != "/v1/logs" || c.headers.Get("Content-Type") != "application/x-protobuf" || c.headers.Get("Authorization") != "Bearer tok" {
		t.Errorf("request %s %v", c.path, c.headers)
	}
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(c.body); err != nil {
		t.Fatal(err)
	}
	ld := req.Logs()
	if ld.LogRecordCount() != 1 {
		t.Fatalf("%d records, want one per finding", ld.LogRecordCount())
	}
	lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	a := lr.Attributes()
	key, _ := a.Get("huggingface.finding.dedup_key")
	det, _ := a.Get("huggingface.detection")
	ids, _ := a.Get("huggingface.finding.event_ids")
	if key.Str() != ssoFinding.DedupKey || det.Str() != "huggingface-sso-disabled" || ids.Slice().Len() != 1 ||
		lr.SeverityNumber() != plog.SeverityNumberFatal || lr.SeverityText() != "Critical" || lr.EventName() != "huggingface.finding" {
		t.Errorf("record: %v severity %v", a.AsRaw(), lr.SeverityNumber())
	}
	if want := time.Date(2026, 6, 10, 11, 50, 0, 0, time.UTC); !lr.Timestamp().AsTime().Equal(want) {
		t.Errorf("timestamp %v, want the finding's last event", lr.Timestamp().AsTime())
	}
	if body := lr.Body().Map().AsRaw(); body["actor"] != "vera" || body["dedup_key"] != ssoFinding.DedupKey {
		t.Errorf("body %v", body)
	}
}

// A channel that redirects to another host is refused before anything
// goes there: the channel's headers (an API key) and the Referer Go would
// set (the webhook URL, its secret) stay with its own host. A redirect
// within the host is followed.
func TestChannelRedirects(t *testing.T) {
	const secret = "otlp-api-key-S3cret"
	var mu sync.Mutex
	var leaked []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		leaked = append(leaked, r.Header.Get("Api-Key")+" "+r.Header.Get("Referer"))
		mu.Unlock()
	}))
	defer other.Close()
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1) // another host
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			return // within the host: 200
		}
		target := otherURL + "/v1/logs"
		if r.URL.Path == "/same-host" {
			target = "/moved"
		}
		http.Redirect(w, r, target, http.StatusPermanentRedirect)
	}))
	defer first.Close()

	var fc fileConfig
	fc.Channels.OTLP = append(fc.Channels.OTLP, struct {
		Endpoint configopaque.String            `mapstructure:"endpoint"`
		Headers  map[string]configopaque.String `mapstructure:"headers"`
	}{Endpoint: configopaque.String(first.URL + "/v1/logs"), Headers: map[string]configopaque.String{"Api-Key": secret}})
	var cfg config
	webhooks := []string{first.URL + "/services/T0/B0/webhook-S3cret", first.URL + "/same-host"}
	if err := watchChannels(&cfg, fc, webhooks, "", "", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, ch := range cfg.wcfg.channels {
		err := ch.Send(context.Background(), ssoFinding)
		if strings.HasSuffix(channelURL(ch), "/same-host") {
			if err != nil {
				t.Errorf("a redirect within the host: %v", err)
			}
			continue
		}
		if err == nil || strings.Contains(err.Error(), "S3cret") || strings.Contains(err.Error(), "localhost") {
			t.Errorf("%s: error %v, want a refusal that names no URL", ch.ID(), err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(leaked) > 0 {
		t.Errorf("requests reached the other host: %q", leaked)
	}
}

// A 301, 302 or 303 within the host makes Go repeat the POST as a GET
// without its body. Behind a sign-in proxy (302 to /login, a 200 page) the
// finding was marked sent while nobody received it. Such a redirect is a
// failed delivery, retried; a 307 or 308 keeps the POST and is followed.
func TestChannelRedirectToGetIsNotDelivered(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+strconv.Itoa(len(body)))
		mu.Unlock()
		switch r.URL.Path {
		case "/hook":
			http.Redirect(w, r, "/login", http.StatusFound)
		case "/hook-307":
			http.Redirect(w, r, "/hook-new", http.StatusTemporaryRedirect)
		}
		// /login: a sign-in page, 200; /hook-new: the webhook, 200
	}))
	defer srv.Close()
	var cfg config
	if err := watchChannels(&cfg, fileConfig{}, []string{srv.URL + "/hook", srv.URL + "/hook-307"}, "", "", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := cfg.wcfg.channels[0].Send(context.Background(), ssoFinding); err == nil {
		mu.Lock()
		t.Errorf("a 302 to a sign-in page counted as delivered; the server saw %q", got)
		mu.Unlock()
	}
	if err := cfg.wcfg.channels[1].Send(context.Background(), ssoFinding); err != nil {
		t.Errorf("a 307 within the host: %v", err)
	}
}
