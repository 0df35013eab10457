package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rempart/rempart/asn"
	"github.com/rempart/rempart/internal/chromium"
	"github.com/rempart/rempart/policies"
)

// TestShortReplay runs the short replay end to end (it builds cmd/rempart,
// starts it, floods it for a few seconds, plays the attacker's moves of
// issue 9) and checks what must hold whatever the machine's speed: every
// legitimate signer signs, the fraudulent signatures stay within the
// budgets, the petition counts exactly the signatures accepted, and each
// move gets exactly what it should (accepted == expected). Timings are
// reported, never checked.
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
	if chromium.Find() == "" && !cfg.requireBrowser {
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
	checkMoves(t, res.moves, cfg)
}

// checkMoves checks the attacker's moves of issue 9: every move played,
// each got exactly what it should have (nothing, or the budgets' share),
// and every legitimate signer among them signed, none of the held
// submissions lost.
func checkMoves(t *testing.T, mv *movesResult, cfg config) {
	t.Helper()
	if mv == nil {
		t.Error("the attacker's moves were not played")
		return
	}
	played := map[string]bool{}
	for _, row := range mv.rows() {
		played[row.Name[:1]] = true
		if row.Tried == 0 {
			t.Errorf("move %q tried nothing", row.Name)
		}
		if row.Accepted != row.Expected {
			t.Errorf("move %q: accepted %d of %d, expected %d; the shield answered %s", row.Name, row.Accepted, row.Tried, row.Expected, answersText(row.Answers))
		}
		for _, p := range row.Problems {
			t.Errorf("move %q: %s", row.Name, p)
		}
	}
	for n := 1; n <= 8; n++ {
		if !played[strconv.Itoa(n)] {
			t.Errorf("move %d was not played", n)
		}
	}
	if mv.Lost != 0 {
		t.Errorf("stash flooding: %d signers' held submissions lost", mv.Lost)
	}
	if len(mv.Signers) != cfg.stashSigners {
		t.Errorf("stash flooding: %d signers ran, %d planned", len(mv.Signers), cfg.stashSigners)
	}
	for _, s := range mv.Signers {
		if !s.signed {
			t.Errorf("a legitimate signer was refused: %s", s.reason)
		}
	}
	if mv.SetupAccepted != mv.Setup || mv.Setup == 0 {
		t.Errorf("%d of the %d legitimate signatures the moves made before replaying their passes were accepted", mv.SetupAccepted, mv.Setup)
	}
	if ids := mv.IDs; ids.Signatures == 0 || ids.Untagged+ids.Forged+ids.Duplicates != 0 {
		t.Errorf("of %d signatures the petition got in the moves: %d without one id of the shield's, %d with another's; %d requests with a forged one",
			ids.Signatures, ids.Untagged, ids.Duplicates, ids.Forged)
	}
}

// The counting petition tells a signature with the shield's id from one
// without, with a forged value, or with another's id.
func TestCountingPetitionChecksIDs(t *testing.T) {
	const id = "0123456789abcdef01234567"
	p := &countingPetition{ids: map[string]int{}}
	for _, c := range []struct {
		name                        string
		header                      http.Header
		untagged, forged, duplicate int
	}{
		{"the shield's id", http.Header{"Rempart-Signature": {id}}, 0, 0, 0},
		{"the same id again", http.Header{"Rempart-Signature": {id}}, 0, 0, 1},
		{"none", http.Header{}, 1, 0, 0},
		{"another spelling beside it", http.Header{"Rempart-Signature": {"fedcba9876543210fedcba98"}, "Rempart_signature": {"forged-1"}}, 1, 1, 0},
		{"a forged value alone", http.Header{"REMPART_SIGNATURE": {"forged-2"}}, 1, 1, 0},
		{"not hex", http.Header{"Rempart-Signature": {"0123456789ABCDEF01234567"}}, 1, 0, 0},
	} {
		var tr moveTraffic
		p.checkID(&tr, c.header, true)
		if tr.Untagged != c.untagged || tr.ForgedIDs != c.forged || tr.DuplicateIDs != c.duplicate {
			t.Errorf("%s: untagged %d forged %d duplicate %d, want %d %d %d", c.name, tr.Untagged, tr.ForgedIDs, tr.DuplicateIDs, c.untagged, c.forged, c.duplicate)
		}
	}
	// A page needs no id, and must bring no forged one.
	var page moveTraffic
	p.checkID(&page, http.Header{}, false)
	p.checkID(&page, http.Header{"Rempart-Signature": {"forged-3"}}, false)
	if page.Untagged != 0 || page.ForgedIDs != 1 {
		t.Errorf("pages: untagged %d forged %d, want 0 and 1", page.Untagged, page.ForgedIDs)
	}
}

func TestReplayPolicy(t *testing.T) {
	src, err := replayPolicy()
	if err != nil {
		t.Fatal(err)
	}
	p, err := policies.Parse(src, "replay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	about := policies.Request{Method: http.MethodGet, Path: cheapPath}
	if d := p.Decide(&about); d.Rule != "about-cheap" || d.Difficulty != cheapDifficulty {
		t.Errorf("GET %s decided by %q at %d bits, want about-cheap at %d", cheapPath, d.Rule, d.Difficulty, cheapDifficulty)
	}
	sign := policies.Request{Method: http.MethodPost, Path: "/sign", Signature: true}
	if d := p.Decide(&sign); d.Difficulty <= cheapDifficulty {
		t.Errorf("POST /sign asks %d bits, no more than the cheap page's %d: the move would test nothing", d.Difficulty, cheapDifficulty)
	}
}

func TestFloodBody(t *testing.T) {
	if n := len(floodBody()); n != stashBody {
		t.Errorf("flood body of %d bytes, want max_body, %d", n, stashBody)
	}
}

// The tunneled servers of the amplification move carry the IPv4 address
// they stand for, as the shield reads it.
func TestTunnelAddress(t *testing.T) {
	ip := addressIn(hostingNetworks[2].Prefix, 7)
	for _, teredo := range []bool{false, true} {
		got, tunnel := asn.ClientAddr(tunnelAddress(ip, teredo))
		if got != ip || tunnel == asn.NoTunnel {
			t.Errorf("tunnelAddress(%s, teredo %v) = %s, carrying %s (%v)", ip, teredo, tunnelAddress(ip, teredo), got, tunnel)
		}
	}
}

func TestCountingPetitionWrites(t *testing.T) {
	for _, c := range []struct {
		method string
		header http.Header
		want   bool
	}{
		{"POST", nil, true},
		{"post", nil, true},
		{"PUT", nil, true},
		{"GET", nil, false},
		{"head", nil, false},
		{"GET", http.Header{"X-Http-Method-Override": {"POST"}}, true},
		{"GET", http.Header{"X-Method-Override": {"POST"}}, true},
	} {
		r := httptest.NewRequest(http.MethodGet, "/sign", nil)
		r.Method, r.Header = c.method, c.header
		if r.Header == nil {
			r.Header = http.Header{}
		}
		if got := writes(r); got != c.want {
			t.Errorf("writes(%s %v) = %v, want %v", c.method, c.header, got, c.want)
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
