package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rempart/rempart/store/redisstore"
)

// scenarioResult is what the replay of the incident showed.
type scenarioResult struct {
	Elapsed time.Duration
	Stats   scenarioStats
	// BackendCount is the petition's own count (GET /api/count), and
	// Backend what its access log says it received.
	BackendCount int
	Backend      backendTraffic
	// Shield is the shield process's CPU time and peak memory (the first
	// instance's, load balancer included, when there are several), and
	// Others those of the other instances.
	Shield processStats
	Others []processStats
	// StoreRoundTrips is how many scripts Redis ran during the attack
	// (-store redis; -1 otherwise): the shield's round trips, all
	// instances together.
	StoreRoundTrips int64
	Signers         int // legitimate Go signers started
	Browsers        int // Chromium signers planned
	// BrowserNote says why Chromium did not sign, when it did not.
	BrowserNote string
}

// backendTraffic is the petition's access log, summed up. The runner's own
// reads of /api/count are left out.
type backendTraffic struct {
	Requests  int // every request but /api/count
	SignPosts int // POST /sign
	Recorded  int // POST /sign answered 303: signatures the petition recorded
	Pages     int // GET /, any query
}

// environment is what every phase shares.
type environment struct {
	cfg    config
	binary string
	asnDB  string
	secret string
	work   string
	chrome string // Chromium's path, "" when none
	policy string // the replay's policy file
	redis  string // the Redis address of a -store redis run, "" otherwise
	solver *nativeSolver
}

// prepareShield writes a Caddyfile into a directory of its own under the
// work directory and starts the shield on it, in front of the petition
// listening on upstream.
func (env *environment) prepareShield(ctx context.Context, name string, backendLog bool, upstream int) (*shieldProcess, string, error) {
	dir := filepath.Join(env.work, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	sc := shieldConfig{
		Ports:         env.cfg.ports,
		Secret:        env.secret,
		Storage:       filepath.Join(dir, "storage"),
		ASNDB:         env.asnDB,
		Policy:        env.policy,
		HostingBudget: hostingBudgetPerHour,
		IPBudget:      ipBudgetPerHour,
		Upstream:      upstream,
		ShieldPort:    env.cfg.ports.Shield,
		Instances:     env.cfg.ports.Instances,
	}
	if len(sc.Instances) > 0 {
		sc.ShieldPort = sc.Instances[0]
	}
	if env.redis != "" {
		// Each shield of the run starts from empty state, as in memory.
		sc.Redis, sc.KeyPrefix = env.redis, "flood-"+name+"-"+env.secret[:8]+":"
	}
	if backendLog {
		sc.BackendLog = filepath.Join(dir, "backend.log")
	}
	if err := writeCaddyfile(filepath.Join(dir, "Caddyfile"), sc); err != nil {
		return nil, "", err
	}
	for i, port := range sc.Instances[min(1, len(sc.Instances)):] {
		extra := sc
		extra.Extra, extra.ShieldPort = true, port
		extra.Storage = filepath.Join(dir, fmt.Sprintf("storage-%d", i+2))
		if err := writeCaddyfile(filepath.Join(dir, fmt.Sprintf("Caddyfile-%d", i+2)), extra); err != nil {
			return nil, "", err
		}
	}
	shield, err := env.startShields(ctx, dir, "caddy")
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	if env.redis != "" {
		// Redis refuses tokens issued within redisstore.LossSkew of a
		// site's first mark (see redisstore.Spent): a fresh prefix is a
		// new site.
		time.Sleep(redisstore.LossSkew + time.Second)
	}
	return shield, dir, nil
}

// startShields starts the shield from the Caddyfiles prepareShield wrote
// in dir: the other instances first, when there are several, then the
// first, which waits until the load balancer answers. Logs go to
// logName.log (logName-2.log... for the other instances).
func (env *environment) startShields(ctx context.Context, dir, logName string) (*shieldProcess, error) {
	var extras []*shieldProcess
	stopExtras := func() {
		for _, x := range extras {
			x.stop()
		}
	}
	for i, port := range env.cfg.ports.Instances[min(1, len(env.cfg.ports.Instances)):] {
		n := i + 2
		x, err := startInstance(ctx, env.binary, filepath.Join(dir, fmt.Sprintf("Caddyfile-%d", n)),
			filepath.Join(dir, fmt.Sprintf("%s-%d.log", logName, n)), filepath.Join(dir, fmt.Sprintf("home-%d", n)), port)
		if err != nil {
			stopExtras()
			return nil, fmt.Errorf("instance %d: %w", n, err)
		}
		extras = append(extras, x)
	}
	shield, err := startShield(ctx, env.binary, filepath.Join(dir, "Caddyfile"), filepath.Join(dir, logName+".log"), dir, env.cfg.ports)
	if err != nil {
		stopExtras()
		return nil, err
	}
	shield.extras = extras
	return shield, nil
}

// runScenario replays the incident against a fresh shield: the
// attacker's servers, the crowd and the Chromium signers at once.
func runScenario(ctx context.Context, env *environment) (*scenarioResult, error) {
	cfg := env.cfg
	shield, dir, err := env.prepareShield(ctx, "scenario", true, cfg.ports.Demo)
	if err != nil {
		return nil, err
	}
	defer shield.stop()
	transport := newTransport()
	defer transport.CloseIdleConnections()

	res := &scenarioResult{Signers: cfg.signers(), Browsers: cfg.browsers, StoreRoundTrips: -1}
	scriptsBefore, errScripts := storeScripts(env.redis)
	start := time.Now()
	rec := newRecorder(start)
	attackCtx, stopAttack := context.WithDeadline(ctx, start.Add(cfg.duration))
	defer stopAttack()
	signCtx, stopSigning := context.WithDeadline(ctx, start.Add(cfg.duration+cfg.grace))
	defer stopSigning()

	att := &attack{shieldURL: cfg.ports.shieldURL(), transport: transport, rec: rec, solver: env.solver, replays: cfg.replays, blindPause: cfg.blindPause, finish: signCtx}
	people := &crowd{shieldURL: cfg.ports.shieldURL(), transport: transport, rec: rec, solver: browserSpeedSolver{hashesPerSecond: cfg.signerHashRate}}
	var wg sync.WaitGroup
	wg.Go(func() { att.run(attackCtx, cfg.attackers) })
	// Arrivals end a little before the attack does, so that the last
	// signer is not lost to the deadline on a busy machine.
	wg.Go(func() { people.run(attackCtx, signCtx, res.Signers, cfg.duration*9/10) })
	switch {
	case cfg.browsers == 0:
		res.BrowserNote = "no Chromium signer asked for (-browsers 0)"
	case env.chrome == "":
		res.BrowserNote = "skipped: no Chromium found (install Debian's chromium, or set REMPART_CHROMIUM)"
	default:
		b := &browsers{chromium: env.chrome, userDataDir: filepath.Join(dir, "chromium"), shieldURL: cfg.ports.shieldURL(), rec: rec}
		wg.Go(func() {
			if err := b.run(signCtx, cfg.browsers, cfg.duration); err != nil {
				res.BrowserNote = err.Error()
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	if scriptsAfter, err := storeScripts(env.redis); errScripts == nil && err == nil && env.redis != "" {
		res.StoreRoundTrips = scriptsAfter - scriptsBefore
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	res.Stats = rec.snapshot()
	if res.Shield, err = readProcessStats(shield.pid()); err != nil {
		return nil, err
	}
	for _, x := range shield.extras {
		st, err := readProcessStats(x.pid())
		if err != nil {
			return nil, err
		}
		res.Others = append(res.Others, st)
	}
	if res.BackendCount, err = petitionCount(ctx, cfg.ports); err != nil {
		return nil, err
	}
	shield.stop() // flushes the access log
	if res.Backend, err = readBackendLog(filepath.Join(dir, "backend.log")); err != nil {
		return nil, err
	}
	return res, nil
}

// petitionCount asks the petition itself, behind the shield's back, how
// many signatures it holds.
func petitionCount(ctx context.Context, p ports) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.demoURL()+"/api/count", nil)
	if err != nil {
		return 0, fmt.Errorf("petition count: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("petition count: %w", err)
	}
	defer resp.Body.Close()
	var c struct{ Count int }
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		return 0, fmt.Errorf("petition count: %w", err)
	}
	return c.Count, nil
}

// readBackendLog sums up the petition's access log (Caddy's JSON lines).
func readBackendLog(path string) (backendTraffic, error) {
	var t backendTraffic
	f, err := os.Open(path)
	if err != nil {
		return t, fmt.Errorf("backend log: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var entry struct {
			Request struct {
				Method string `json:"method"`
				URI    string `json:"uri"`
			} `json:"request"`
			Status int `json:"status"`
		}
		if err := json.Unmarshal(sc.Bytes(), &entry); err != nil {
			return t, fmt.Errorf("backend log: %w", err)
		}
		path, _, _ := strings.Cut(entry.Request.URI, "?")
		switch {
		case path == "/api/count" && entry.Request.URI == path:
			continue
		case entry.Request.Method == http.MethodPost && path == "/sign":
			t.SignPosts++
			if entry.Status == http.StatusSeeOther {
				t.Recorded++
			}
		case entry.Request.Method == http.MethodGet && path == "/":
			t.Pages++
		}
		t.Requests++
	}
	if err := sc.Err(); err != nil {
		return t, fmt.Errorf("backend log: %w", err)
	}
	return t, nil
}
