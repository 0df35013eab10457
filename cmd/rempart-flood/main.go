// Command rempart-flood replays the petition incident that rempart exists
// for, against the real shield, and measures it: 218 servers in a handful
// of hosting networks posting fraudulent signatures as fast as the shield
// lets them, with proofs solved natively on every core, while a crowd of
// real signers in residential networks (and a few headless Chromium
// browsers) sign once each. Then it plays the attacker's moves of issue 9
// against a fresh shield (moves.go: aliases of the signature endpoint, a
// pass bought on a cheap page, stash flooding, cross-site posts,
// amplification of a network's budget, replay after a restart, a spoofed
// X-Forwarded-For), each reported as tried, accepted and expected. It
// writes a report in markdown and a chart of signatures over time, and,
// when wrk is installed, the shield's load figures measured against a bare
// reverse_proxy and a bare respond 429 in the same Caddy.
//
//	go run ./cmd/rempart-flood                 # 60 s scenario, then the load figures
//	go run ./cmd/rempart-flood -short          # a few seconds of each
//	go run ./cmd/rempart-flood -load-only      # only the load figures and the memory run (make bench-load)
//
// The shield runs as a subprocess (cmd/rempart, built unless -shield names
// a binary), so that its CPU time and peak memory can be read from /proc.
// Everything listens on and connects to 127.0.0.1; the clients present
// their addresses in X-Forwarded-For through Caddy's trusted_proxies.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/rempart/rempart/asn/asntest"
	"github.com/rempart/rempart/internal/chromium"
)

// config is one replay's settings.
type config struct {
	shieldBinary string
	outDir       string
	duration     time.Duration
	// grace is how long signers who arrived in time may take to finish.
	grace time.Duration

	attackers     int
	attackerCores int
	replays       int
	blindPause    time.Duration

	signersPerSecond float64
	signerHashRate   float64
	browsers         int
	// requireBrowser makes a missing Chromium an error (the smoke test in
	// CI, where scripts/test.sh installs it).
	requireBrowser bool
	// loadOnly skips the scenario and the attacker's moves: only the load
	// figures and the memory run.
	loadOnly bool
	// profile writes a CPU profile of the shield for each load figure
	// into the report's directory.
	profile bool

	wrk            bool
	wrkDuration    time.Duration
	wrkRounds      int
	wrkThreads     int
	wrkConnections int
	millionClients int

	// moves plays the attacker's moves of issue 9 (moves.go) after the
	// scenario: moveClients clients for most of them, stashSigners signers
	// whose submissions are held during the stash flood, and
	// forwardedTries signatures for each spoofing client.
	moves          bool
	moveClients    int
	stashSigners   int
	forwardedTries int

	// store is where the shield keeps its state: "memory" (the default)
	// or "redis" (a redis-server the run starts).
	store string
	// instances is how many shield processes share the Redis store
	// behind a round-robin load balancer (1 to 3; more than 1 needs
	// store redis).
	instances int

	ports ports
	log   io.Writer
}

// signers is how many legitimate Go signers the scenario starts.
func (c config) signers() int {
	return max(1, min(int(c.signersPerSecond*c.duration.Seconds()), maxSigners))
}

func (c config) logf(format string, args ...any) {
	if c.log != nil {
		fmt.Fprintf(c.log, format+"\n", args...)
	}
}

// defaultConfig is the full replay; shortConfig the few-seconds one.
func defaultConfig() config {
	return config{
		outDir:           "flood-report",
		duration:         60 * time.Second,
		grace:            60 * time.Second,
		attackers:        218,
		attackerCores:    runtime.NumCPU(),
		replays:          5,
		blindPause:       0,
		signersPerSecond: 5,
		signerHashRate:   1e6,
		browsers:         3,
		wrk:              true,
		wrkDuration:      5 * time.Second,
		wrkRounds:        2,
		wrkThreads:       2,
		wrkConnections:   64,
		millionClients:   1_000_000,
		moves:            true,
		moveClients:      4,
		stashSigners:     20,
		forwardedTries:   8,
		ports:            portsFrom(9500, 2995, 1),
		store:            "memory",
		instances:        1,
	}
}

func shortConfig() config {
	c := defaultConfig()
	c.outDir = "flood-report-short"
	c.duration = 4 * time.Second
	c.grace = 30 * time.Second
	c.browsers = 1
	c.wrkDuration = time.Second
	c.millionClients = 20_000
	c.moveClients = 2
	c.stashSigners = 10
	c.forwardedTries = 5
	return c
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "rempart-flood:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rempart-flood:", err)
		os.Exit(1)
	}
	report, err := writeReport(cfg.outDir, res)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rempart-flood:", err)
		os.Exit(1)
	}
	fmt.Print(res.summary())
	fmt.Println("report:", report)
	if v := res.violations(); len(v) > 0 {
		for _, s := range v {
			fmt.Fprintln(os.Stderr, "rempart-flood: invariant broken:", s)
		}
		os.Exit(1)
	}
}

// parseFlags reads the command line; -short changes the defaults of the
// flags not given.
func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("rempart-flood", flag.ContinueOnError)
	def := defaultConfig()
	short := fs.Bool("short", false, "a few seconds of each part instead of the full replay")
	var c config
	fs.StringVar(&c.shieldBinary, "shield", "", "cmd/rempart binary to run (default: build it)")
	fs.StringVar(&c.outDir, "out", def.outDir, "directory for the report and the chart")
	fs.DurationVar(&c.duration, "duration", def.duration, "how long the attack lasts")
	fs.DurationVar(&c.grace, "grace", def.grace, "how long signers who arrived in time may take to finish")
	fs.IntVar(&c.attackers, "attackers", def.attackers, "attacking servers")
	fs.IntVar(&c.attackerCores, "attacker-cores", def.attackerCores, "cores the attacker's native solver uses")
	fs.IntVar(&c.replays, "replays", def.replays, "times a replaying server sends its spent pass again")
	fs.DurationVar(&c.blindPause, "blind-pause", def.blindPause, "pause between two posts of a server signing without proof (0: none)")
	fs.Float64Var(&c.signersPerSecond, "signers-per-second", def.signersPerSecond, "legitimate signers arriving each second")
	fs.Float64Var(&c.signerHashRate, "signer-hash-rate", def.signerHashRate, "hashes per second of a signer's browser")
	fs.IntVar(&c.browsers, "browsers", def.browsers, "headless Chromium signers (at most 3: they share 127.0.0.1, whose budget is 3 signatures an hour)")
	noWrk := fs.Bool("no-wrk", false, "skip the load figures")
	fs.DurationVar(&c.wrkDuration, "wrk-duration", def.wrkDuration, "length of each wrk run")
	fs.IntVar(&c.wrkRounds, "wrk-rounds", def.wrkRounds, "shield/bare pairs per load figure")
	fs.IntVar(&c.wrkThreads, "wrk-threads", def.wrkThreads, "wrk -t")
	fs.IntVar(&c.wrkConnections, "wrk-connections", def.wrkConnections, "wrk -c")
	fs.IntVar(&c.millionClients, "million", def.millionClients, "distinct clients in the memory run (0: skip it)")
	noMoves := fs.Bool("no-moves", false, "skip the attacker's moves of issue 9")
	fs.BoolVar(&c.profile, "profile", false, "write a CPU profile of the shield process during each load figure's first round, of the shield's run and of bare Caddy's (pass.pprof and pass-bare.pprof, refusal..., challenge... in -out; bench/profile-diff.sh compares two per request)")
	fs.BoolVar(&c.loadOnly, "load-only", false, "skip the scenario and the moves: only the load figures (shield and bare Caddy interleaved) and the memory run")
	fs.IntVar(&c.moveClients, "move-clients", def.moveClients, "clients in each of the attacker's moves")
	fs.IntVar(&c.stashSigners, "stash-signers", def.stashSigners, "signers whose submissions are held during the stash flood")
	fs.IntVar(&c.forwardedTries, "forwarded-tries", def.forwardedTries, "signatures of each client that spoofs X-Forwarded-For")
	fs.StringVar(&c.store, "store", def.store, "where the shield keeps its state: memory, or redis (a redis-server the run starts on port-base+6)")
	fs.IntVar(&c.instances, "instances", def.instances, "shield processes sharing one Redis behind a round-robin load balancer, 1 to 3 (more than 1 needs -store redis; they listen on port-base+7 on)")
	portBase := fs.Int("port-base", 9500, "first of the ports the run listens on (base to base+6, and base+99)")
	adminPort := fs.Int("admin-port", 2995, "Caddy's admin port")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *short {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		sc := shortConfig()
		for name, apply := range map[string]func(){
			"out":             func() { c.outDir = sc.outDir },
			"duration":        func() { c.duration = sc.duration },
			"grace":           func() { c.grace = sc.grace },
			"browsers":        func() { c.browsers = sc.browsers },
			"wrk-duration":    func() { c.wrkDuration = sc.wrkDuration },
			"million":         func() { c.millionClients = sc.millionClients },
			"move-clients":    func() { c.moveClients = sc.moveClients },
			"stash-signers":   func() { c.stashSigners = sc.stashSigners },
			"forwarded-tries": func() { c.forwardedTries = sc.forwardedTries },
		} {
			if !set[name] {
				apply()
			}
		}
	}
	c.wrk = !*noWrk
	c.moves = !*noMoves
	c.ports = portsFrom(*portBase, *adminPort, c.instances)
	c.log = os.Stderr
	return c, c.validate()
}

func (c config) validate() error {
	switch {
	case c.duration < time.Second || c.duration > 30*time.Minute:
		// Budgets are hourly: a longer run would see their windows reset.
		return fmt.Errorf("-duration %s: want 1s to 30m", c.duration)
	case c.grace < 0 || c.grace > 10*time.Minute:
		return fmt.Errorf("-grace %s: want 0 to 10m", c.grace)
	case c.attackers < 0 || c.attackers > len(hostingNetworks)*maxClientsPerNetwork:
		return fmt.Errorf("-attackers %d: want 0 to %d", c.attackers, len(hostingNetworks)*maxClientsPerNetwork)
	case c.attackerCores < 1 || c.replays < 0 || c.replays > 1000 || c.blindPause < 0:
		return errors.New("-attacker-cores must be at least 1, -replays 0 to 1000, -blind-pause not negative")
	case !(c.signersPerSecond > 0) || !(c.signerHashRate >= 1e3):
		return errors.New("-signers-per-second must be positive and -signer-hash-rate at least 1000")
	case c.browsers < 0 || c.browsers > browserBudget:
		return fmt.Errorf("-browsers %d: want 0 to %d (Chromium connects from 127.0.0.1, whose budget is %d signatures an hour)", c.browsers, browserBudget, browserBudget)
	case c.wrkDuration < time.Second || c.wrkRounds < 1 || c.wrkRounds > 10 || c.wrkThreads < 1 || c.wrkConnections < c.wrkThreads:
		return errors.New("-wrk-duration at least 1s, -wrk-rounds 1 to 10, -wrk-connections at least -wrk-threads")
	case c.millionClients < 0 || c.millionClients > distinctNetworks:
		return fmt.Errorf("-million %d: want 0 to %d", c.millionClients, distinctNetworks)
	case c.moveClients < 1 || c.moveClients > 8 || c.stashSigners < 1 || c.stashSigners > 40 || c.forwardedTries < 1 || c.forwardedTries > maxForwardedTries:
		// Each move's clients have a block of addresses of their own
		// (moves.go).
		return fmt.Errorf("-move-clients 1 to 8, -stash-signers 1 to 40, -forwarded-tries 1 to %d", maxForwardedTries)
	case c.store != "memory" && c.store != "redis":
		return fmt.Errorf("-store %q: want memory or redis", c.store)
	case c.instances < 1 || c.instances > 3 || (c.instances > 1 && c.store != "redis"):
		return fmt.Errorf("-instances %d: want 1 to 3, and -store redis for more than 1 (they share its state)", c.instances)
	case c.ports.HTTP < 1024 || c.ports.HTTPS > 65535:
		return fmt.Errorf("-port-base %d: want 1024 to 65436", c.ports.HTTP)
	}
	return nil
}

// results is everything one replay measured.
type results struct {
	cfg       config
	started   time.Time
	caddyfile string
	scenario  *scenarioResult
	// moves is nil when skipped.
	moves *movesResult
	// load and million are nil when skipped; loadNote says why.
	load     *loadFigures
	million  *millionFigures
	loadNote string
}

// run replays the incident, then measures the load figures.
func run(ctx context.Context, cfg config) (*results, error) {
	res := &results{cfg: cfg, started: time.Now()}
	work, err := os.MkdirTemp("", "rempart-flood-")
	if err != nil {
		return nil, fmt.Errorf("work directory: %w", err)
	}
	defer os.RemoveAll(work)

	env := &environment{cfg: cfg, work: work, secret: randomSecret(), solver: newNativeSolver(cfg.attackerCores)}
	if env.binary = cfg.shieldBinary; env.binary == "" {
		cfg.logf("building %s", shieldPackage)
		if env.binary, err = buildShield(ctx, work); err != nil {
			return nil, err
		}
	}
	env.asnDB = filepath.Join(work, "asn.mmdb")
	if err := asntest.Write(env.asnDB, append(append([]network{}, hostingNetworks...), residentialNetworks...)); err != nil {
		return nil, err
	}
	env.policy = filepath.Join(work, "policy.yaml")
	if err := writePolicy(env.policy); err != nil {
		return nil, err
	}
	if cfg.store == "redis" {
		cfg.logf("starting redis-server on port %d", cfg.ports.Redis)
		redis, err := startRedis(ctx, filepath.Join(work, "redis"), cfg.ports.Redis)
		if err != nil {
			return nil, err
		}
		defer redis.stop()
		env.redis = redis.addr
	}
	if env.chrome = chromium.Find(); env.chrome == "" && cfg.requireBrowser && cfg.browsers > 0 {
		return nil, errors.New("no Chromium found: install Debian's chromium package, or set REMPART_CHROMIUM")
	}

	if cfg.loadOnly {
		wrkPath, err := exec.LookPath("wrk")
		if err != nil {
			return nil, errors.New("-load-only: wrk is not installed (Debian: apt-get install wrk)")
		}
		if err := runLoad(ctx, env, wrkPath, res); err != nil {
			return nil, err
		}
		return res, res.readCaddyfile(work, "load", env.secret)
	}

	cfg.logf("scenario: %d attacking servers, %d signers and %d Chromium signers for %s", cfg.attackers, cfg.signers(), cfg.browsers, cfg.duration)
	if res.scenario, err = runScenario(ctx, env); err != nil {
		return nil, err
	}
	if err := res.readCaddyfile(work, "scenario", env.secret); err != nil {
		return nil, err
	}

	if cfg.moves {
		cfg.logf("the attacker's moves of issue 9, against a fresh shield")
		if res.moves, err = runMoves(ctx, env); err != nil {
			return nil, err
		}
	}

	wrkPath, lookErr := exec.LookPath("wrk")
	switch {
	case !cfg.wrk:
		res.loadNote = "skipped (-no-wrk)"
	case lookErr != nil:
		res.loadNote = "skipped: wrk is not installed (Debian: apt-get install wrk)"
	default:
		if err := runLoad(ctx, env, wrkPath, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// readCaddyfile keeps the Caddyfile of the named part of the run, its
// secret replaced.
func (res *results) readCaddyfile(work, name, secret string) error {
	caddyfile, err := os.ReadFile(filepath.Join(work, name, "Caddyfile"))
	if err != nil {
		return fmt.Errorf("caddyfile: %w", err)
	}
	res.caddyfile = strings.ReplaceAll(string(caddyfile), secret, "{env.REMPART_SECRET}")
	return nil
}

// runLoad measures the load figures in one fresh shield, and the memory
// under a million distinct clients in another, so that its peak is that
// run's alone.
func runLoad(ctx context.Context, env *environment, wrkPath string, res *results) error {
	cfg := env.cfg
	luaDir := filepath.Join(env.work, "lua")
	if err := writeScripts(luaDir); err != nil {
		return err
	}
	transport := newTransport()
	defer transport.CloseIdleConnections()
	lb := &loadBench{
		wrk:       loadTool{path: wrkPath, threads: cfg.wrkThreads, connections: cfg.wrkConnections, duration: cfg.wrkDuration},
		rounds:    cfg.wrkRounds,
		ports:     cfg.ports,
		transport: transport,
		solver:    env.solver,
		scriptDir: luaDir,
		redisAddr: env.redis,
	}
	if cfg.profile {
		if err := os.MkdirAll(cfg.outDir, 0o755); err != nil {
			return fmt.Errorf("profiles: %w", err)
		}
		lb.profileDir = cfg.outDir
	}

	cfg.logf("load figures: %d rounds of %s runs, shield and bare Caddy (reverse_proxy, respond 429) interleaved", cfg.wrkRounds, cfg.wrkDuration)
	shield, _, err := env.prepareShield(ctx, "load", false, cfg.ports.Demo)
	if err != nil {
		return err
	}
	lb.shieldPID = shield.pid()
	res.load, err = lb.run(ctx)
	shield.stop()
	if err != nil {
		return err
	}

	if cfg.millionClients == 0 {
		return nil
	}
	cfg.logf("memory: %d distinct clients", cfg.millionClients)
	shield, dir, err := env.prepareShield(ctx, "million", false, cfg.ports.Demo)
	if err != nil {
		return err
	}
	defer shield.stop()
	res.million, err = lb.runMillion(ctx, cfg.millionClients, shield.pid(), dir)
	return err
}
