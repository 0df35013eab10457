package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestShortReplay runs the short replay end to end (it builds cmd/rempart,
// starts it, floods it for a few seconds) and checks what must hold
// whatever the machine's speed: every legitimate signer signs, the
// fraudulent signatures stay within the budgets, and the petition counts
// exactly the signatures accepted. Timings are reported, never checked.
//
// Chromium signs when installed (in CI, where scripts/test.sh installs it,
// its absence is a failure); the wrk figures run when wrk is installed.
func TestShortReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/rempart and replays a flood: not in -short")
	}
	cfg := shortConfig()
	cfg.outDir = t.TempDir()
	cfg.log = t.Output()
	cfg.requireBrowser = os.Getenv("CI") != ""
	if findChromium() == "" && !cfg.requireBrowser {
		t.Log("no Chromium found: the replay runs without browser signers")
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Log("wrk is not installed: load figures skipped")
		cfg.wrk = false
	}
	// One round of each load figure and a small memory run are enough to
	// check they work; the figures themselves come from make flood.
	cfg.wrkRounds = 1
	cfg.millionClients = 5000

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	res, err := run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	report, err := writeReport(cfg.outDir, res)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", res.summary())
	for _, v := range res.violations() {
		t.Error(v)
	}

	st := res.scenario.Stats
	if st.attempted(fraudulent) == 0 {
		t.Error("the attacker sent no signature")
	}
	if st.accepted(legitimate) == 0 {
		t.Error("no legitimate signature was recorded")
	}
	for _, name := range []string{reportFile, chartFile, configFile} {
		if fi, err := os.Stat(filepath.Join(cfg.outDir, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s missing or empty next to %s", name, report)
		}
	}
	if res.load != nil {
		for _, c := range []*comparison{&res.load.PassThrough, &res.load.Refusal, &res.load.Challenge} {
			for _, p := range c.Problems {
				t.Errorf("%s: %s", c.Name, p)
			}
		}
	}
	if res.million != nil {
		for _, p := range res.million.Problems {
			t.Errorf("distinct clients: %s", p)
		}
	}
}

func TestParseWrk(t *testing.T) {
	out := `Running 5s test @ http://127.0.0.1:9502/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     6.31ms    2.02ms  31.66ms   80.33%
    Req/Sec     5.10k   452.30     5.90k    71.00%
  50812 requests in 5.00s, 52.07MB read
  Socket errors: connect 0, read 3, write 0, timeout 0
  Non-2xx or 3xx responses: 50812
Requests/sec:  10158.35
Transfer/sec:     10.41MB
`
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{Requests: 50812, Elapsed: 5 * time.Second, RPS: 10158.35, Non2xx: 50812, SocketErrors: "connect 0, read 3, write 0, timeout 0"}
	if r != want {
		t.Errorf("parseWrk = %+v, want %+v", r, want)
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:9502 Connection refused"); err == nil {
		t.Error("parseWrk accepted a report without figures")
	}
}
