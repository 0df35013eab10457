package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rempart/rempart/internal/shieldtest"
)

// comparison is one load figure: the same requests to the shield and to
// the bare reverse_proxy, interleaved (A B A B ...) so that both see the
// same machine.
type comparison struct {
	Name string
	// What the shield answers, and what the figure should reach.
	Answer   string
	MinRatio float64 // 0: no target
	Shield   []wrkResult
	Bare     []wrkResult
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

// Ratio is the shield's mean throughput over the bare proxy's.
func (c *comparison) Ratio() float64 {
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
	figs.PassThrough = comparison{Name: "pass-through (valid pass, GET /)", Answer: "200, the petition", MinRatio: 0.9}
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
	figs.Refusal = comparison{Name: "refusal (network over budget, another network's pass)", Answer: "429", MinRatio: 1.5}
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
	figs.Challenge = comparison{Name: "challenge pages (no pass, a new /24 each request)", Answer: "403, the challenge page"}
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
	run := func(url string) (wrkResult, string, error) {
		var scriptArgs []string
		if f.scriptArgs != nil {
			scriptArgs = f.scriptArgs()
		}
		args := lb.wrk.args(lb.wrk.duration, f.wrkOptions, url, scriptArgs...)
		busy, _ := machineBusy()
		shield, _ := readProcessStats(lb.shieldPID)
		start := time.Now()
		r, err := lb.wrk.run(ctx, args, nil)
		if err != nil {
			return r, "", fmt.Errorf("%s: %w", c.Name, err)
		}
		lb.figs.RunTime += time.Since(start)
		busyAfter, errBusy := machineBusy()
		shieldAfter, errShield := readProcessStats(lb.shieldPID)
		if errBusy == nil && errShield == nil {
			others := (busyAfter - busy) - (shieldAfter.CPU - shield.CPU) - r.CPU
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
		r, cmd, err := run(lb.ports.shieldURL() + "/")
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
		if r, cmd, err = run(lb.ports.bareURL() + "/"); err != nil {
			return err
		}
		c.Bare, c.BareCommand = append(c.Bare, r), cmd
		if r.Non2xx > 0 {
			c.Problems = append(c.Problems, fmt.Sprintf("round %d: the bare proxy answered %d requests outside 2xx/3xx", round, r.Non2xx))
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
