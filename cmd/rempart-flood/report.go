package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Files the report writes into its directory.
const (
	reportFile = "report.md"
	chartFile  = "signatures.png"
	configFile = "Caddyfile"
)

// memoryTarget is what the shield's peak memory under a million distinct
// clients should stay under.
const memoryTarget = 128 << 20

// writeReport writes the report, its chart, the Caddyfile and the wrk
// scripts into dir, and returns the report's path.
func writeReport(dir string, r *results) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	if r.scenario == nil {
		return writeLoadReport(dir, r)
	}
	chart, err := renderChart(signaturesChart(r))
	if err != nil {
		return "", err
	}
	files := map[string][]byte{
		chartFile:  chart,
		configFile: []byte(r.caddyfile),
		reportFile: []byte(r.markdown()),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			return "", fmt.Errorf("report: %w", err)
		}
	}
	if r.load != nil {
		if err := writeScripts(dir); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, reportFile), nil
}

// loadSummary prints the load figures and the memory run.
func (r *results) loadSummary(b *strings.Builder) {
	if l := r.load; l != nil {
		for _, c := range []*comparison{&l.PassThrough, &l.Refusal, &l.Challenge} {
			fmt.Fprintf(b, "%s: %.0f req/s vs %s %.0f req/s, median ratio %.2f (target %.2f: %s); CPU per request %s vs %s, ratio %.2f\n", c.Name, meanRPS(c.Shield), c.Reference, meanRPS(c.Bare), c.Ratio(), c.MinRatio, check(c.Met()),
				microseconds(meanCPUPerRequest(c.Shield)), microseconds(meanCPUPerRequest(c.Bare)), c.CPURatio())
		}
	}
	if m := r.million; m != nil {
		fmt.Fprintf(b, "%d distinct clients: peak memory %s (target %s: %s)\n", m.Clients, mib(m.Shield.VmHWM), mib(memoryTarget), check(m.Shield.VmHWM < memoryTarget))
	}
}

// writeLoadReport writes the report of a -load-only run: the load figures,
// the memory run, the Caddyfile and the wrk scripts.
func writeLoadReport(dir string, r *results) (string, error) {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# Load figures: %s", r.started.Format("2006-01-02 15:04 MST"))
	p("")
	p("`go run ./cmd/rempart-flood -load-only -store %s -instances %d` (`make bench-load`) on %d CPUs (%s/%s, %s): the shield (`cmd/rempart` as a subprocess, the Caddyfile below: the README's budgets, its state in %s) against bare Caddy in the same process.", r.cfg.store, r.cfg.instances, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), storeWords(r.cfg))
	p("")
	r.loadMarkdown(p)
	p("## Caddyfile")
	p("")
	p("```caddyfile")
	p("%s", strings.TrimRight(r.caddyfile, "\n"))
	p("```")
	if err := os.WriteFile(filepath.Join(dir, reportFile), []byte(b.String()), 0o644); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, configFile), []byte(r.caddyfile), 0o644); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	if err := writeScripts(dir); err != nil {
		return "", err
	}
	return filepath.Join(dir, reportFile), nil
}

// summary is the few lines printed at the end of a run.
func (r *results) summary() string {
	var b strings.Builder
	sc := r.scenario
	if sc == nil {
		r.loadSummary(&b)
		return b.String()
	}
	st := sc.Stats
	fmt.Fprintf(&b, "fraudulent signatures: %d accepted of %d attempted (budget %d)\n", st.accepted(fraudulent), st.attempted(fraudulent), fraudBudget())
	fmt.Fprintf(&b, "legitimate signatures: %d accepted of %d\n", st.accepted(legitimate), st.attempted(legitimate))
	lat := signerLatencies(st.signers)
	fmt.Fprintf(&b, "time to sign, solving excluded: p50 %s, p95 %s\n", ms(percentile(lat, 50)), ms(percentile(lat, 95)))
	fmt.Fprintf(&b, "petition count %d; shield CPU %.1f s, peak memory %s\n", sc.BackendCount, sc.Shield.CPU.Seconds(), mib(sc.Shield.VmHWM))
	for i, o := range sc.Others {
		fmt.Fprintf(&b, "instance %d: CPU %.1f s, peak memory %s\n", i+2, o.CPU.Seconds(), mib(o.VmHWM))
	}
	r.loadSummary(&b)
	if mv := r.moves; mv != nil {
		for _, row := range mv.rows() {
			fmt.Fprintf(&b, "move %s: tried %d, accepted %d, expected %d\n", row.Name, row.Tried, row.Accepted, row.Expected)
		}
		fmt.Fprintf(&b, "stash flooding: signers' held submissions lost %d of %d\n", mv.Lost, len(mv.Signers))
	}
	if r.loadNote != "" {
		fmt.Fprintf(&b, "load figures: %s\n", r.loadNote)
	}
	return b.String()
}

// signerLatencies returns each signed Go signer's time to sign, its
// solving left out.
func signerLatencies(signers []signerResult) []time.Duration {
	var out []time.Duration
	for _, s := range signers {
		if s.signed {
			out = append(out, s.total-s.solving)
		}
	}
	return out
}

func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func check(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// markdown renders the whole report.
func (r *results) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	cfg := r.cfg
	sc := r.scenario
	st := sc.Stats

	p("# Flood replay: %s", r.started.Format("2006-01-02 15:04 MST"))
	p("")
	p("The incident behind rempart, replayed against the real shield (`cmd/rempart` as a subprocess) in front of the demo petition, its state in %s, on %d CPUs (%s/%s, %s). Every client reaches the shield from 127.0.0.1, a trusted proxy, and presents its own address in `X-Forwarded-For`.", storeWords(cfg), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	p("")
	mode := "full"
	if cfg.duration < 10*time.Second {
		mode = "short"
	}
	p("- Attack: %s (%s run), %d servers in %d hosting ASNs (%s), one /24 each. Of every six servers, four solve a proof for each signature with the native solver on %d cores (the attacker's best case; they wait out a 429's `Retry-After`), one also replays its spent pass %d times after each signature, and one posts signatures with no proof at all, %s.",
		cfg.duration, mode, cfg.attackers, len(hostingNetworks), asnList(hostingNetworks), cfg.attackerCores, cfg.replays, blindPace(cfg.blindPause))
	p("- Signers: %d people arriving evenly over the attack, in %d residential ASNs, one /24 each, each solving at about %.1f MH/s (a browser's speed), signing once; one in five loses its pass before sending the form, so that the shield holds the signature while the browser solves again. Plus %d headless Chromium signers (real browser, real solver), connecting from 127.0.0.1 directly.",
		sc.Signers, len(residentialNetworks), cfg.signerHashRate/1e6, cfg.browsers)
	if sc.BrowserNote != "" {
		p("  Chromium: %s.", sc.BrowserNote)
	}
	p("- Budgets (see the Caddyfile below): each hosting ASN %d signatures an hour, every other ASN 300 a minute, every address %d an hour, challenge pages 120 a minute per /24; base difficulty 18 bits, rising with a network's flood (threshold 60 challenges a minute, up to 6 more bits). The policy is the embedded default (hosting networks: 2 more bits, 120 challenge pages a minute per ASN) with one rule added first: `GET %s` is challenged at %d bits, a cheap page for the attacker's moves.", hostingBudgetPerHour, ipBudgetPerHour, cheapPath, cheapDifficulty)
	p("")
	p("![Signatures accepted over time](%s)", chartFile)
	p("")

	p("## Signatures")
	p("")
	p("| class | attempted | accepted | challenged (403) | over budget (429) | other refusal | no answer |")
	p("|---|---|---|---|---|---|---|")
	for _, c := range []class{fraudulent, legitimate} {
		a := st.signAttempts[c]
		p("| %s | %d | %d | %d | %d | %d | %d |", c, st.attempted(c), a[accepted], a[challenged], a[overBudget], a[refusedOther], a[failed])
	}
	p("")
	p("Fraudulent signatures by what the server did:")
	p("")
	p("| attacker | attempted | accepted | challenged (403) | over budget (429) | other refusal | no answer |")
	p("|---|---|---|---|---|---|---|")
	for _, role := range []string{roleSolver, roleReplayer, roleBlind} {
		a := st.byRole[role]
		total := 0
		for _, v := range a {
			total += v
		}
		p("| %s | %d | %d | %d | %d | %d | %d |", role, total, a[accepted], a[challenged], a[overBudget], a[refusedOther], a[failed])
	}
	p("")
	p("- Fraudulent signatures accepted: **%d of %d attempted**; the budgets allow at most %d in an hour (%d hosting ASNs x %d): within budget: %s.",
		st.accepted(fraudulent), st.attempted(fraudulent), fraudBudget(), len(hostingNetworks), hostingBudgetPerHour, check(st.accepted(fraudulent) <= fraudBudget()))
	var perASN []string
	for _, n := range hostingNetworks {
		perASN = append(perASN, fmt.Sprintf("AS%d: %d", n.ASN, st.fraudByASN[n.ASN]))
	}
	p("- Accepted per hosting ASN (budget %d each): %s.", hostingBudgetPerHour, strings.Join(perASN, ", "))
	p("- Proofs the attacker solved and had accepted: %d, the hardest at %d bits (base 18).", st.attackProofs, st.attackBits)
	p("")

	p("## Legitimate signers")
	p("")
	signed, interrupted, interruptedSigned, maxBits := 0, 0, 0, 0
	var solving []time.Duration
	for _, s := range st.signers {
		if s.signed {
			signed++
		}
		if s.interrupted {
			interrupted++
			if s.signed {
				interruptedSigned++
			}
		}
		solving = append(solving, s.solving)
		maxBits = max(maxBits, s.maxBits)
	}
	lat := signerLatencies(st.signers)
	p("- Signed: **%d of %d** (goal: all): %s; of them, %d of %d whose signature was held while they solved again.", signed, len(st.signers), check(signed == len(st.signers)), interruptedSigned, interrupted)
	p("- Time to sign, solving excluded (every request from the first GET to the petition's 303): p50 **%s**, p95 **%s**, max %s.", ms(percentile(lat, 50)), ms(percentile(lat, 95)), ms(percentile(lat, 100)))
	p("- Solving at %.1f MH/s, per signer: p50 %s, p95 %s; the hardest challenge a signer got: %d bits.", cfg.signerHashRate/1e6, ms(percentile(solving, 50)), ms(percentile(solving, 95)), maxBits)
	if len(st.browsers) > 0 {
		bSigned := 0
		var took []time.Duration
		for _, br := range st.browsers {
			if br.signed {
				bSigned++
			}
			took = append(took, br.took)
		}
		p("- Chromium: **%d of %d** signed; from opening the petition to the thank-you, solving included: p50 %s, max %s.", bSigned, len(st.browsers), ms(percentile(took, 50)), ms(percentile(took, 100)))
	}
	var refused []string
	for _, s := range st.signers {
		if !s.signed {
			refused = append(refused, s.reason)
		}
	}
	for i, br := range st.browsers {
		if !br.signed {
			refused = append(refused, fmt.Sprintf("Chromium %d: %s", i, br.reason))
		}
	}
	if len(refused) > 0 {
		p("- Refused:")
		for _, s := range refused[:min(len(refused), 10)] {
			p("  - %s", s)
		}
	}
	p("")

	p("## The petition behind the shield")
	p("")
	seen := st.accepted(fraudulent) + st.accepted(legitimate)
	p("- Its count (`GET /api/count`, asked directly): **%d**; signatures the clients saw accepted: %d (%d fraudulent + %d legitimate): equal: %s.", sc.BackendCount, seen, st.accepted(fraudulent), st.accepted(legitimate), check(sc.BackendCount == seen))
	p("- Its access log: %d requests (the runner's own `/api/count` left out): %d `POST /sign`, %d of them recorded (303); %d `GET /` (the form, the thank-you); %d others (Chromium's `/favicon.ico`).",
		sc.Backend.Requests, sc.Backend.SignPosts, sc.Backend.Recorded, sc.Backend.Pages, sc.Backend.Requests-sc.Backend.SignPosts-sc.Backend.Pages)
	total := st.requests[fraudulent] + st.requests[legitimate]
	p("- Requests the Go clients sent to the shield: %d (fraudulent %d, legitimate %d); answers that came from the petition, by the runner's count: fraudulent %d, legitimate %d. The attacker's requests that reached the petition: %s of its %d.",
		total, st.requests[fraudulent], st.requests[legitimate], st.fromBackend[fraudulent], st.fromBackend[legitimate], percent(st.fromBackend[fraudulent], st.requests[fraudulent]), st.requests[fraudulent])
	p("")

	p("## The shield process")
	p("")
	p("| | value |")
	p("|---|---|")
	p("| elapsed (attack, then signers finishing) | %.1f s |", sc.Elapsed.Seconds())
	p("| CPU time, user + system (`/proc/<pid>/stat`) | %.1f s (%.2f cores on average) |", sc.Shield.CPU.Seconds(), sc.Shield.CPU.Seconds()/sc.Elapsed.Seconds())
	p("| peak memory (`VmHWM`, `/proc/<pid>/status`) | %s |", mib(sc.Shield.VmHWM))
	for i, o := range sc.Others {
		p("| instance %d: CPU time, peak memory | %.1f s, %s |", i+2, o.CPU.Seconds(), mib(o.VmHWM))
	}
	if sc.StoreRoundTrips >= 0 {
		p("| Redis round trips (scripts Redis ran, INFO commandstats), all instances | %d: %.2f a request of the Go clients |", sc.StoreRoundTrips, float64(sc.StoreRoundTrips)/float64(max(total, 1)))
	}
	p("")
	p("The attacker's solver, the signers, Chromium and the shield share the same %d CPUs: the shield's latencies above include waiting for a core.", runtime.NumCPU())
	p("")

	r.movesMarkdown(p)
	r.loadMarkdown(p)

	p("## Invariants")
	p("")
	if v := r.violations(); len(v) == 0 {
		p("Every legitimate signer signed, the fraudulent signatures stayed within the budgets, the petition's count equals the signatures accepted, and each of the attacker's moves got what it should have (nothing, or the budgets' share).")
	} else {
		for _, s := range v {
			p("- **broken**: %s", s)
		}
	}
	p("")
	p("## Caddyfile")
	p("")
	p("The run's Caddyfile (its temporary paths as they were; the secret was random):")
	p("")
	p("```caddyfile")
	p("%s", strings.TrimRight(r.caddyfile, "\n"))
	p("```")
	p("")
	p("Reproduce with `make flood` (this report: `go run ./cmd/rempart-flood %s`).", strings.Join(r.flags(), " "))
	return b.String()
}

// movesMarkdown renders the attacker's moves.
func (r *results) movesMarkdown(p func(string, ...any)) {
	p("## The attacker's moves (issue 9)")
	p("")
	mv := r.moves
	if mv == nil {
		p("Not played (-no-moves).")
		p("")
		return
	}
	p("After the scenario, a fresh shield process (the same Caddyfile and policy) guards the runner's own petition on port %d instead of the demo: a lenient one, as a framework's routes often are, that takes every request that writes (any method but GET, HEAD and OPTIONS, in any case, or one with a method-override header) as a signature, whatever its path, and counts it by the move that sent it (an `%s` header). So whatever a move gets past the shield is counted where it lands. Each move has addresses of its own. It took %.1f s; the shield process used %.1f s of CPU and peaked at %s before its restart, %.1f s and %s after.",
		r.cfg.ports.Counting, moveHeader, mv.Elapsed.Seconds(), mv.Shield.CPU.Seconds(), mib(mv.Shield.VmHWM), mv.Restarted.CPU.Seconds(), mib(mv.Restarted.VmHWM))
	p("")
	p("| move | tried | accepted | expected | met | the shield answered |")
	p("|---|---|---|---|---|---|")
	for _, row := range mv.rows() {
		answers := answersText(row.Answers)
		if answers == "" {
			answers = "-"
		}
		p("| %s | %d | **%d** | %d | %s | %s |", row.Name, row.Tried, row.Accepted, row.Expected, check(row.Met()), answers)
	}
	p("")
	for _, row := range mv.rows() {
		p("- **%s**: %s. Accepted counts %s.", row.Name, row.Did, row.Counts)
		for _, n := range row.Notes {
			p("  %s.", upperFirst(n))
		}
		if len(row.Reached) > 0 && row.Accepted > row.Expected {
			p("  The petition received (the first %d): `%s`.", len(row.Reached), strings.Join(row.Reached, "`, `"))
		}
		for _, pr := range row.Problems {
			p("  - **problem**: %s", pr)
		}
	}
	p("")
	signed := 0
	var solving []time.Duration
	for _, s := range mv.Signers {
		if s.signed {
			signed++
		}
		solving = append(solving, s.solving)
	}
	p("Legitimate signers during the moves: %d of %d stash signers signed through their held submission (solving p50 %s, max %s), %d held submissions lost; %d of %d signatures that spent a pass before a move replayed it were accepted.",
		signed, len(mv.Signers), ms(percentile(solving, 50)), ms(percentile(solving, 100)), mv.Lost, mv.SetupAccepted, mv.Setup)
	p("")
	p("The journal's ids: of the %d signatures the petition got during the moves, %d came without exactly one id of the shield's in `Rempart-Signature` and %d with an id another signature had; %d requests brought a value a client forged.",
		mv.IDs.Signatures, mv.IDs.Untagged, mv.IDs.Duplicates, mv.IDs.Forged)
	p("")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// loadMarkdown renders the load figures.
func (r *results) loadMarkdown(p func(string, ...any)) {
	p("## Load figures")
	p("")
	l := r.load
	if l == nil {
		p("Not measured: %s.", r.loadNote)
		p("")
		return
	}
	p("wrk, %d threads and %d connections, runs of %s, the shield (A) and the same Caddy's bare `reverse_proxy` to the same petition, or its bare `respond 429` (B), interleaved A B A B (%d rounds), in a fresh shield process; the figure is the median of the rounds' ratios. During the %.0f s of runs, processes other than wrk and the shield used %.1f CPU-seconds of the machine's %.0f (%s): the more, the noisier the figures. Requests per second:",
		l.Threads, l.Connections, l.RunDuration, l.Rounds, l.RunTime.Seconds(), l.OtherCPU.Seconds(), l.RunTime.Seconds()*float64(runtime.NumCPU()),
		percent(int(l.OtherCPU/time.Millisecond), int(l.RunTime/time.Millisecond)*runtime.NumCPU()))
	p("")
	p("| figure | shield answers | shield req/s (runs) | compared with | its req/s (runs) | ratio per round | median ratio | ratio of means | target | met |")
	p("|---|---|---|---|---|---|---|---|---|---|")
	for _, c := range []*comparison{&l.PassThrough, &l.Refusal, &l.Challenge} {
		target, met := "none", "-"
		if c.MinRatio > 0 {
			target, met = fmt.Sprintf(">= %.2f", c.MinRatio), check(c.Met())
		}
		p("| %s | %s | %.0f (%s) | %s | %.0f (%s) | %s | **%.2f** | %.2f | %s | %s |", c.Name, c.Answer, meanRPS(c.Shield), runsRPS(c.Shield), c.Reference, meanRPS(c.Bare), runsRPS(c.Bare), ratios(c.RoundRatios()), c.Ratio(), c.RatioOfMeans(), target, met)
	}
	p("")
	p("The same runs in CPU time: what the shield process (which serves the bare sites too) spent per request. Throughput moves with how wrk and Caddy share the machine's cores; CPU time per request much less, so it tells more steadily what a request costs. The CPU ratio is the median of the rounds' ratios of the bare site's CPU time per request to the shield's (1: the shield costs nothing); the targets are judged on throughput, as the issue states them.")
	p("")
	p("| figure | shield, µs of CPU per request (runs) | compared with, µs (runs) | CPU ratio |")
	p("|---|---|---|---|")
	for _, c := range []*comparison{&l.PassThrough, &l.Refusal, &l.Challenge} {
		p("| %s | %s (%s) | %s (%s) | **%.2f** |", c.Name, microseconds(meanCPUPerRequest(c.Shield)), runsCPU(c.Shield), microseconds(meanCPUPerRequest(c.Bare)), runsCPU(c.Bare), c.CPURatio())
	}
	p("")
	if r.cfg.store == "redis" {
		p("Redis round trips per request in the same runs: the scripts Redis ran (INFO commandstats, EVALSHA and EVAL, before and after each run), one round trip each; the store's only other command on a request, the GET of a pass's uses (before a held submission's spend, and after the spend of a pass of several credits), has no figure here. Bare Caddy's runs ask Redis nothing; what they show is the shield's background work.")
		p("")
		p("| figure | shield, Redis scripts a request (runs) | compared with (runs) |")
		p("|---|---|---|")
		for _, c := range []*comparison{&l.PassThrough, &l.Refusal, &l.Challenge} {
			p("| %s | %s | %s |", c.Name, runsStoreScripts(c.Shield), runsStoreScripts(c.Bare))
		}
		p("")
	}
	if r.cfg.profile {
		p("CPU profiles of the first round (`-profile`), with the requests each run served, to compare per request: `./bench/profile-diff.sh <shield profile> <its requests> <bare profile> <its requests>`.")
		p("")
		for _, c := range []*comparison{&l.PassThrough, &l.Refusal, &l.Challenge} {
			if len(c.Shield) > 0 && len(c.Bare) > 0 {
				p("- %s: `%s.pprof` %d requests, `%s-bare.pprof` %d requests", c.Name, c.File, c.Shield[0].Requests, c.File, c.Bare[0].Requests)
			}
		}
		p("")
	}
	for _, c := range []*comparison{&l.PassThrough, &l.Refusal, &l.Challenge} {
		for _, s := range c.Problems {
			p("- %s: %s", c.Name, s)
		}
	}
	p("")
	p("Commands (A, then B; the Lua script's first argument, the first /24 to use, changes from run to run):")
	p("")
	p("```sh")
	p("# A pass for wrk, bound to 127.0.0.1, no User-Agent (wrk sends none) and Host 127.0.0.1:%d:", r.cfg.ports.Shield)
	p("PASS=$(go run ./bench/getpass %s/)", r.cfg.ports.shieldURL())
	p("# OTHER_PASS: the same, got with X-Forwarded-For: %s (another network); then GET / with it", otherIP)
	p("# from %s until the shield answers 429 (its /24's challenge budget is spent).", refusedIP)
	for _, c := range []*comparison{&l.PassThrough, &l.Refusal, &l.Challenge} {
		p("%s", c.ShieldCommand)
		p("%s", c.BareCommand)
	}
	p("```")
	p("")
	p("The Lua script (`distinct-ips.lua`) is next to this report (from cmd/rempart-flood/lua/).")
	p("")
	m := r.million
	if m == nil {
		return
	}
	p("### Memory under %d distinct clients", m.Clients)
	p("")
	p("A fresh shield process; every request without a pass and from a new /24 (X-Forwarded-For walks 100.0.0.0 upwards), so that each one costs a challenge page, a per-prefix budget counter and a flood-rate entry.")
	p("")
	p("| | value |")
	p("|---|---|")
	p("| requests | %d in %.1f s (%.0f req/s), %d answered outside 2xx/3xx (challenge pages) |", m.Run.Requests, m.Run.Elapsed.Seconds(), m.Run.RPS, m.Run.Non2xx)
	p("| peak memory (`VmHWM`), start-up included | **%s** (target: under %s: %s) |", mib(m.Shield.VmHWM), mib(memoryTarget), check(m.Shield.VmHWM < memoryTarget))
	p("| resident memory at the end (`VmRSS`) | %s |", mib(m.Shield.VmRSS))
	p("| shield CPU time | %.1f s |", m.Shield.CPU.Seconds())
	if len(m.Samples) > 0 {
		p("| resident memory over the run | %s |", rssCurve(m.Samples))
	}
	p("")
	for _, s := range m.Problems {
		p("- %s", s)
	}
	p("```sh")
	p("%s", m.Command)
	p("```")
	p("")
}

func blindPace(pause time.Duration) string {
	if pause == 0 {
		return "as fast as the shield answers"
	}
	return "every " + pause.String()
}

func ratios(rs []float64) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%.2f", r)
	}
	return strings.Join(parts, ", ")
}

func runsRPS(rs []wrkResult) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%.0f", r.RPS)
	}
	return strings.Join(parts, ", ")
}

// rssCurve shows the resident memory at a few points of the run.
func rssCurve(samples []rssSample) string {
	var parts []string
	for _, q := range []int{10, 25, 50, 75, 100} {
		s := samples[min(len(samples)-1, len(samples)*q/100)]
		parts = append(parts, fmt.Sprintf("%.1f s: %s", s.At.Seconds(), mib(s.RSS)))
	}
	return strings.Join(slices.Compact(parts), ", ")
}

func percent(n, of int) string {
	if of == 0 {
		return "0%"
	}
	return fmt.Sprintf("%.2f%%", 100*float64(n)/float64(of))
}

func asnList(nets []network) string {
	parts := make([]string, len(nets))
	for i, n := range nets {
		parts[i] = fmt.Sprintf("AS%d %s", n.ASN, strings.Split(n.Org, ",")[0])
	}
	return strings.Join(parts, ", ")
}

// flags returns the command-line flags that reproduce the run.
func (r *results) flags() []string {
	c := r.cfg
	return []string{
		"-duration", c.duration.String(),
		"-browsers", fmt.Sprint(c.browsers),
		"-wrk-duration", c.wrkDuration.String(),
		"-million", fmt.Sprint(c.millionClients),
		"-move-clients", fmt.Sprint(c.moveClients),
		"-stash-signers", fmt.Sprint(c.stashSigners),
		"-forwarded-tries", fmt.Sprint(c.forwardedTries),
	}
}

// storeWords says where the run's shield kept its state.
func storeWords(c config) string {
	switch {
	case c.instances > 1:
		return fmt.Sprintf("a local redis-server (`store redis`) shared by %d instances behind a round-robin load balancer that runs in the first instance's Caddy (the CPU and memory figures are the first instance's, load balancer included)", c.instances)
	case c.store == "redis":
		return "a local redis-server (`store redis`)"
	}
	return "memory"
}

func runsCPU(rs []wrkResult) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%.1f", float64(r.CPUPerRequest())/float64(time.Microsecond))
	}
	return strings.Join(parts, ", ")
}

// runsStoreScripts lists each run's Redis scripts per request.
func runsStoreScripts(rs []wrkResult) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%.4f", r.StoreScriptsPerRequest())
	}
	return strings.Join(parts, ", ")
}

// meanCPUPerRequest is the CPU time per request over all the runs.
func meanCPUPerRequest(rs []wrkResult) time.Duration {
	var cpu time.Duration
	var n int64
	for _, r := range rs {
		cpu += r.ServerCPU
		n += r.Requests
	}
	if n == 0 {
		return 0
	}
	return cpu / time.Duration(n)
}

func microseconds(d time.Duration) string {
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}
