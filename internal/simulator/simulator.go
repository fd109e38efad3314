// Package simulator is a local stand-in for the Hugging Face Hub's
// organization audit-log export endpoint
// (GET /api/organizations/{org}/audit-log/export), for tests and demos.
//
// It keeps a window of schema-valid events (at most MaxEvents, oldest fall
// off), answers with the whole window on every call as the Hub does, can grow
// the window over time, and can inject faults (rate limits, 5xx, cut or
// malformed bodies, invalid events, slowness).
//
// Every authorised call answered 200 writes an org.audit_log.export event into
// the window, like the Hub. The event is recorded when the call is answered,
// after the response's events are chosen: it never appears in the response of
// the call that caused it, only in later calls.
//
// The window is kept sorted by createdAt (ties keep insertion order), so an
// event added late with an old createdAt sits among its contemporaries, not at
// the end.
package simulator

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults used when the matching Options field is zero.
const (
	DefaultOrg        = "demo-org"
	DefaultToken      = "hf_demo_token"
	DefaultTokenOwner = "audit-bot"
	DefaultMaxEvents  = 100000
	// DefaultInitialSpan is how far back the initial events reach.
	DefaultInitialSpan = 30 * 24 * time.Hour
	DefaultSlowDelay   = 2 * time.Second
	// SelfExportIP is the address written into org.audit_log.export events.
	SelfExportIP = "203.0.113.10"
	// TokenOwnerID is the author._id of org.audit_log.export events.
	TokenOwnerID = "65a0b1c2d3e4f5a6b7c8d9e0"
	// SelfExportTokenID is the token.id of org.audit_log.export events.
	SelfExportTokenID = "65a0b1c2d3e4f5a6b7c8d9ff"
)

// Order modes of the exported array.
const (
	OrderNewestFirst = "newest_first"
	OrderOldestFirst = "oldest_first"
	OrderRandom      = "random"
)

// OptionalFields modes.
const (
	OptionalMixed = "mixed"
	OptionalAll   = "all"
	OptionalNone  = "none"
)

// Fault modes accepted by SetFault.
const (
	FaultNone         = ""
	Fault429          = "429"
	Fault500          = "500"
	Fault502          = "502"
	Fault503          = "503"
	FaultCut          = "cut"
	FaultMalformed    = "malformed"
	FaultWrongType    = "wrongtype"
	FaultInvalidEvent = "invalid_event"
	FaultEmpty        = "empty"
	FaultSlow         = "slow"
)

var faultModes = map[string]bool{
	FaultNone: true, Fault429: true, Fault500: true, Fault502: true, Fault503: true, FaultCut: true,
	FaultMalformed: true, FaultWrongType: true, FaultInvalidEvent: true, FaultEmpty: true, FaultSlow: true,
}

// Options configures a Server. The zero value is usable: org "demo-org",
// token "hf_demo_token", an empty window, self-export events on.
type Options struct {
	Org        string // organization served; others get 404
	Token      string // accepted bearer token
	AnyToken   bool   // accept any non-empty bearer token
	TokenOwner string // author.user of org.audit_log.export events
	Forbidden  bool   // answer 403 to authenticated calls
	// NoSelfExport turns off the org.audit_log.export event written per call.
	NoSelfExport bool

	MaxEvents     int           // window size; oldest events fall off beyond it
	InitialEvents int           // events in the window at start
	InitialSpan   time.Duration // the initial events spread over this span ending now
	Now           func() time.Time
	Seed          int64 // same seed and clock: same events

	GrowEvery time.Duration // background growth period (0: off); stop it with Close
	GrowBy    int           // events added per period

	Order     string // newest_first (default), oldest_first, random (shuffled per call)
	BurstSize int    // consecutive generated events share one millisecond in groups of this size
	// OptionalFields is mixed (default: each optional field present or not
	// at random, and sometimes JSON null for data, ip and userAgent, although
	// the published schema types ip and userAgent as strings), all, or none.
	OptionalFields   string
	UnknownTypeRatio float64 // fraction of events with a type outside the enum

	RateLimitReset time.Duration // t= of the RateLimit header on 429 (default 1s)
	RetryAfter     time.Duration // Retry-After on 429 (default 1s; negative: header omitted)
	SlowDelay      time.Duration // delay of the "slow" fault (default 2s)
	// Gzip serves the event array gzip-compressed to clients that send
	// Accept-Encoding: gzip (as the Go transport does by default). Faulty
	// bodies (cut, malformed, ...) stay plain.
	Gzip bool
	// Benign draws every event, initial and added, from the benign profile
	// (benign.go) instead of the random mix.
	Benign bool

	// Logf, when set, receives one line per request. Tokens appear as their
	// last four characters only.
	Logf func(format string, args ...any)
}

// RequestInfo describes one request received on the export endpoint.
type RequestInfo struct {
	Time      time.Time
	Method    string
	Path      string
	RawQuery  string
	Q         string
	UserAgent string
	HasAuth   bool   // an Authorization header was present
	Last4     string // last four characters of the bearer token, if any
	Status    int
}

// Stats is what GET /_sim/stats returns.
type Stats struct {
	Calls          int    `json:"calls"`
	Events         int    `json:"events"`
	Oldest         string `json:"oldest,omitempty"`
	Newest         string `json:"newest,omitempty"`
	Fault          string `json:"fault,omitempty"`
	FaultRemaining int    `json:"faultRemaining,omitempty"`
}

const maxRequestsKept = 1000

// Server simulates the export endpoint. It implements http.Handler, so tests
// can run it with httptest.NewServer(sim). It also serves a control API:
// POST /_sim/fault?mode=429&times=3, POST /_sim/add?n=100,
// POST /_sim/late?n=5&age=1h, GET /_sim/stats.
type Server struct {
	opts Options
	mux  *http.ServeMux

	mu         sync.Mutex
	gen        *generator
	shuffleRng *rand.Rand
	window     []*event // sorted by createdAt, then insertion
	seq        uint64
	calls      int
	requests   []RequestInfo
	fault      string
	faultLeft  int // remaining faulty calls; 0 with a fault set means "until cleared"

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// New builds a Server and fills its initial window.
func New(opts Options) (*Server, error) {
	if opts.Org == "" {
		opts.Org = DefaultOrg
	}
	if opts.Token == "" && !opts.AnyToken {
		opts.Token = DefaultToken
	}
	if opts.TokenOwner == "" {
		opts.TokenOwner = DefaultTokenOwner
	}
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = DefaultMaxEvents
	}
	if opts.InitialSpan <= 0 {
		opts.InitialSpan = DefaultInitialSpan
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Order == "" {
		opts.Order = OrderNewestFirst
	}
	if opts.BurstSize <= 0 {
		opts.BurstSize = 1
	}
	if opts.OptionalFields == "" {
		opts.OptionalFields = OptionalMixed
	}
	if opts.RateLimitReset <= 0 {
		opts.RateLimitReset = time.Second
	}
	if opts.RetryAfter == 0 {
		opts.RetryAfter = time.Second
	}
	if opts.SlowDelay <= 0 {
		opts.SlowDelay = DefaultSlowDelay
	}
	var errs []error
	switch opts.Order {
	case OrderNewestFirst, OrderOldestFirst, OrderRandom:
	default:
		errs = append(errs, fmt.Errorf("order %q: want %s, %s or %s", opts.Order, OrderNewestFirst, OrderOldestFirst, OrderRandom))
	}
	switch opts.OptionalFields {
	case OptionalMixed, OptionalAll, OptionalNone:
	default:
		errs = append(errs, fmt.Errorf("optional fields %q: want %s, %s or %s", opts.OptionalFields, OptionalMixed, OptionalAll, OptionalNone))
	}
	if opts.UnknownTypeRatio < 0 || opts.UnknownTypeRatio > 1 {
		errs = append(errs, fmt.Errorf("unknown type ratio %v: want a value in [0, 1]", opts.UnknownTypeRatio))
	}
	if opts.InitialEvents < 0 || opts.GrowBy < 0 {
		errs = append(errs, errors.New("initial events and grow-by must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}

	seed := uint64(opts.Seed)
	rng := rand.New(rand.NewPCG(seed, 0x68667369))
	s := &Server{
		opts:       opts,
		shuffleRng: rand.New(rand.NewPCG(seed, 0x73687566)),
		gen: &generator{
			rng:          rng,
			org:          opts.Org,
			optional:     opts.OptionalFields,
			unknownRatio: opts.UnknownTypeRatio,
			counter:      rng.Uint64() >> 12,
			benign:       opts.Benign,
		},
	}
	now := s.now()
	s.generateBetween(opts.InitialEvents, now.Add(-opts.InitialSpan), now)

	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /api/organizations/{org}/audit-log/export", s.serveExport)
	s.mux.HandleFunc("GET /api/whoami-v2", s.serveWhoami)
	s.mux.HandleFunc("POST /_sim/fault", s.serveSetFault)
	s.mux.HandleFunc("POST /_sim/add", s.serveAdd)
	s.mux.HandleFunc("POST /_sim/late", s.serveAddLate)
	s.mux.HandleFunc("GET /_sim/stats", s.serveStats)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "Not Found")
	})

	if opts.GrowEvery > 0 && opts.GrowBy > 0 {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.grow()
	}
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close stops background growth. It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		if s.stop != nil {
			close(s.stop)
			<-s.done
		}
	})
}

func (s *Server) grow() {
	defer close(s.done)
	t := time.NewTicker(s.opts.GrowEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Add(s.opts.GrowBy)
		}
	}
}

func (s *Server) now() time.Time { return s.opts.Now().UTC().Truncate(time.Millisecond) }

// Add appends n new events created between the newest event in the window
// and now, and returns their IDs.
func (s *Server) Add(n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	from := now
	if k := len(s.window); k > 0 && s.window[k-1].at.Before(now) {
		from = s.window[k-1].at
	}
	return s.generateBetween(n, from, now)
}

// AddLate appends n events whose createdAt is age before now: the Hub can
// show events late. Their _id carries the insertion time, like an ObjectId.
func (s *Server) AddLate(n int, age time.Duration) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	at := now.Add(-age)
	ids := make([]string, 0, n)
	for range n {
		e := s.gen.generate(at, now)
		s.insert(e)
		ids = append(ids, e.id)
	}
	return ids
}

// generateBetween adds n events with createdAt in (from, to], in bursts of
// BurstSize events that share one millisecond. Callers hold s.mu, except New.
func (s *Server) generateBetween(n int, from, to time.Time) []string {
	if n <= 0 {
		return nil
	}
	bursts := (n + s.opts.BurstSize - 1) / s.opts.BurstSize
	slot := to.Sub(from) / time.Duration(bursts)
	ids := make([]string, 0, n)
	for b := range bursts {
		at := from.Add(slot * time.Duration(b+1))
		if b < bursts-1 && slot > 2*time.Millisecond {
			at = at.Add(-time.Duration(s.gen.rng.Int64N(int64(slot / 2))))
		}
		at = at.Truncate(time.Millisecond)
		if at.Before(from) {
			at = from
		}
		for i := 0; i < s.opts.BurstSize && len(ids) < n; i++ {
			e := s.gen.generate(at, at)
			s.insert(e)
			ids = append(ids, e.id)
		}
	}
	return ids
}

// insert places e in the window by createdAt and trims the window.
func (s *Server) insert(e *event) {
	s.seq++
	e.seq = s.seq
	n := len(s.window)
	if n == 0 || !s.window[n-1].at.After(e.at) {
		s.window = append(s.window, e)
	} else {
		i := sort.Search(n, func(i int) bool { return s.window[i].at.After(e.at) })
		s.window = append(s.window, nil)
		copy(s.window[i+1:], s.window[i:])
		s.window[i] = e
	}
	if drop := len(s.window) - s.opts.MaxEvents; drop > 0 {
		copy(s.window, s.window[drop:])
		clear(s.window[len(s.window)-drop:])
		s.window = s.window[:len(s.window)-drop]
	}
}

// SetFault makes the next `times` authorised export calls fail in `mode`
// (times 0: until SetFault("", 0)). Mode "" clears the fault.
func (s *Server) SetFault(mode string, times int) error {
	if !faultModes[mode] {
		return fmt.Errorf("simulator: unknown fault mode %q", mode)
	}
	if times < 0 {
		return fmt.Errorf("simulator: fault times %d must not be negative", times)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault, s.faultLeft = mode, times
	return nil
}

// Calls returns the number of requests received on the export endpoint.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Len returns the number of events in the window.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.window)
}

// EventIDs returns the IDs in the window, oldest first.
func (s *Server) EventIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, len(s.window))
	for i, e := range s.window {
		ids[i] = e.id
	}
	return ids
}

// EventsJSON returns the served JSON of every event in the window, oldest first.
func (s *Server) EventsJSON() []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]json.RawMessage, len(s.window))
	for i, e := range s.window {
		out[i] = e.raw
	}
	return out
}

// Events returns the events in the window, decoded, oldest first.
func (s *Server) Events() []map[string]any {
	raws := s.EventsJSON()
	out := make([]map[string]any, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			panic(fmt.Sprintf("simulator: stored event does not decode: %v", err))
		}
	}
	return out
}

// Requests returns the most recent requests on the export endpoint, oldest first.
func (s *Server) Requests() []RequestInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RequestInfo(nil), s.requests...)
}

// Stats returns counters and the window's time range.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Calls: s.calls, Events: len(s.window), Fault: s.fault, FaultRemaining: s.faultLeft}
	if n := len(s.window); n > 0 {
		st.Oldest = s.window[0].at.Format(createdAtLayout)
		st.Newest = s.window[n-1].at.Format(createdAtLayout)
	}
	return st
}

// exportPlan is what one export call will send, decided under the lock.
type exportPlan struct {
	status int
	fault  string
	events []*event
}

func (s *Server) serveExport(w http.ResponseWriter, r *http.Request) {
	presented, hasAuth := bearer(r)
	info := RequestInfo{
		Time: s.now(), Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Q: r.URL.Query().Get("q"), UserAgent: r.UserAgent(), HasAuth: hasAuth, Last4: last4(presented),
	}

	s.mu.Lock()
	s.calls++
	plan := s.planLocked(r, presented)
	if plan.fault == FaultSlow {
		// The slow fault waits without the lock, then serves the window.
		s.mu.Unlock()
		t := time.NewTimer(s.opts.SlowDelay)
		select {
		case <-r.Context().Done():
			t.Stop()
			info.Status = 499 // client closed the request; nothing is written
			s.mu.Lock()
			s.recordLocked(info, 0)
			s.mu.Unlock()
			return
		case <-t.C:
		}
		s.mu.Lock()
		plan.events = s.selectLocked(r.URL.Query().Get("q"))
	}
	info.Status = plan.status
	s.recordLocked(info, len(plan.events))
	if plan.status == http.StatusOK && !s.opts.NoSelfExport {
		s.insert(s.selfExportEvent(info))
	}
	s.mu.Unlock()

	switch plan.status {
	case http.StatusUnauthorized:
		writeError(w, plan.status, "Invalid credentials in Authorization header")
		return
	case http.StatusNotFound:
		writeError(w, plan.status, "Repository not found")
		return
	case http.StatusForbidden:
		writeError(w, plan.status, "You don't have the rights to access the audit logs of this organization")
		return
	case http.StatusTooManyRequests:
		w.Header().Set("RateLimit", fmt.Sprintf(`"api";r=0;t=%d`, seconds(s.opts.RateLimitReset)))
		w.Header().Set("RateLimit-Policy", `"fixed window";"api";q=1000;w=300`)
		if s.opts.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(seconds(s.opts.RetryAfter)))
		}
		writeError(w, plan.status, "You have exceeded our hourly quotas for action: api. We invite you to retry later.")
		return
	case http.StatusInternalServerError:
		writeError(w, plan.status, "Internal Error - We're working hard to fix this as soon as possible!")
		return
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		writeError(w, plan.status, http.StatusText(plan.status))
		return
	}

	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="audit-logs-%s-%s.json"`, s.opts.Org, info.Time.Format("2006-01-02")))
	switch plan.fault {
	case FaultMalformed:
		writeFixed(w, `[{"_id": "abc`)
	case FaultWrongType:
		writeFixed(w, `{"error":"x"}`)
	case FaultEmpty:
		writeFixed(w, `[]`)
	case FaultCut:
		s.writeCut(w, plan.events)
	default:
		gw, finish := s.maybeGzip(w, r)
		s.writeEvents(r.Context(), gw, plan.events, plan.fault == FaultInvalidEvent)
		finish()
	}
}

// planLocked decides the answer: auth, org, permission, then faults.
func (s *Server) planLocked(r *http.Request, presented string) exportPlan {
	switch {
	case presented == "" || (!s.opts.AnyToken && presented != s.opts.Token):
		return exportPlan{status: http.StatusUnauthorized}
	case r.PathValue("org") != s.opts.Org:
		return exportPlan{status: http.StatusNotFound}
	case s.opts.Forbidden:
		return exportPlan{status: http.StatusForbidden}
	}
	fault := s.fault
	if fault != FaultNone && s.faultLeft > 0 {
		s.faultLeft--
		if s.faultLeft == 0 {
			s.fault = FaultNone
		}
	}
	switch fault {
	case Fault429, Fault500, Fault502, Fault503:
		code, _ := strconv.Atoi(fault)
		return exportPlan{status: code, fault: fault}
	case FaultSlow, FaultMalformed, FaultWrongType, FaultEmpty:
		return exportPlan{status: http.StatusOK, fault: fault}
	}
	return exportPlan{status: http.StatusOK, fault: fault, events: s.selectLocked(r.URL.Query().Get("q"))}
}

// selectLocked returns the window filtered by q, in the configured order.
func (s *Server) selectLocked(q string) []*event {
	match := parseQuery(q)
	out := make([]*event, 0, len(s.window))
	for _, e := range s.window {
		if match(e) {
			out = append(out, e)
		}
	}
	switch s.opts.Order {
	case OrderNewestFirst:
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	case OrderRandom:
		s.shuffleRng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	}
	return out
}

// parseQuery supports the q terms type:X, author:X and ip:X (exact, all
// must match); other terms are ignored.
func parseQuery(q string) func(*event) bool {
	var conds []func(*event) bool
	for _, term := range strings.Fields(q) {
		key, val, ok := strings.Cut(term, ":")
		if !ok {
			continue
		}
		switch key {
		case "type":
			conds = append(conds, func(e *event) bool { return e.typ == val })
		case "author":
			conds = append(conds, func(e *event) bool { return e.author == val })
		case "ip":
			conds = append(conds, func(e *event) bool { return e.ip == val })
		}
	}
	return func(e *event) bool {
		for _, c := range conds {
			if !c(e) {
				return false
			}
		}
		return true
	}
}

func (s *Server) recordLocked(info RequestInfo, events int) {
	s.requests = append(s.requests, info)
	if len(s.requests) > maxRequestsKept {
		s.requests = s.requests[len(s.requests)-maxRequestsKept:]
	}
	if s.opts.Logf != nil {
		tok := "none"
		if info.HasAuth {
			tok = "…" + info.Last4
		}
		s.opts.Logf("%s %s q=%q ua=%q token=%s -> %d (%d events)", info.Method, info.Path, info.Q, info.UserAgent, tok, info.Status, events)
	}
}

func (s *Server) selfExportEvent(info RequestInfo) *event {
	w := wireEvent{
		ID:        s.gen.nextID(info.Time),
		CreatedAt: info.Time.Format(createdAtLayout),
		Type:      ExportEventType,
		Message:   "Exported audit log",
		IP:        mustJSON(SelfExportIP),
		Author: author{
			ID: TokenOwnerID, User: s.opts.TokenOwner, Type: "user",
			AvatarURL: "https://cdn-avatars.huggingface.co/v1/production/uploads/" + TokenOwnerID + "/avatar.png",
		},
		Token: &token{Type: "access_token", ID: SelfExportTokenID, Role: "fineGrained", Last4: info.Last4},
	}
	if info.Q != "" {
		w.Data = mustJSON(map[string]any{"q": info.Q})
	}
	if info.UserAgent != "" {
		w.UserAgent = mustJSON(info.UserAgent)
	}
	return newEvent(w, info.Time, SelfExportIP)
}

// writeEvents streams the array through a buffer, one event at a time.
// With invalid, the newest event keeps its _id but breaks the schema.
func (s *Server) writeEvents(ctx context.Context, w http.ResponseWriter, events []*event, invalid bool) {
	var newest *event
	if invalid {
		for _, e := range events {
			if newest == nil || e.at.After(newest.at) || (e.at.Equal(newest.at) && e.seq > newest.seq) {
				newest = e
			}
		}
	}
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteByte('[')
	for i, e := range events {
		if i%1000 == 0 && ctx.Err() != nil {
			return
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		if e == newest {
			bw.Write(invalidVersion(e))
		} else {
			bw.Write(e.raw)
		}
	}
	bw.WriteByte(']')
	bw.Flush()
}

// invalidVersion turns createdAt into a number and author into a string.
func invalidVersion(e *event) []byte {
	var m map[string]any
	if err := json.Unmarshal(e.raw, &m); err != nil {
		panic(fmt.Sprintf("simulator: stored event does not decode: %v", err))
	}
	m["createdAt"] = e.at.UnixMilli()
	m["author"] = e.author
	return mustJSON(m)
}

// writeCut declares the full length but stops in the middle of an event;
// net/http then closes the connection, so the client sees an unexpected EOF.
func (s *Server) writeCut(w http.ResponseWriter, events []*event) {
	total := 2
	for i, e := range events {
		total += len(e.raw)
		if i > 0 {
			total++
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(total))
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(w)
	bw.WriteByte('[')
	half := len(events) / 2
	for i, e := range events[:half] {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.Write(e.raw)
	}
	if half < len(events) {
		if half > 0 {
			bw.WriteByte(',')
		}
		raw := events[half].raw
		bw.Write(raw[:len(raw)/2])
	}
	bw.Flush()
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *Server) serveSetFault(w http.ResponseWriter, r *http.Request) {
	times := 0
	if v := r.URL.Query().Get("times"); v != "" {
		var err error
		if times, err = strconv.Atoi(v); err != nil {
			writeError(w, http.StatusBadRequest, "times: "+err.Error())
			return
		}
	}
	if err := s.SetFault(r.URL.Query().Get("mode"), times); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.serveStats(w, r)
}

func (s *Server) serveAdd(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || n < 0 {
		writeError(w, http.StatusBadRequest, "n must be a non-negative integer")
		return
	}
	s.Add(n)
	s.serveStats(w, r)
}

func (s *Server) serveAddLate(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || n < 0 {
		writeError(w, http.StatusBadRequest, "n must be a non-negative integer")
		return
	}
	age, err := time.ParseDuration(r.URL.Query().Get("age"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "age must be a duration such as 1h")
		return
	}
	s.AddLate(n, age)
	s.serveStats(w, r)
}

// serveWhoami answers the Hub's whoami-v2 with the token owner's name, which
// receivers use to recognise their own export events.
func (s *Server) serveWhoami(w http.ResponseWriter, r *http.Request) {
	tok, _ := bearer(r)
	if tok == "" || (!s.opts.AnyToken && tok != s.opts.Token) {
		writeError(w, http.StatusUnauthorized, "Invalid credentials in Authorization header")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "user", "id": TokenOwnerID, "name": s.opts.TokenOwner})
}

func (s *Server) serveStats(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s.Stats())
}

func bearer(r *http.Request) (tok string, present bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", true
	}
	return strings.TrimSpace(tok), true
}

func last4(tok string) string {
	if len(tok) <= 4 {
		return tok
	}
	return tok[len(tok)-4:]
}

func seconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func writeFixed(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(body))
}
