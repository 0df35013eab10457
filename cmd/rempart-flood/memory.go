package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// millionFigures is the memory of the shield under a flood of distinct
// clients.
type millionFigures struct {
	Clients  int
	Run      wrkResult
	Command  string
	Shield   processStats // at the end of the run
	PeakRSS  int64        // the highest VmRSS sampled during the run
	Samples  []rssSample
	Problems []string
}

type rssSample struct {
	At  time.Duration
	RSS int64
}

// maxMillionRun bounds the distinct-clients run, whatever the count.
const maxMillionRun = 10 * time.Minute

// runMillion sends clients requests, each from a new /24, to a fresh
// shield process, sampling its memory.
func (lb *loadBench) runMillion(ctx context.Context, clients, pid int, markerDir string) (*millionFigures, error) {
	f := &millionFigures{Clients: clients}
	script := filepath.Join(lb.scriptDir, "distinct-ips.lua")
	marker := filepath.Join(markerDir, "million-done")
	args := lb.wrk.args(maxMillionRun, []string{"-s", script}, lb.ports.shieldURL()+"/",
		"0", strconv.Itoa(lb.wrk.threads), strconv.Itoa(clients), marker)
	f.Command = commandLine(args, map[string]string{lb.scriptDir + "/": "", markerDir + "/": "/tmp/"})

	sampleCtx, stopSampling := context.WithCancel(ctx)
	samples := make(chan []rssSample, 1)
	go func() { samples <- sampleRSS(sampleCtx, pid, 250*time.Millisecond) }()
	done := func() bool {
		for t := 1; t <= lb.wrk.threads; t++ {
			if _, err := os.Stat(marker + "." + strconv.Itoa(t)); err != nil {
				return false
			}
		}
		return true
	}
	r, err := lb.wrk.run(ctx, args, done)
	stopSampling()
	f.Samples = <-samples
	if err != nil {
		return nil, fmt.Errorf("distinct clients: %w", err)
	}
	f.Run = r
	if f.Shield, err = readProcessStats(pid); err != nil {
		return nil, err
	}
	for _, s := range f.Samples {
		f.PeakRSS = max(f.PeakRSS, s.RSS)
	}
	if r.Requests < int64(clients) {
		f.Problems = append(f.Problems, fmt.Sprintf("wrk sent %d requests, fewer than %d clients, within %s", r.Requests, clients, maxMillionRun))
	}
	if r.Non2xx < r.Requests {
		f.Problems = append(f.Problems, fmt.Sprintf("%d of %d answers were 2xx/3xx, want every one a challenge", r.Requests-r.Non2xx, r.Requests))
	}
	// Still serving: a new client gets its challenge.
	if err := expectStatus(lb, "99.99.99.99", "", http.StatusForbidden)(ctx); err != nil {
		f.Problems = append(f.Problems, "after the run: "+err.Error())
	}
	return f, nil
}

// sampleRSS reads the process's resident set every interval until ctx is
// done.
func sampleRSS(ctx context.Context, pid int, interval time.Duration) []rssSample {
	var out []rssSample
	start := time.Now()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return out
		case <-tick.C:
			st, err := readProcessStats(pid)
			if errors.Is(err, os.ErrNotExist) {
				return out
			}
			if err == nil {
				out = append(out, rssSample{At: time.Since(start), RSS: st.VmRSS})
			}
		}
	}
}
