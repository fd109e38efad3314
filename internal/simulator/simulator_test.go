package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var fixedNow = time.Date(2026, 11, 20, 10, 0, 0, 123_000_000, time.UTC)

func fixedClock() time.Time { return fixedNow }

// newSim starts a simulator behind an httptest server.
func newSim(t *testing.T, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	if opts.Now == nil {
		opts.Now = fixedClock
	}
	sim, err := New(opts)
	require.NoError(t, err)
	ts := httptest.NewServer(sim)
	t.Cleanup(func() {
		ts.Close()
		sim.Close()
	})
	return sim, ts
}

type callOpts struct {
	org, token, q, userAgent string
	ctx                      context.Context
}

func call(t *testing.T, ts *httptest.Server, c callOpts) (*http.Response, []byte, error) {
	t.Helper()
	if c.org == "" {
		c.org = DefaultOrg
	}
	if c.token == "" {
		c.token = DefaultToken
	}
	if c.ctx == nil {
		c.ctx = context.Background()
	}
	u := ts.URL + "/api/organizations/" + c.org + "/audit-log/export"
	if c.q != "" {
		u += "?q=" + strings.ReplaceAll(c.q, " ", "+")
	}
	req, err := http.NewRequestWithContext(c.ctx, http.MethodGet, u, nil)
	require.NoError(t, err)
	if c.token != "-" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := ts.Client().Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// export calls the endpoint and decodes a 200 array.
func export(t *testing.T, ts *httptest.Server, c callOpts) []map[string]any {
	t.Helper()
	resp, body, err := call(t, ts, c)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var events []map[string]any
	require.NoError(t, json.Unmarshal(body, &events))
	return events
}

var (
	hexID      = regexp.MustCompile(`^[0-9a-f]{24}$`)
	createdAtR = regexp.MustCompile(`^((\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-((0[13578]|1[02])-(0[1-9]|[12]\d|3[01])|(0[469]|11)-(0[1-9]|[12]\d|30)|(02)-(0[1-9]|1\d|2[0-8])))T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?(Z)$`)
	millisR    = regexp.MustCompile(`\.\d{3}Z$`)
)

// checkObject reports keys outside allowed and missing required keys.
func checkObject(v any, allowed, required []string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want object, got %T", v)
	}
	for k := range m {
		if !slices.Contains(allowed, k) {
			return nil, fmt.Errorf("unexpected property %q", k)
		}
	}
	for _, k := range required {
		if _, ok := m[k]; !ok {
			return nil, fmt.Errorf("missing required property %q", k)
		}
	}
	return m, nil
}

func isString(v any) bool { _, ok := v.(string); return ok }

func isBool(v any) bool { _, ok := v.(bool); return ok }

// validateEvent applies the rules of shared/hf-audit-log-export.schema.json
// to one event. Deliberate deviation: ip and userAgent may be JSON null, which
// the receiver must tolerate (SPEC section 5). extraTypes lists accepted
// types outside the enum.
func validateEvent(ev map[string]any, extraTypes ...string) error {
	if _, err := checkObject(ev,
		[]string{"_id", "createdAt", "type", "data", "message", "ip", "location", "userAgent", "author", "token", "oauth"},
		[]string{"_id", "createdAt", "type", "message", "author"}); err != nil {
		return err
	}
	if id, _ := ev["_id"].(string); !hexID.MatchString(id) {
		return fmt.Errorf("_id %v", ev["_id"])
	}
	ts, _ := ev["createdAt"].(string)
	if !createdAtR.MatchString(ts) || !millisR.MatchString(ts) {
		return fmt.Errorf("createdAt %v", ev["createdAt"])
	}
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		return fmt.Errorf("createdAt: %w", err)
	}
	if typ, _ := ev["type"].(string); !slices.Contains(knownTypes, typ) && !slices.Contains(extraTypes, typ) {
		return fmt.Errorf("type %v not in enum", ev["type"])
	}
	if !isString(ev["message"]) {
		return errors.New("message not a string")
	}
	for _, k := range []string{"ip", "userAgent"} {
		if v, ok := ev[k]; ok && v != nil && !isString(v) {
			return fmt.Errorf("%s not a string", k)
		}
	}
	a, err := checkObject(ev["author"], []string{"_id", "user", "avatarUrl", "type", "deleted"}, []string{"_id", "user", "avatarUrl", "type"})
	if err != nil {
		return fmt.Errorf("author: %w", err)
	}
	if id, _ := a["_id"].(string); !hexID.MatchString(id) || !isString(a["user"]) || !isString(a["avatarUrl"]) {
		return fmt.Errorf("author fields %v", a)
	}
	if a["type"] != "user" && a["type"] != "system" {
		return fmt.Errorf("author.type %v", a["type"])
	}
	if d, ok := a["deleted"]; ok && !isBool(d) {
		return errors.New("author.deleted not a bool")
	}
	if v, ok := ev["location"]; ok {
		l, err := checkObject(v, []string{"formatted", "country", "city"}, []string{"formatted"})
		if err != nil {
			return fmt.Errorf("location: %w", err)
		}
		for _, x := range l {
			if !isString(x) {
				return errors.New("location field not a string")
			}
		}
	}
	if v, ok := ev["token"]; ok {
		tk, err := checkObject(v, []string{"type", "id", "role", "last4", "deleted"}, []string{"type", "id", "deleted"})
		if err != nil {
			return fmt.Errorf("token: %w", err)
		}
		if tk["type"] != "access_token" || !isString(tk["id"]) || !isBool(tk["deleted"]) {
			return fmt.Errorf("token fields %v", tk)
		}
		if r, ok := tk["role"]; ok && r != "read" && r != "write" && r != "fineGrained" {
			return fmt.Errorf("token.role %v", r)
		}
		if l, ok := tk["last4"]; ok && !isString(l) {
			return errors.New("token.last4 not a string")
		}
	}
	if v, ok := ev["oauth"]; ok {
		o, err := checkObject(v, []string{"clientId", "name"}, []string{"clientId"})
		if err != nil {
			return fmt.Errorf("oauth: %w", err)
		}
		for _, x := range o {
			if !isString(x) {
				return errors.New("oauth field not a string")
			}
		}
	}
	return nil
}

func TestKnownTypesMatchSchema(t *testing.T) {
	raw, err := os.ReadFile("../../shared/hf-audit-log-export.schema.json")
	if err != nil {
		t.Skip("schema file not available:", err)
	}
	var schema struct {
		Items struct {
			Properties struct {
				Type struct {
					Enum []string `json:"enum"`
				} `json:"type"`
			} `json:"properties"`
		} `json:"items"`
	}
	require.NoError(t, json.Unmarshal(raw, &schema))
	assert.Equal(t, schema.Items.Properties.Type.Enum, knownTypes)
	assert.Len(t, knownTypes, 116)
}

func TestGeneratedEventsAreSchemaValid(t *testing.T) {
	optional := []string{"ip", "location", "userAgent", "token", "oauth", "data"}
	for _, mode := range []string{OptionalMixed, OptionalAll, OptionalNone} {
		t.Run(mode, func(t *testing.T) {
			sim, ts := newSim(t, Options{InitialEvents: 3000, OptionalFields: mode, BurstSize: 3, Seed: 7})
			events := export(t, ts, callOpts{})
			require.Len(t, events, 3000)
			seen := map[string]bool{}
			present := map[string]int{}
			nulls := 0
			types := map[string]bool{}
			for _, ev := range events {
				require.NoError(t, validateEvent(ev), "%v", ev)
				id := ev["_id"].(string)
				require.False(t, seen[id], "duplicate _id %s", id)
				seen[id] = true
				types[ev["type"].(string)] = true
				for _, k := range optional {
					if v, ok := ev[k]; ok {
						present[k]++
						if v == nil {
							nulls++
						}
					}
				}
			}
			assert.Greater(t, len(types), 30, "a realistic mix of types")
			switch mode {
			case OptionalAll:
				for _, k := range []string{"ip", "location", "userAgent", "data"} {
					assert.Equal(t, len(events), present[k], k)
				}
			case OptionalNone:
				assert.Empty(t, present)
			case OptionalMixed:
				for _, k := range optional {
					assert.Greater(t, present[k], 0, k)
					assert.Less(t, present[k], len(events), k)
				}
				assert.Greater(t, nulls, 0, "mixed mode has some JSON nulls")
			}
			assert.Equal(t, 3001, sim.Len(), "plus this call's export event")
		})
	}
}

func TestUnknownTypeRatio(t *testing.T) {
	sim, _ := newSim(t, Options{InitialEvents: 2000, UnknownTypeRatio: 0.1, NoSelfExport: true})
	unknown := 0
	for _, ev := range sim.Events() {
		require.NoError(t, validateEvent(ev, unknownTypes...))
		if slices.Contains(unknownTypes, ev["type"].(string)) {
			unknown++
		}
	}
	assert.InDelta(t, 200, unknown, 80)
}

func TestWindowCapDropsOldest(t *testing.T) {
	sim, ts := newSim(t, Options{InitialEvents: 80, MaxEvents: 100, NoSelfExport: true})
	before := sim.EventIDs()
	require.Len(t, before, 80)
	added := sim.Add(50)
	require.Len(t, added, 50)
	after := sim.EventIDs()
	require.Len(t, after, 100)
	assert.Equal(t, append(slices.Clone(before[30:]), added...), after)
	assert.Len(t, export(t, ts, callOpts{}), 100)
}

func createdAts(t *testing.T, events []map[string]any) []time.Time {
	out := make([]time.Time, len(events))
	for i, ev := range events {
		ts, err := time.Parse(time.RFC3339Nano, ev["createdAt"].(string))
		require.NoError(t, err)
		out[i] = ts
	}
	return out
}

func ids(events []map[string]any) []string {
	out := make([]string, len(events))
	for i, ev := range events {
		out[i] = ev["_id"].(string)
	}
	return out
}

func TestOrderModes(t *testing.T) {
	for _, order := range []string{OrderNewestFirst, OrderOldestFirst, OrderRandom} {
		t.Run(order, func(t *testing.T) {
			sim, ts := newSim(t, Options{InitialEvents: 300, Order: order, NoSelfExport: true})
			events := export(t, ts, callOpts{})
			got := ids(events)
			oldestFirst := sim.EventIDs()
			times := createdAts(t, events)
			switch order {
			case OrderNewestFirst:
				assert.True(t, slices.IsSortedFunc(times, func(a, b time.Time) int { return b.Compare(a) }))
				slices.Reverse(got)
				assert.Equal(t, oldestFirst, got)
			case OrderOldestFirst:
				assert.True(t, slices.IsSortedFunc(times, time.Time.Compare))
				assert.Equal(t, oldestFirst, got)
			case OrderRandom:
				assert.ElementsMatch(t, oldestFirst, got)
				assert.NotEqual(t, oldestFirst, got)
				assert.NotEqual(t, got, ids(export(t, ts, callOpts{})), "shuffled per call")
			}
		})
	}
}

func TestBurstsShareAMillisecond(t *testing.T) {
	now := fixedNow
	sim, _ := newSim(t, Options{InitialEvents: 300, BurstSize: 3, NoSelfExport: true, Now: func() time.Time { return now }})
	now = now.Add(time.Minute)
	sim.Add(30)
	counts := map[string]int{}
	for _, ev := range sim.Events() {
		counts[ev["createdAt"].(string)]++
	}
	assert.Len(t, counts, 110)
	for ts, n := range counts {
		assert.Equal(t, 3, n, ts)
	}
}

func TestQueryFilter(t *testing.T) {
	sim, ts := newSim(t, Options{InitialEvents: 2000, OptionalFields: OptionalAll, NoSelfExport: true})
	all := sim.Events()
	count := func(pred func(map[string]any) bool) int {
		n := 0
		for _, ev := range all {
			if pred(ev) {
				n++
			}
		}
		return n
	}
	user := func(ev map[string]any) string { return ev["author"].(map[string]any)["user"].(string) }
	tests := []struct {
		q    string
		pred func(map[string]any) bool
	}{
		{"type:repo.create", func(ev map[string]any) bool { return ev["type"] == "repo.create" }},
		{"author:alice", func(ev map[string]any) bool { return user(ev) == "alice" }},
		{"ip:8.8.8.8", func(ev map[string]any) bool { return ev["ip"] == "8.8.8.8" }},
		{"type:repo.create author:alice", func(ev map[string]any) bool { return ev["type"] == "repo.create" && user(ev) == "alice" }},
		{"colour:blue ip:1.1.1.1", func(ev map[string]any) bool { return ev["ip"] == "1.1.1.1" }},
		{"ip:8.8.8", func(map[string]any) bool { return false }},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			got := export(t, ts, callOpts{q: tt.q})
			assert.Len(t, got, count(tt.pred))
			for _, ev := range got {
				assert.True(t, tt.pred(ev))
			}
		})
	}
	assert.Greater(t, count(tests[0].pred), 0)
	assert.Equal(t, "type:repo.create", sim.Requests()[0].Q)
}

func TestSelfExportEventAppearsInLaterCalls(t *testing.T) {
	sim, ts := newSim(t, Options{InitialEvents: 10, TokenOwner: "sec-bot", AnyToken: true})
	first := export(t, ts, callOpts{token: "hf_secret_wxyz", userAgent: "otelcol-test/1.0"})
	require.Len(t, first, 10, "the call's own export event is not in its response")
	second := export(t, ts, callOpts{userAgent: "other/2"})
	require.Len(t, second, 11)
	ev := second[0] // newest first
	require.NoError(t, validateEvent(ev, ExportEventType))
	assert.Equal(t, ExportEventType, ev["type"])
	assert.Equal(t, "otelcol-test/1.0", ev["userAgent"])
	assert.Equal(t, SelfExportIP, ev["ip"])
	assert.Equal(t, map[string]any{"_id": TokenOwnerID, "user": "sec-bot", "type": "user",
		"avatarUrl": "https://cdn-avatars.huggingface.co/v1/production/uploads/" + TokenOwnerID + "/avatar.png"}, ev["author"])
	assert.Equal(t, map[string]any{"type": "access_token", "id": SelfExportTokenID, "role": "fineGrained", "last4": "wxyz", "deleted": false}, ev["token"])
	assert.Equal(t, fixedNow.Format(createdAtLayout), ev["createdAt"])
	assert.Equal(t, 12, sim.Len())

	reqs := sim.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, RequestInfo{Time: fixedNow, Method: "GET", Path: "/api/organizations/demo-org/audit-log/export",
		UserAgent: "otelcol-test/1.0", HasAuth: true, Last4: "wxyz", Status: 200}, reqs[0])
	assert.Equal(t, 2, sim.Calls())

	t.Run("off", func(t *testing.T) {
		sim, ts := newSim(t, Options{InitialEvents: 10, NoSelfExport: true})
		export(t, ts, callOpts{})
		assert.Len(t, export(t, ts, callOpts{}), 10)
		assert.Equal(t, 10, sim.Len())
	})
}

func TestAuthErrors(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		c      callOpts
		status int
		msg    string
	}{
		{"no token", Options{}, callOpts{token: "-"}, 401, "Invalid credentials in Authorization header"},
		{"wrong token", Options{}, callOpts{token: "hf_wrong"}, 401, "Invalid credentials in Authorization header"},
		{"any token accepts", Options{AnyToken: true}, callOpts{token: "hf_anything"}, 200, ""},
		{"any token needs one", Options{AnyToken: true}, callOpts{token: "-"}, 401, "Invalid credentials in Authorization header"},
		{"other org", Options{}, callOpts{org: "someone-else"}, 404, "Repository not found"},
		{"forbidden", Options{Forbidden: true}, callOpts{}, 403, "You don't have the rights to access the audit logs of this organization"},
		{"custom org and token", Options{Org: "acme", Token: "hf_acme"}, callOpts{org: "acme", token: "hf_acme"}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.InitialEvents = 5
			sim, ts := newSim(t, tt.opts)
			resp, body, err := call(t, ts, tt.c)
			require.NoError(t, err)
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			if tt.status != 200 {
				var e map[string]string
				require.NoError(t, json.Unmarshal(body, &e))
				assert.Equal(t, tt.msg, e["error"])
				assert.Equal(t, 5, sim.Len(), "failed calls write no export event")
			}
		})
	}
}

func TestSuccessHeaders(t *testing.T) {
	_, ts := newSim(t, Options{InitialEvents: 1})
	resp, _, err := call(t, ts, callOpts{})
	require.NoError(t, err)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Equal(t, `attachment; filename="audit-logs-demo-org-2026-11-20.json"`, resp.Header.Get("Content-Disposition"))
}

func TestFaults(t *testing.T) {
	tests := []struct {
		mode  string
		check func(t *testing.T, resp *http.Response, body []byte, err error)
	}{
		{Fault429, func(t *testing.T, resp *http.Response, body []byte, err error) {
			require.NoError(t, err)
			assert.Equal(t, 429, resp.StatusCode)
			assert.Equal(t, `"api";r=0;t=7`, resp.Header.Get("RateLimit"))
			assert.Equal(t, `"fixed window";"api";q=1000;w=300`, resp.Header.Get("RateLimit-Policy"))
			assert.Equal(t, "3", resp.Header.Get("Retry-After"))
			assert.Contains(t, string(body), `"error"`)
		}},
		{Fault500, statusIs(500)},
		{Fault502, statusIs(502)},
		{Fault503, statusIs(503)},
		{FaultCut, func(t *testing.T, resp *http.Response, body []byte, err error) {
			require.ErrorIs(t, err, io.ErrUnexpectedEOF)
			assert.Equal(t, 200, resp.StatusCode)
			assert.Greater(t, resp.ContentLength, int64(len(body)))
			assert.True(t, strings.HasPrefix(string(body), "[{"))
			assert.False(t, json.Valid(body))
		}},
		{FaultMalformed, func(t *testing.T, resp *http.Response, body []byte, err error) {
			require.NoError(t, err)
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, int64(len(body)), resp.ContentLength)
			assert.False(t, json.Valid(body))
		}},
		{FaultWrongType, func(t *testing.T, resp *http.Response, body []byte, err error) {
			require.NoError(t, err)
			assert.Equal(t, 200, resp.StatusCode)
			assert.JSONEq(t, `{"error":"x"}`, string(body))
		}},
		{FaultEmpty, func(t *testing.T, resp *http.Response, body []byte, err error) {
			require.NoError(t, err)
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, "[]", string(body))
		}},
		{FaultInvalidEvent, func(t *testing.T, resp *http.Response, body []byte, err error) {
			require.NoError(t, err)
			var events []map[string]any
			require.NoError(t, json.Unmarshal(body, &events))
			require.Len(t, events, 20)
			invalid := 0
			for _, ev := range events {
				if validateEvent(ev) != nil {
					invalid++
					assert.IsType(t, float64(0), ev["createdAt"])
					assert.IsType(t, "", ev["author"])
					assert.Regexp(t, hexID, ev["_id"])
				}
			}
			assert.Equal(t, 1, invalid)
			assert.Error(t, validateEvent(events[0]), "the newest event is the invalid one")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			sim, ts := newSim(t, Options{InitialEvents: 20, NoSelfExport: true, RateLimitReset: 7 * time.Second, RetryAfter: 2500 * time.Millisecond})
			require.NoError(t, sim.SetFault(tt.mode, 1))
			resp, body, err := call(t, ts, callOpts{})
			tt.check(t, resp, body, err)
			assert.Len(t, export(t, ts, callOpts{}), 20, "the fault applies once")
		})
	}
}

func statusIs(code int) func(*testing.T, *http.Response, []byte, error) {
	return func(t *testing.T, resp *http.Response, body []byte, err error) {
		require.NoError(t, err)
		assert.Equal(t, code, resp.StatusCode)
		var e map[string]string
		require.NoError(t, json.Unmarshal(body, &e))
		assert.NotEmpty(t, e["error"])
	}
}

func TestFaultTimes(t *testing.T) {
	sim, ts := newSim(t, Options{InitialEvents: 3})
	status := func() int {
		resp, _, err := call(t, ts, callOpts{})
		require.NoError(t, err)
		return resp.StatusCode
	}
	require.NoError(t, sim.SetFault(Fault503, 2))
	assert.Equal(t, []int{503, 503, 200}, []int{status(), status(), status()})
	require.NoError(t, sim.SetFault(Fault500, 0))
	assert.Equal(t, []int{500, 500, 500}, []int{status(), status(), status()})
	require.NoError(t, sim.SetFault("", 0))
	assert.Equal(t, 200, status())
	assert.Error(t, sim.SetFault("teapot", 1))
	assert.Equal(t, 3+2, sim.Len(), "one export event per 200")
}

func TestSlowFault(t *testing.T) {
	sim, ts := newSim(t, Options{InitialEvents: 3, SlowDelay: 300 * time.Millisecond})
	require.NoError(t, sim.SetFault(FaultSlow, 2))

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := call(t, ts, callOpts{ctx: ctx})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 250*time.Millisecond)

	start = time.Now()
	assert.Len(t, export(t, ts, callOpts{}), 3)
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
}

func TestLateEvents(t *testing.T) {
	sim, ts := newSim(t, Options{InitialEvents: 100, InitialSpan: 10 * time.Hour, Order: OrderOldestFirst, NoSelfExport: true})
	late := sim.AddLate(2, 5*time.Hour)
	require.Len(t, late, 2)
	events := export(t, ts, callOpts{})
	require.Len(t, events, 102)
	assert.True(t, slices.IsSortedFunc(createdAts(t, events), time.Time.Compare))
	pos := slices.Index(ids(events), late[0])
	assert.Greater(t, pos, 20)
	assert.Less(t, pos, 80)
	assert.Equal(t, fixedNow.Add(-5*time.Hour).Format(createdAtLayout), events[pos]["createdAt"])
	for _, ev := range events {
		require.NoError(t, validateEvent(ev))
	}
}

func TestDeterministicWithSeed(t *testing.T) {
	gen := func(seed int64) []json.RawMessage {
		sim, err := New(Options{InitialEvents: 500, Seed: seed, BurstSize: 2, UnknownTypeRatio: 0.05, Now: fixedClock})
		require.NoError(t, err)
		defer sim.Close()
		sim.Add(10)
		sim.AddLate(3, time.Hour)
		return sim.EventsJSON()
	}
	assert.Equal(t, gen(42), gen(42))
	assert.NotEqual(t, gen(42), gen(43))
}

func TestBackgroundGrowth(t *testing.T) {
	sim, err := New(Options{InitialEvents: 1, GrowEvery: 5 * time.Millisecond, GrowBy: 4})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return sim.Len() >= 9 }, 2*time.Second, 5*time.Millisecond)
	sim.Close()
	n := sim.Len()
	time.Sleep(30 * time.Millisecond)
	assert.Equal(t, n, sim.Len(), "Close stops growth")
	sim.Close()
	for _, ev := range sim.Events() {
		require.NoError(t, validateEvent(ev))
	}
}

func TestControlAPI(t *testing.T) {
	sim, ts := newSim(t, Options{InitialEvents: 4, NoSelfExport: true})
	post := func(path string) Stats {
		resp, err := ts.Client().Post(ts.URL+path, "", nil)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		var st Stats
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
		return st
	}
	st := post("/_sim/add?n=6")
	assert.Equal(t, 10, st.Events)
	st = post("/_sim/late?n=2&age=1h")
	assert.Equal(t, 12, st.Events)
	st = post("/_sim/fault?mode=429&times=3")
	assert.Equal(t, Stats{Events: 12, Oldest: st.Oldest, Newest: fixedNow.Format(createdAtLayout), Fault: "429", FaultRemaining: 3}, st)
	resp, _, err := call(t, ts, callOpts{})
	require.NoError(t, err)
	assert.Equal(t, 429, resp.StatusCode)

	resp, err = ts.Client().Get(ts.URL + "/_sim/stats")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	assert.Equal(t, 1, st.Calls)
	assert.Equal(t, 2, st.FaultRemaining)
	assert.Equal(t, sim.Stats(), st)

	resp, err = ts.Client().Post(ts.URL+"/_sim/fault?mode=bogus", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 400, resp.StatusCode)
}

func TestInvalidOptions(t *testing.T) {
	for _, o := range []Options{{Order: "sideways"}, {OptionalFields: "some"}, {UnknownTypeRatio: 2}, {InitialEvents: -1}} {
		_, err := New(o)
		assert.Error(t, err, "%+v", o)
	}
}

func TestWhoami(t *testing.T) {
	sim, err := New(Options{Token: "hf_tok_abcd", TokenOwner: "sec-bot"})
	require.NoError(t, err)
	defer sim.Close()
	for _, tt := range []struct {
		token string
		code  int
		body  string
	}{
		{"hf_tok_abcd", http.StatusOK, `"name":"sec-bot"`},
		{"hf_other", http.StatusUnauthorized, "Invalid credentials"},
	} {
		req := httptest.NewRequest(http.MethodGet, "/api/whoami-v2", http.NoBody)
		req.Header.Set("Authorization", "Bearer "+tt.token)
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
		require.Equal(t, tt.code, rec.Code)
		require.Contains(t, rec.Body.String(), tt.body)
	}
}
