package huggingfaceauditreceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"

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
			wantClass: classUnauthorized, wantLog: "401 from the Hub: the token is missing, invalid or expired", wantStatus: componentstatus.StatusPermanentError, wantCalls: 1},
		{name: "403 missing permission", opts: simulator.Options{Forbidden: true},
			wantClass: classForbidden, wantLog: "403 from the Hub: the token needs the org.auditLog.write permission on demo-org", wantStatus: componentstatus.StatusPermanentError, wantCalls: 1},
		{name: "404 unknown organization", mutate: func(c *Config) { c.Organization = "no-such-org" },
			wantClass: classNotFound, wantLog: `404 from the Hub: no organization "no-such-org"`, wantStatus: componentstatus.StatusPermanentError, wantCalls: 1},
		{name: "500 retried within the poll", fault: simulator.Fault500, faultTimes: 2,
			wantClass: classServer, wantStatus: componentstatus.StatusOK, wantCalls: 3, recoverable: true},
		{name: "502 until the budget is spent", fault: simulator.Fault502,
			wantClass: classServer, wantLog: "502 from the Hub", wantStatus: componentstatus.StatusRecoverableError},
		{name: "cut body retried", fault: simulator.FaultCut, faultTimes: 1,
			wantClass: classTruncated, wantStatus: componentstatus.StatusOK, wantCalls: 2, recoverable: true},
		{name: "malformed body fails the poll, not retried", fault: simulator.FaultMalformed,
			wantClass: classMalformed, wantLog: "is not valid JSON", wantStatus: componentstatus.StatusRecoverableError, wantCalls: 1},
		{name: "not an array", fault: simulator.FaultWrongType,
			wantClass: classMalformed, wantLog: "is not a JSON array", wantStatus: componentstatus.StatusRecoverableError, wantCalls: 1},
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
			metadatatest.AssertEqualReceiverHuggingfaceauditHTTPErrors(t, h.tel, points(int64(failed), "class", tt.wantClass), ignoreTime)
			require.NotNil(t, h.lastStatus())
			assert.Equal(t, tt.wantStatus, h.lastStatus().Status())
			if tt.wantLog != "" {
				assert.Contains(t, h.logText(), tt.wantLog)
			}
			if tt.recoverable {
				assert.Equal(t, h.sim.EventIDs(), h.next.accepted(), "a retried failure still delivers the poll")
			} else {
				assert.Empty(t, h.next.accepted())
				assert.Nil(t, savedCursor(t, r), "the cursor stays where it was")
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
