package main

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestShortReplayThreeInstances runs the short replay and the attacker's
// moves against three shield processes sharing one redis-server behind a
// round-robin load balancer (make flood-redis-short), and checks the same
// invariants as TestShortReplay: with the state shared, no budget, pass or
// proof counts three times, and no held signature is lost.
func TestShortReplayThreeInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/rempart and replays a flood on three instances: not in -short")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server not installed with CI set: %v", err)
		}
		t.Skipf("redis-server not installed: %v", err)
	}
	cfg := shortConfig()
	cfg.outDir = t.TempDir()
	cfg.log = t.Output()
	cfg.store, cfg.instances = "redis", 3
	// This test's own ports (9830-9839; Caddy's admin on 2999, under the
	// heavy lock like every test that starts Caddy).
	cfg.ports = portsFrom(9830, 2999, cfg.instances)
	cfg.browsers = 0
	cfg.wrk = false
	cfg.millionClients = 0
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	res, err := run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writeReport(cfg.outDir, res); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", res.summary())
	for _, v := range res.violations() {
		t.Error(v)
	}
	st := res.scenario.Stats
	if st.attempted(fraudulent) == 0 || st.accepted(legitimate) == 0 {
		t.Errorf("the attacker sent %d signatures, %d legitimate ones were recorded: want both above 0", st.attempted(fraudulent), st.accepted(legitimate))
	}
	// The load balancer spread the flood: every other instance worked too.
	if len(res.scenario.Others) != cfg.instances-1 {
		t.Fatalf("%d other instances measured, want %d", len(res.scenario.Others), cfg.instances-1)
	}
	for i, o := range res.scenario.Others {
		if o.CPU < 100*time.Millisecond {
			t.Errorf("instance %d used %v of CPU during the flood: the load balancer did not reach it", i+2, o.CPU)
		}
	}
	// Reported, not checked: how much of the attack is refused by
	// exhausted budgets depends on how fast the attacker gets there on this
	// machine (shield/redis_test.go counts the round trips of each kind of
	// request).
	t.Logf("Redis round trips during the attack: %d for %d requests", res.scenario.StoreRoundTrips, st.requests[fraudulent]+st.requests[legitimate])
	checkMoves(t, res.moves, cfg)
}
