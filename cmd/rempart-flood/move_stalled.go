package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sizes of the stalled bodies' move: one network sends more than its
// share of bodies being read (64, the stash's share), and many networks
// one each, fewer in all than the room (32 MiB of 64 KiB bodies: 512), so
// that signers are held at once.
const (
	stalledFromOne     = 100
	stalledNetworks    = 300
	stalledSigners     = 4
	stalledNetworkRoom = 64
)

// Each stalled network has a /24 of its own (see addressIn).
var _ [maxClientsPerNetwork*(len(stalledSpace)-1) - stalledNetworks]struct{}

// stalledSpace holds the stalled bodies' networks, which the ASN database
// does not know: each /24 is its own network.
var stalledSpace = [...]netip.Prefix{
	netip.MustParsePrefix("185.1.0.0/16"), // the one /24: 185.1.0.0/24
	netip.MustParsePrefix("185.2.0.0/16"),
	netip.MustParsePrefix("185.3.0.0/16"),
}

// stalledBodies: connections that post a signature of max_body without a
// pass, all but its last byte, and never send it: 100 from one /24, and
// one from each of 300 other /24s. While they stall, signers of
// residential networks post their signatures without a pass, which must
// be held and released as if nothing stalled.
func (m *mover) stalledBodies(ctx context.Context) []*moveResult {
	stalls := newMove("3. stash flooding: bodies that never end",
		"", "stalled bodies that reached the petition")
	signers := newMove("3. stash flooding: signers among stalled bodies",
		"", "held signatures that reached the petition once their signer solved")
	before, err := readProcessStats(m.shieldPID)
	if err != nil {
		stalls.problemf("reading the shield's memory: %v", err)
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	stall := func(ip string) {
		c, err := m.stallBody(ip)
		stalls.Tried++
		if err != nil {
			stalls.answer(reply{}, err)
			return
		}
		conns = append(conns, c)
	}

	one := netip.PrefixFrom(stalledSpace[0].Addr(), 24)
	for i := range stalledFromOne {
		a := one.Addr().As4()
		a[3] = byte(i + 1)
		stall(netip.AddrFrom4(a).String())
	}
	fromOne, _ := m.readingSettled(ctx, stalls)
	for i := range stalledNetworks {
		// addressIn gives each its own /24 within one /16.
		stall(addressIn(stalledSpace[1+i/maxClientsPerNetwork], i).String())
	}
	reads, bytes := m.readingSettled(ctx, stalls)
	during, err := readProcessStats(m.shieldPID)
	if err != nil {
		stalls.problemf("reading the shield's memory: %v", err)
	}

	// Signers post while the bodies stall.
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		longest time.Duration
		none    atomic.Int64 // nothing to wait for: released at once
	)
	for j := range stalledSigners {
		n := residentialNetworks[j%len(residentialNetworks)]
		ip := addressIn(n.Prefix, stalledAddress+j/len(residentialNetworks)).String()
		wg.Go(func() {
			res, _, _, last := m.heldSignerAt(ctx, j, ip, tagStalledSigner, &none, 0)
			mu.Lock()
			defer mu.Unlock()
			signers.Tried++
			signers.Answers[last]++
			longest = max(longest, res.total)
			if !res.signed {
				signers.problemf("%s", res.reason)
			}
		})
	}
	wg.Wait()
	stillReading, _ := m.readingSettled(ctx, stalls)

	// The attacker gives up: the reads end with the connections.
	for _, c := range conns {
		_ = c.Close()
	}
	conns = nil
	left, leftBytes := m.readingSettled(ctx, stalls)

	stalls.Did = fmt.Sprintf("%d connections post a %d KiB signature without a pass, all but its last byte, and never send it: %d from one /24 (%s), then one from each of %d other /24s the ASN database does not know",
		stalls.Tried, stashBody>>10, stalledFromOne, one, stalledNetworks)
	signers.Did = fmt.Sprintf("%d signers in residential networks post their signature without a pass while the bodies stall; it is held while they solve at %.1f MH/s, then the proof's 307 re-posts it",
		stalledSigners, m.cfg.signerHashRate/1e6)
	stalls.Accepted = m.petition.signatures(tagStalled)
	signers.Accepted = m.petition.signatures(tagStalledSigner)
	signers.Expected = stalledSigners
	stalls.Notes = append(stalls.Notes,
		fmt.Sprintf("bodies being read at once (`rempart_store_entries{store=\"bodies_being_read\"}`): %d of the one /24's %d (its share: %d); with the other networks' %d: %d, %.1f MiB; %d once the attacker closed its connections (%d bytes)",
			fromOne, stalledFromOne, stalledNetworkRoom, stalledNetworks, reads, float64(bytes)/(1<<20), left, leftBytes),
		fmt.Sprintf("the shield's resident memory: %.1f MiB before, %.1f MiB while the bodies stalled (%d bodies of %d KiB unbounded: %.1f MiB)",
			float64(before.VmRSS)/(1<<20), float64(during.VmRSS)/(1<<20), stalls.Tried, stashBody>>10, float64(stalls.Tried*stashBody)/(1<<20)))
	signers.Notes = append(signers.Notes, fmt.Sprintf("longest signature, solving included: %s; bodies still being read when the last signer was done: %d", longest.Round(time.Millisecond), stillReading))
	switch share := min(stalledFromOne, stalledNetworkRoom); {
	case fromOne > stalledNetworkRoom:
		stalls.problemf("one /24 had %d bodies read at once, more than its share of %d", fromOne, stalledNetworkRoom)
	case m.cfg.instances > 1:
		// The balancer spreads them over the instances, each reading in a
		// room of its own; only the first's is scraped (the others have
		// no admin API), and the /24's challenge budget, shared, stops
		// before each could reach its share.
		stalls.Notes = append(stalls.Notes, fmt.Sprintf("spread over %d instances, each with its own room: the first read %d of them", m.cfg.instances, fromOne))
	case fromOne < share:
		// Refused before their read, or not counted: either way the move
		// did not test the share.
		stalls.problemf("one /24 had only %d bodies read at once, short of its share of %d", fromOne, share)
	}
	if want := min(stalledFromOne, stalledNetworkRoom) + stalledNetworks; reads > want {
		stalls.problemf("%d bodies read at once, more than the %d the shares allow", reads, want)
	}
	if left != 0 {
		stalls.problemf("%d bodies still counted as being read after their connections closed", left)
	}
	return []*moveResult{stalls, signers}
}

// stallBody opens a connection from ip (X-Forwarded-For) that posts a
// max_body signature to /sign, all but its last byte, and leaves it open.
func (m *mover) stallBody(ip string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", m.shieldAddr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("stalling a body from %s: %w", ip, err)
	}
	head := fmt.Sprintf("POST /sign HTTP/1.1\r\nHost: %s\r\nX-Forwarded-For: %s\r\nUser-Agent: %s\r\n%s: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		m.shieldAddr, ip, attackerUA, moveHeader, tagStalled, formType, stashBody)
	body := floodBody()
	// A body the shield does not read yet waits in the socket's buffers,
	// which need not take it all.
	go func() { _, _ = io.WriteString(c, head+body[:len(body)-1]) }()
	return c, nil
}

// readingSettled waits until the shield's count of bodies being read
// stops moving (two equal scrapes 300 ms apart, at most 10 s), and returns
// it; a scrape that fails is a problem of mv.
func (m *mover) readingSettled(ctx context.Context, mv *moveResult) (reads int, bytes int64) {
	last := -1
	var err error
	for range 33 {
		if reads, bytes, err = m.scrapeReading(ctx); err == nil && reads == last {
			return reads, bytes
		}
		last = reads
		if !sleep(ctx, 300*time.Millisecond) {
			break
		}
	}
	if err != nil {
		mv.problemf("%v", err)
	}
	return reads, bytes
}

// scrapeReading reads the bodies being read, on every site, from the
// shield's metrics.
func (m *mover) scrapeReading(ctx context.Context) (reads int, bytes int64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", m.cfg.ports.Admin), nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("scraping the shield's metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `store="bodies_being_read"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, 0, fmt.Errorf("metric line %q: %w", line, err)
		}
		switch {
		case strings.HasPrefix(line, "rempart_store_entries{"):
			reads += int(v)
		case strings.HasPrefix(line, "rempart_store_bytes{"):
			bytes += int64(v)
		}
	}
	return reads, bytes, sc.Err()
}
