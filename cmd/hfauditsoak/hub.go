package main

import (
	"encoding/json"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

// chaosFaults are the faulty answers drawn for a faulty export call: the
// Hub's 429 (with RateLimit, RateLimit-Policy and Retry-After), server
// errors, a body cut in the middle, a body that is not JSON, a slow body, and
// a window whose newest event breaks the schema.
var chaosFaults = []string{
	simulator.Fault429, simulator.Fault500, simulator.Fault503, simulator.FaultCut,
	simulator.FaultMalformed, simulator.FaultSlow, simulator.FaultInvalidEvent,
}

// hub is the simulated Hub as the collectors see it: the simulator behind a
// handler that draws a fault for each export call and records which events
// each call served. Export calls and the simulator's growth are serialized
// by mu, so the window a call is answered from is exactly the one recorded.
type hub struct {
	sim *simulator.Server

	mu        sync.Mutex
	rng       *rand.Rand
	faultRate float64
	deck      []string // the fault kinds still to draw in this round
	frozen    bool     // answer every export call 503 without touching the simulator
	growing   bool
	served    map[string]bool // IDs sent in a 200 answer that carried the window
	invalid   map[string]bool // IDs sent once in their schema-breaking version
	calls     int
	faults    map[string]int // drawn fault per call ("" = none)
	outcomes  map[int]int    // HTTP status per call (0: client gone before an answer)

	srvMu sync.Mutex
	addr  string
	srv   *http.Server
}

func newHub(sim *simulator.Server, seed uint64, faultRate float64) *hub {
	return &hub{
		sim: sim, rng: rand.New(rand.NewPCG(seed, 0x6875620a)), faultRate: faultRate, growing: true,
		served: map[string]bool{}, invalid: map[string]bool{}, faults: map[string]int{}, outcomes: map[int]int{},
	}
}

// up starts serving on the hub's address (a free port the first time, the
// same port afterwards).
func (h *hub) up() error {
	h.srvMu.Lock()
	defer h.srvMu.Unlock()
	addr := h.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for range 50 { // the port may linger briefly after down()
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	h.addr = ln.Addr().String()
	h.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func(s *http.Server) { _ = s.Serve(ln) }(h.srv)
	return nil
}

// down closes the listener and every connection: calls get "connection refused".
func (h *hub) down() {
	h.srvMu.Lock()
	defer h.srvMu.Unlock()
	if h.srv != nil {
		_ = h.srv.Close()
		h.srv = nil
	}
}

func (h *hub) url() string { return "http://" + h.addr }

// grow adds 0 to 8 events (4 a second on average) unless growth was stopped.
func (h *hub) grow() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.growing {
		h.sim.Add(h.rng.IntN(9))
	}
}

func (h *hub) set(f func(h *hub)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(h)
}

func (h *hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/audit-log/export") {
		h.sim.ServeHTTP(w, r)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	if h.frozen {
		h.outcomes[http.StatusServiceUnavailable]++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "Service Unavailable"})
		return
	}
	fault := ""
	if h.rng.Float64() < h.faultRate {
		// Drawn from a shuffled deck of every kind, so that even a short
		// run meets each kind once it has had seven faulty calls.
		if len(h.deck) == 0 {
			for _, i := range h.rng.Perm(len(chaosFaults)) {
				h.deck = append(h.deck, chaosFaults[i])
			}
		}
		fault, h.deck = h.deck[0], h.deck[1:]
	}
	h.faults[fault]++
	_ = h.sim.SetFault(fault, 1) // modes are from the simulator's list
	ids := h.sim.EventIDs()
	rec := &statusRecorder{ResponseWriter: w}
	h.sim.ServeHTTP(rec, r)
	h.outcomes[rec.status]++
	if rec.status != http.StatusOK || fault == simulator.FaultCut || fault == simulator.FaultMalformed {
		return
	}
	for i, id := range ids {
		// The invalid_event fault breaks the newest event of the window
		// (the last ID: the window is kept oldest first).
		if fault == simulator.FaultInvalidEvent && i == len(ids)-1 {
			h.invalid[id] = true
			continue
		}
		h.served[id] = true
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
