package main

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// distinctNetworks is how many /24s the scripts walk through, from
// 100.0.0.0 up to 127.0.0.0 (excluded).
const distinctNetworks = (127 - 100) << 16

// wrkScripts are the Lua scripts the load figures use, in lua/ (their one
// source, which BENCHMARKS.md's commands and bench/observe-cost.sh use
// too). distinct-ips.lua makes every request come from a new network:
// X-Forwarded-For walks the IPv4 space one /24 at a time from 100.0.0.0
// (the threads interleaved), so that no two requests share an address or a
// network prefix, and no per-prefix budget is ever reached. Given a total,
// each thread stops after its share and leaves a marker file, so that the
// runner can stop wrk (SIGINT) as soon as every thread is done (the
// million-clients run).
//
//go:embed lua/distinct-ips.lua
var wrkScripts embed.FS

// writeScripts writes the wrk scripts into dir, where wrk reads them and
// next to a report whose commands name them.
func writeScripts(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("wrk scripts: %w", err)
	}
	scripts, err := fs.Glob(wrkScripts, "lua/*.lua")
	if err != nil {
		return fmt.Errorf("wrk scripts: %w", err)
	}
	for _, name := range scripts {
		script, err := wrkScripts.ReadFile(name)
		if err != nil {
			return fmt.Errorf("wrk scripts: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, path.Base(name)), script, 0o644); err != nil {
			return fmt.Errorf("wrk scripts: %w", err)
		}
	}
	return nil
}

// loadTool runs wrk.
type loadTool struct {
	path        string
	threads     int
	connections int
	duration    time.Duration
}

// wrkResult is what one wrk run reports.
type wrkResult struct {
	Requests int64
	Elapsed  time.Duration
	RPS      float64
	// Non2xx counts answers outside 2xx and 3xx: 403 challenges and 429
	// refusals are expected where the shield answers itself.
	Non2xx       int64
	SocketErrors string
	// CPU is wrk's own CPU time, user and system.
	CPU time.Duration
	// ServerCPU is the CPU time the shield process (which also serves
	// the bare sites) used during the run, user and system.
	ServerCPU time.Duration
	// StoreScripts is how many scripts Redis ran during the run (-store
	// redis): the shield's round trips.
	StoreScripts int64
}

// StoreScriptsPerRequest is StoreScripts per request.
func (r wrkResult) StoreScriptsPerRequest() float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.StoreScripts) / float64(r.Requests)
}

// CPUPerRequest is ServerCPU spent per request: where wrk and the server
// share a machine, a steadier measure of what a request costs than
// throughput, which moves with how the two share its cores.
func (r wrkResult) CPUPerRequest() time.Duration {
	if r.Requests == 0 {
		return 0
	}
	return r.ServerCPU / time.Duration(r.Requests)
}

var (
	wrkRequestsRE = regexp.MustCompile(`(\d+) requests in ([0-9.]+)(us|ms|s|m)`)
	wrkRPSRE      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkNon2xxRE   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSocketRE   = regexp.MustCompile(`Socket errors: (.*)`)
)

// args returns wrk's command line for url, with extra options before it and
// script arguments after it.
func (l loadTool) args(d time.Duration, extra []string, url string, scriptArgs ...string) []string {
	args := []string{
		"-t" + strconv.Itoa(l.threads),
		"-c" + strconv.Itoa(l.connections),
		"-d" + strconv.Itoa(int(d.Round(time.Second)/time.Second)) + "s",
	}
	args = append(args, extra...)
	args = append(args, url)
	if len(scriptArgs) > 0 {
		args = append(append(args, "--"), scriptArgs...)
	}
	return args
}

// run runs wrk with args. When done is set, wrk is stopped (SIGINT, after
// which it reports what it did) as soon as done returns true.
func (l loadTool) run(ctx context.Context, args []string, done func() bool) (wrkResult, error) {
	cmd := exec.CommandContext(ctx, l.path, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 10 * time.Second
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var err error
	if done == nil {
		err = <-exited
	} else {
		err = waitOrStop(cmd, exited, done)
	}
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	r, err := parseWrk(out.String())
	r.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return r, err
}

// waitOrStop waits for wrk to exit, polling done; once done, it asks wrk
// to stop.
func waitOrStop(cmd *exec.Cmd, exited <-chan error, done func() bool) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			return err
		case <-tick.C:
			if done() {
				_ = cmd.Process.Signal(syscall.SIGINT)
				return <-exited
			}
		}
	}
}

func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := wrkRequestsRE.FindStringSubmatch(out)
	rps := wrkRPSRE.FindStringSubmatch(out)
	if m == nil || rps == nil {
		return r, fmt.Errorf("wrk: unreadable report:\n%s", out)
	}
	r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	elapsed, _ := time.ParseDuration(m[2] + m[3])
	r.Elapsed = elapsed
	r.RPS, _ = strconv.ParseFloat(rps[1], 64)
	if m := wrkNon2xxRE.FindStringSubmatch(out); m != nil {
		r.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := wrkSocketRE.FindStringSubmatch(out); m != nil {
		r.SocketErrors = m[1]
	}
	return r, nil
}
