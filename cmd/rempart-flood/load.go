package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rempart/rempart/internal/shieldtest"
)

// comparison is one load figure: the same requests to the shield and to
// bare Caddy (a reverse_proxy to the same petition, or a bare respond
// 429), interleaved (A B A B ...) so that both see the same machine.
type comparison struct {
	Name string
	// File names the figure's CPU profile (File.pprof).
	File string
	// What the shield answers, and what the figure should reach.
	Answer   string
	MinRatio float64 // 0: no target
	// Reference names what the shield is compared with, and referenceURL
	// is where it listens.
	Reference    string
	referenceURL string
	Shield       []wrkResult
	Bare         []wrkResult
	// ShieldCommand and BareCommand are the command lines, with secrets
	// replaced by the shell variables the report explains.
	ShieldCommand, BareCommand string
	// Problems lists answers that were not what the figure measures.
	Problems []string
}

func meanRPS(rs []wrkResult) float64 {
	if len(rs) == 0 {
		return 0
	}
	sum := 0.0
	for _, r := range rs {
		sum += r.RPS
	}
	return sum / float64(len(rs))
}

// Ratio is the figure: the median of the rounds' ratios, so that one
// round disturbed by the rest of the machine does not move it.
func (c *comparison) Ratio() float64 { return median(c.RoundRatios()) }

// CPURatio is the median of the rounds' ratios of bare Caddy's CPU time
// per request to the shield's: like Ratio, 1 when the shield costs nothing,
// but unmoved by how wrk and Caddy share the machine's cores. 0 when the
// shield's CPU time was not read.
func (c *comparison) CPURatio() float64 {
	var rs []float64
	for i := range min(len(c.Shield), len(c.Bare)) {
		if s := c.Shield[i].CPUPerRequest(); s > 0 {
			rs = append(rs, float64(c.Bare[i].CPUPerRequest())/float64(s))
		}
	}
	return median(rs)
}

// median returns the median of rs, sorting it; 0 when it is empty.
func median(rs []float64) float64 {
	if len(rs) == 0 {
		return 0
	}
	slices.Sort(rs)
	if n := len(rs); n%2 == 0 {
		return (rs[n/2-1] + rs[n/2]) / 2
	}
	return rs[len(rs)/2]
}

// RatioOfMeans is the shield's mean throughput over bare Caddy's.
func (c *comparison) RatioOfMeans() float64 {
	if b := meanRPS(c.Bare); b > 0 {
		return meanRPS(c.Shield) / b
	}
	return 0
}

// RoundRatios is the ratio of each shield run to the bare run after it.
func (c *comparison) RoundRatios() []float64 {
	var out []float64
	for i := range min(len(c.Shield), len(c.Bare)) {
		if c.Bare[i].RPS > 0 {
			out = append(out, c.Shield[i].RPS/c.Bare[i].RPS)
		}
	}
	return out
}

// Met reports whether the figure reaches its target.
func (c *comparison) Met() bool { return c.MinRatio == 0 || c.Ratio() >= c.MinRatio }

// loadBench measures the shield's throughput with wrk against the
// petition's bare reverse_proxy, all in one shield process.
type loadBench struct {
	wrk       loadTool
	rounds    int
	ports     ports
	transport http.RoundTripper
	solver    *nativeSolver
	scriptDir string
	shieldPID int
	figs      *loadFigures // where run times and other processes' CPU add up
	// redisAddr, when set, is the Redis whose scripts each run counts.
	redisAddr string
	// profileDir, when set, receives a CPU profile of the shield process
	// during its first run of each figure (from Caddy's admin API,
	// /debug/pprof/profile), named after the figure.
	profileDir string
}

// refusedIP is the over-budget network of the refusal figure: a hosting
// address none of the attacker's servers uses. otherIP is the residential
// address whose pass it sends.
const (
	refusedIP = "88.198.250.10"
	otherIP   = "90.0.250.10"
)

// loadFigures are the three throughput comparisons.
type loadFigures struct {
	PassThrough, Refusal, Challenge comparison
	Threads, Connections            int
	RunDuration                     time.Duration
	Rounds                          int
	// RunTime is the wall time of every wrk run together, and OtherCPU
	// the CPU time that processes other than wrk and the shield used
	// meanwhile: near zero, the runs had the machine to themselves.
	RunTime, OtherCPU time.Duration
}

func (lb *loadBench) run(ctx context.Context) (*loadFigures, error) {
	figs := &loadFigures{Threads: lb.wrk.threads, Connections: lb.wrk.connections, RunDuration: lb.wrk.duration, Rounds: lb.rounds}
	lb.figs = figs

	// A pass for wrk: bound to 127.0.0.1 (wrk sends no X-Forwarded-For),
	// no User-Agent (wrk sends none) and the Host wrk sends.
	pass, err := getPass(ctx, newVisitor(lb.transport, lb.ports.shieldURL(), "", ""), lb.solver)
	if err != nil {
		return nil, fmt.Errorf("pass for wrk: %w", err)
	}
	figs.PassThrough = comparison{Name: "pass-through (valid pass, GET /)", File: "pass", Answer: "200, the petition", MinRatio: 0.95,
		Reference: "bare `reverse_proxy`", referenceURL: lb.ports.bareURL()}
	if err := lb.compare(ctx, &figs.PassThrough, figure{
		wrkOptions: []string{"-H", "Cookie: " + pass},
		probe:      expectStatus(lb, "", pass, http.StatusOK),
		secrets:    map[string]string{pass: "$PASS"},
	}); err != nil {
		return nil, err
	}

	// The refusal: a hosting network over its challenge budget, sending a
	// pass that another network bought. The shield checks the pass (one
	// HMAC), finds it is not this client's, would challenge, and answers
	// 429 instead. (A pass spent on a signature still reads the site, so it
	// would be let through, not refused.)
	stolen, err := getPass(ctx, newVisitor(lb.transport, lb.ports.shieldURL(), otherIP, ""), lb.solver)
	if err != nil {
		return nil, fmt.Errorf("another network's pass for wrk: %w", err)
	}
	refused := newVisitor(lb.transport, lb.ports.shieldURL(), refusedIP, "")
	figs.Refusal = comparison{Name: "refusal (network over budget, another network's pass)", File: "refusal", Answer: "429", MinRatio: 0.90,
		Reference: "bare `respond 429`", referenceURL: lb.ports.refuseURL()}
	if err := lb.compare(ctx, &figs.Refusal, figure{
		wrkOptions: []string{"-H", "X-Forwarded-For: " + refusedIP, "-H", "Cookie: " + stolen},
		// The budget's window may have ended since: spend it again.
		before:  func(ctx context.Context) error { return exhaustChallenges(ctx, refused, stolen) },
		probe:   expectStatus(lb, refusedIP, stolen, http.StatusTooManyRequests),
		secrets: map[string]string{stolen: "$OTHER_PASS"},
		refuses: true,
	}); err != nil {
		return nil, err
	}

	// Challenge pages: every request from a new /24, so none is over a
	// budget. Each run starts where the previous one stopped.
	script := filepath.Join(lb.scriptDir, "distinct-ips.lua")
	offset := 0
	scriptArgs := func() []string {
		first := offset
		offset += distinctNetworks / (2 * lb.rounds) // disjoint ranges
		return []string{strconv.Itoa(first), strconv.Itoa(lb.wrk.threads)}
	}
	figs.Challenge = comparison{Name: "challenge pages (no pass, a new /24 each request)", File: "challenge", Answer: "403, the challenge page", MinRatio: 0.60,
		Reference: "bare `respond 429`", referenceURL: lb.ports.refuseURL()}
	if err := lb.compare(ctx, &figs.Challenge, figure{
		wrkOptions: []string{"-s", script},
		scriptArgs: scriptArgs,
		probe:      expectStatus(lb, "99.99.99.99", "", http.StatusForbidden),
		secrets:    map[string]string{lb.scriptDir + "/": ""},
		refuses:    true,
	}); err != nil {
		return nil, err
	}
	return figs, nil
}

// figure says how to measure one comparison.
type figure struct {
	// wrkOptions go before the URL: headers, a script.
	wrkOptions []string
	// scriptArgs, when set, gives each run's script arguments.
	scriptArgs func() []string
	// before, when set, runs before each shield run.
	before func(context.Context) error
	// probe checks, before and after each shield run, that the shield
	// answers what the figure measures.
	probe func(context.Context) error
	// secrets are replaced by their names in the report's commands.
	secrets map[string]string
	// refuses says the shield answers every request outside 2xx/3xx (a
	// challenge, a 429); otherwise it lets every one through.
	refuses bool
}

// compare runs wrk against the shield and the bare proxy in turn, rounds
// times, with the same requests.
func (lb *loadBench) compare(ctx context.Context, c *comparison, f figure) error {
	// run runs wrk once against url, with a CPU profile of the process
	// named profile in the first round when profiling.
	run := func(url string, round int, profile string) (wrkResult, string, error) {
		var profiled <-chan error
		if lb.profileDir != "" && round == 1 {
			profiled = lb.profile(ctx, filepath.Join(lb.profileDir, profile))
		}
		var scriptArgs []string
		if f.scriptArgs != nil {
			scriptArgs = f.scriptArgs()
		}
		args := lb.wrk.args(lb.wrk.duration, f.wrkOptions, url, scriptArgs...)
		busy, _ := machineBusy()
		shield, errShieldBefore := readProcessStats(lb.shieldPID)
		scripts, errScriptsBefore := storeScripts(lb.redisAddr)
		start := time.Now()
		r, err := lb.wrk.run(ctx, args, nil)
		if profiled != nil {
			if err := <-profiled; err != nil {
				c.Problems = append(c.Problems, "CPU profile: "+err.Error())
			}
		}
		if err != nil {
			return r, "", fmt.Errorf("%s: %w", c.Name, err)
		}
		lb.figs.RunTime += time.Since(start)
		busyAfter, errBusy := machineBusy()
		shieldAfter, errShield := readProcessStats(lb.shieldPID)
		if errShieldBefore == nil && errShield == nil {
			r.ServerCPU = shieldAfter.CPU - shield.CPU
		}
		if scriptsAfter, err := storeScripts(lb.redisAddr); errScriptsBefore == nil && err == nil {
			r.StoreScripts = scriptsAfter - scripts
		}
		if errBusy == nil && r.ServerCPU > 0 {
			others := (busyAfter - busy) - r.ServerCPU - r.CPU
			lb.figs.OtherCPU += max(others, 0)
		}
		return r, commandLine(args, f.secrets), nil
	}
	for round := 1; round <= lb.rounds; round++ {
		if f.before != nil {
			if err := f.before(ctx); err != nil {
				return fmt.Errorf("%s: %w", c.Name, err)
			}
		}
		if err := f.probe(ctx); err != nil {
			c.Problems = append(c.Problems, fmt.Sprintf("round %d, before: %v", round, err))
		}
		r, cmd, err := run(lb.ports.shieldURL()+"/", round, c.File+".pprof")
		if err != nil {
			return err
		}
		c.Shield, c.ShieldCommand = append(c.Shield, r), cmd
		if f.refuses && r.Non2xx != r.Requests {
			c.Problems = append(c.Problems, fmt.Sprintf("round %d: the shield let %d of %d requests through", round, r.Requests-r.Non2xx, r.Requests))
		} else if !f.refuses && r.Non2xx > 0 {
			c.Problems = append(c.Problems, fmt.Sprintf("round %d: the shield refused %d of %d requests", round, r.Non2xx, r.Requests))
		}
		if err := f.probe(ctx); err != nil {
			c.Problems = append(c.Problems, fmt.Sprintf("round %d, after: %v", round, err))
		}
		if r, cmd, err = run(c.referenceURL+"/", round, c.File+"-bare.pprof"); err != nil {
			return err
		}
		c.Bare, c.BareCommand = append(c.Bare, r), cmd
		if f.refuses && r.Non2xx != r.Requests {
			c.Problems = append(c.Problems, fmt.Sprintf("round %d: %s answered %d requests in 2xx/3xx", round, c.Reference, r.Requests-r.Non2xx))
		} else if !f.refuses && r.Non2xx > 0 {
			c.Problems = append(c.Problems, fmt.Sprintf("round %d: %s answered %d requests outside 2xx/3xx", round, c.Reference, r.Non2xx))
		}
	}
	return nil
}

// expectStatus returns a probe: one request as wrk sends it (no
// User-Agent, the given address and cookie) must get want.
func expectStatus(lb *loadBench, ip, cookie string, want int) func(context.Context) error {
	return func(ctx context.Context) error {
		v := newVisitor(lb.transport, lb.ports.shieldURL(), ip, "")
		r, err := v.do(ctx, http.MethodGet, "/", "", "", cookie)
		if err != nil {
			return err
		}
		if r.status != want {
			return fmt.Errorf("the shield answered %d, want %d", r.status, want)
		}
		return nil
	}
}

// commandLine renders a wrk command for the report, with secrets replaced.
func commandLine(args []string, secrets map[string]string) string {
	quoted := []string{"wrk"}
	for _, a := range args {
		for secret, name := range secrets {
			a = strings.ReplaceAll(a, secret, name)
		}
		if strings.ContainsAny(a, " $;") {
			a = `"` + a + `"`
		}
		quoted = append(quoted, a)
	}
	return strings.Join(quoted, " ")
}

// getPass solves a challenge natively and returns the pass as a Cookie
// header value (bench/getpass does the same).
func getPass(ctx context.Context, v *visitor, solver *nativeSolver) (string, error) {
	page, err := v.get(ctx, "/")
	if err != nil {
		return "", err
	}
	ch, err := shieldtest.ParsePage(page.body)
	if err != nil {
		return "", fmt.Errorf("GET / answered %d: %w", page.status, err)
	}
	nonce, err := solver.solve(ctx, ch.Puzzle)
	if err != nil {
		return "", err
	}
	granted, err := v.postForm(ctx, ch.Action, ch.Proof(nonce))
	if err != nil {
		return "", err
	}
	pass, ok := passFrom(granted)
	if !ok {
		return "", fmt.Errorf("proof refused: status %d", granted.status)
	}
	return pass, nil
}

// maxExhaustRequests bounds the requests that exhaust a challenge budget.
const maxExhaustRequests = 1000

// exhaustChallenges asks for challenges from v's network until the shield
// answers 429.
func exhaustChallenges(ctx context.Context, v *visitor, cookie string) error {
	for range maxExhaustRequests {
		r, err := v.do(ctx, http.MethodGet, "/", "", "", cookie)
		if err != nil {
			return err
		}
		if r.status == http.StatusTooManyRequests {
			return nil
		}
	}
	return fmt.Errorf("still no 429 after %d challenges from %s", maxExhaustRequests, v.ip)
}

// profile fetches a CPU profile of the shield from Caddy's admin API over
// the next wrk run (a second shorter, so that it ends within the run) and
// writes it to path.
func (lb *loadBench) profile(ctx context.Context, path string) <-chan error {
	done := make(chan error, 1)
	seconds := max(int(lb.wrk.duration/time.Second)-1, 1)
	url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", lb.ports.Admin, seconds)
	go func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			done <- err
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			done <- fmt.Errorf("%s: %s", url, resp.Status)
			return
		}
		body, err := io.ReadAll(resp.Body)
		if err == nil {
			err = os.WriteFile(path, body, 0o644)
		}
		done <- err
	}()
	return done
}
