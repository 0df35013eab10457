package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/rempart/rempart/internal/shieldtest"
)

// What each of the attacker's servers does. Most solve a proof for every
// signature, natively on every core (the attacker's best case); some also
// replay the pass they were given on further signatures; some post
// signatures with no proof at all, which costs them nothing.
const (
	roleSolver   = "solve, then sign"
	roleReplayer = "replay a spent pass"
	roleBlind    = "sign without proof"
)

// attackerUA is the User-Agent the attacker's scripts send: a browser's.
const attackerUA = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"

// errorPause is how long a server waits after an answer it cannot use.
const errorPause = 100 * time.Millisecond

// maxRoundsPerServer bounds each server's loop whatever its speed; the
// scenario's deadline ends it much sooner.
const maxRoundsPerServer = 1_000_000

// attack is the attacker's fleet: servers in hosting networks, each
// presenting its own address through the trusted proxy.
type attack struct {
	shieldURL string
	transport http.RoundTripper
	rec       *recorder
	solver    *nativeSolver
	// replays is how many times a replaying server sends its spent pass
	// again after each signature.
	replays int
	// blindPause is the pause between two posts of a server that signs
	// without proof (0: none, as fast as the shield answers).
	blindPause time.Duration
	// finish bounds a signature already sent when the attack ends: it runs
	// to its answer, which is recorded, since the petition may count it.
	finish context.Context
}

// roleOf gives server i its role: one in six replays passes, one in six
// signs blind, the others solve and sign.
func roleOf(i int) string {
	switch i % 6 {
	case 4:
		return roleReplayer
	case 5:
		return roleBlind
	}
	return roleSolver
}

// run plays servers attacking servers until ctx is done.
func (a *attack) run(ctx context.Context, servers int) {
	var wg sync.WaitGroup
	for i := range servers {
		n := hostingNetworks[i%len(hostingNetworks)]
		s := &server{asn: n.ASN, role: roleOf(i)}
		s.visitor = newVisitor(a.transport, a.shieldURL, addressIn(n.Prefix, i/len(hostingNetworks)).String(), attackerUA)
		s.visitor.observe = func(path string, r reply, err error) { a.rec.request(fraudulent, path, r, err) }
		wg.Go(func() { a.serve(ctx, s) })
	}
	wg.Wait()
}

// server is one of the attacker's servers.
type server struct {
	*visitor
	asn  uint32
	role string
}

// serve runs one attacking server's loop.
func (a *attack) serve(ctx context.Context, s *server) {
	for round := 0; round < maxRoundsPerServer && ctx.Err() == nil; round++ {
		var pause time.Duration
		if s.role == roleBlind {
			pause = a.signBlind(s, round)
		} else {
			pause = a.solveAndSign(ctx, s, round)
		}
		if !sleep(ctx, pause) {
			return
		}
	}
}

// signBlind posts a signature with no pass and no proof.
func (a *attack) signBlind(s *server, round int) time.Duration {
	r, err := s.postForm(a.finish, "/sign", fraudForm(s.ip, round))
	a.rec.fraud(s.asn, roleBlind, r, err)
	if err != nil {
		return max(a.blindPause, errorPause) // no tight loop on a dead shield
	}
	return a.blindPause
}

// solveAndSign gets a challenge, solves it, and signs once with the pass;
// a replaying server then sends the same pass again. It returns how long
// to wait before the next round: a server told to come back later (429)
// does, so as to spend its cores on the networks still open.
func (a *attack) solveAndSign(ctx context.Context, s *server, round int) time.Duration {
	v := s.visitor
	const retry = errorPause
	v.forgetCookies()
	page, err := v.get(ctx, "/")
	switch {
	case err != nil:
		return retry
	case page.status == http.StatusTooManyRequests:
		return retryAfter(page)
	case page.status != http.StatusForbidden:
		return retry
	}
	ch, err := shieldtest.ParsePage(page.body)
	if err != nil {
		return retry
	}
	nonce, err := a.solver.solve(ctx, ch.Puzzle)
	if err != nil {
		return 0
	}
	granted, err := v.postForm(ctx, ch.Action, ch.Proof(nonce))
	if err != nil || granted.status != http.StatusSeeOther {
		return retry
	}
	a.rec.attackProof(ch.Puzzle.Difficulty)
	pass, _ := passFrom(granted)

	form := fraudForm(v.ip, round).Encode()
	r, err := v.do(a.finish, http.MethodPost, "/sign", formType, form, "")
	a.rec.fraud(s.asn, roleSolver, r, err)
	if s.role != roleReplayer || pass == "" {
		return 0
	}
	for range a.replays {
		if ctx.Err() != nil {
			return 0
		}
		r, err := v.do(a.finish, http.MethodPost, "/sign", formType, form, pass)
		a.rec.fraud(s.asn, roleReplayer, r, err)
	}
	return 0
}

// fraudForm is a fake signature, different every time.
func fraudForm(ip string, round int) url.Values {
	return signatureForm(fmt.Sprintf("Bot%s-%d", ip, round))
}

// retryAfter reads a 429's Retry-After, at least one second.
func retryAfter(r reply) time.Duration {
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 1 {
		secs = 1
	}
	return time.Duration(min(secs, 3600)) * time.Second
}

// sleep waits for d or until ctx is done, and reports whether ctx is still
// live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
