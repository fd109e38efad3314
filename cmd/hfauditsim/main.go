// Command hfauditsim serves a simulated Hugging Face organization audit-log
// export endpoint on a local address, for demos and end-to-end tests:
//
//	go run ./cmd/hfauditsim -org demo-org -token hf_demo_token -events 5000
//
// It also serves a control API: POST /_sim/fault?mode=429&times=3,
// POST /_sim/add?n=100, POST /_sim/late?n=5&age=1h, GET /_sim/stats.
// With -attack the window also holds the attack story that the detection
// pack (detections/) catches.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

func main() {
	if err := run(); err != nil {
		log.Fatalf("hfauditsim: %v", err)
	}
}

func run() error {
	var (
		listen       = flag.String("listen", "127.0.0.1:8089", "address to listen on")
		org          = flag.String("org", simulator.DefaultOrg, "organization served (others get 404)")
		token        = flag.String("token", simulator.DefaultToken, "accepted bearer token")
		anyToken     = flag.Bool("any-token", false, "accept any non-empty bearer token")
		tokenOwner   = flag.String("token-owner", simulator.DefaultTokenOwner, "author of org.audit_log.export events")
		forbidden    = flag.Bool("forbidden", false, "answer 403 to authenticated calls")
		selfExport   = flag.Bool("self-export", true, "write an org.audit_log.export event per successful call")
		events       = flag.Int("events", 5000, "events in the window at start")
		maxEvents    = flag.Int("max-events", simulator.DefaultMaxEvents, "window size; the oldest events fall off beyond it")
		span         = flag.Duration("span", simulator.DefaultInitialSpan, "the initial events spread over this span ending now")
		growEvery    = flag.Duration("grow-every", 10*time.Second, "add events this often (0: never)")
		growBy       = flag.Int("grow-by", 5, "events added every -grow-every")
		order        = flag.String("order", simulator.OrderNewestFirst, "array order: newest_first, oldest_first or random")
		burst        = flag.Int("burst", 3, "consecutive events share one millisecond in bursts of this size")
		optional     = flag.String("optional", simulator.OptionalMixed, "optional fields: mixed, all or none")
		unknownRatio = flag.Float64("unknown-ratio", 0.02, "fraction of events with a type outside the published enum")
		seed         = flag.Int64("seed", 1, "random seed")
		fault        = flag.String("fault", "", "fault mode at start: 429, 500, 502, 503, cut, malformed, wrongtype, invalid_event, empty, slow")
		faultTimes   = flag.Int("fault-times", 0, "number of faulty calls (0: until cleared through /_sim/fault?mode=)")
		rateReset    = flag.Duration("ratelimit-reset", time.Second, "t= of the RateLimit header on 429")
		retryAfter   = flag.Duration("retry-after", time.Second, "Retry-After on 429 (negative: omitted)")
		slowDelay    = flag.Duration("slow-delay", simulator.DefaultSlowDelay, "delay of the slow fault")
		gzipOn       = flag.Bool("gzip", false, "serve the event array gzip-compressed to clients that accept it, as the Hub does")
		attack       = flag.Bool("attack", false, "inject the attack story (a stolen admin token used from a new network; see detections/README.md), ending now")
	)
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("hfauditsim: ")

	sim, err := simulator.New(simulator.Options{
		Org: *org, Token: *token, AnyToken: *anyToken, TokenOwner: *tokenOwner, Forbidden: *forbidden,
		NoSelfExport:  !*selfExport,
		MaxEvents:     *maxEvents,
		InitialEvents: *events, InitialSpan: *span, Seed: *seed,
		GrowEvery: *growEvery, GrowBy: *growBy,
		Order: *order, BurstSize: *burst, OptionalFields: *optional, UnknownTypeRatio: *unknownRatio,
		RateLimitReset: *rateReset, RetryAfter: *retryAfter, SlowDelay: *slowDelay,
		Gzip: *gzipOn,
		Logf: log.Printf,
	})
	if err != nil {
		return err
	}
	defer sim.Close()
	if err := sim.SetFault(*fault, *faultTimes); err != nil {
		return err
	}
	if *attack {
		a := sim.InjectAttack(time.Time{})
		log.Printf("attack injected: %d history events of %s, then %d attack events from %s to %s", len(a.History), a.Actor,
			len(a.EventIDs()), a.Start.Format(time.RFC3339), a.End.Format(time.RFC3339))
		for i, st := range a.Steps {
			log.Printf("attack step %d: %s (%d × %s)", i+1, st.What, len(st.EventIDs), strings.Join(st.Types, ", "))
		}
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	if *anyToken {
		log.Printf("accepting any non-empty bearer token")
	} else {
		log.Printf("accepting the bearer token ending in %q", lastFour(*token))
	}
	if *fault != "" {
		log.Printf("fault %q for %d calls (0: until cleared)", *fault, *faultTimes)
	}
	fmt.Fprintf(os.Stderr, "hfauditsim: serving %d events for org %s on http://%s\n", sim.Len(), *org, ln.Addr())

	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Printf("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func lastFour(s string) string {
	if len(s) <= 4 {
		return s
	}
	return s[len(s)-4:]
}
