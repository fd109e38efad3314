// Package simtest serves the export simulator to tests, in this module and
// in the end-to-end modules under e2e/.
package simtest // import "github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator/simtest"

import (
	"net/http/httptest"
	"testing"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

// Start serves a new simulator on a loopback server until the test ends and
// returns it with its base URL.
func Start(t testing.TB, opts simulator.Options) (*simulator.Server, string) {
	t.Helper()
	sim, err := simulator.New(opts)
	if err != nil {
		t.Fatalf("starting the simulator: %v", err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		sim.Close()
	})
	return sim, srv.URL
}
