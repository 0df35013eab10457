package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/rempart/rempart/internal/shieldtest"
)

// signerUA is the User-Agent of the crowd's browsers.
const signerUA = "Mozilla/5.0 (Linux; Android 15) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Mobile Safari/537.36"

// maxSigners is how many distinct signers the residential networks hold,
// one per /24.
var maxSigners = len(residentialNetworks) * maxClientsPerNetwork

// crowd is the petition's real audience: people in residential networks,
// each signing once, their browsers solving at browser speed.
type crowd struct {
	shieldURL string
	transport http.RoundTripper
	rec       *recorder
	solver    browserSpeedSolver
}

// run starts count signers evenly over arrivals (until arrivalsCtx is done)
// and waits until each one has signed or given up; signCtx bounds how long
// a signer may take.
func (c *crowd) run(arrivalsCtx, signCtx context.Context, count int, arrivals time.Duration) {
	count = min(count, maxSigners)
	var wg sync.WaitGroup
	start := time.Now()
	for k := range count {
		at := time.Duration(int64(arrivals) * int64(k) / int64(count))
		if !sleep(arrivalsCtx, time.Until(start.Add(at))) {
			break
		}
		wg.Go(func() { c.rec.signer(c.sign(signCtx, k)) })
	}
	wg.Wait()
}

// sign plays signer k: open the petition (a challenge, solved in the
// background), read it, and sign. One signer in five finds its pass gone
// when it sends the form (cookies cleared, pass expired): the shield holds
// the signature while the browser solves again, then sends it on.
func (c *crowd) sign(ctx context.Context, k int) signerResult {
	n := residentialNetworks[k%len(residentialNetworks)]
	ip := addressIn(n.Prefix, k/len(residentialNetworks)).String()
	v := newVisitor(c.transport, c.shieldURL, ip, signerUA)
	v.observe = func(path string, r reply, err error) { c.rec.request(legitimate, path, r, err) }
	res := signerResult{interrupted: k%5 == 4}
	start := time.Now()
	err := c.signAs(ctx, v, k, &res)
	res.total = time.Since(start)
	if err != nil {
		res.reason = err.Error()
	}
	return res
}

func (c *crowd) signAs(ctx context.Context, v *visitor, k int, res *signerResult) error {
	page, err := v.get(ctx, "/")
	if err != nil {
		return err
	}
	if _, _, err := c.solveAndProve(ctx, v, page, res, http.StatusSeeOther); err != nil {
		return fmt.Errorf("opening the petition: %w", err)
	}
	form, err := v.get(ctx, "/")
	if err != nil {
		return err
	}
	if form.status != http.StatusOK || !bytes.Contains(form.body, []byte(`id="petition"`)) {
		return fmt.Errorf("GET / with a pass: status %d, not the petition", form.status)
	}

	if res.interrupted {
		v.forgetCookies()
	}
	signature := signatureForm(fmt.Sprintf("Signer%d", k))
	r, err := v.postForm(ctx, "/sign", signature)
	if err == nil && res.interrupted {
		// The signature is held; the proof releases it with a 307, which a
		// browser follows by posting the proof form again to /sign.
		proof, released, proveErr := c.solveAndProve(ctx, v, r, res, http.StatusTemporaryRedirect)
		if proveErr != nil {
			return fmt.Errorf("signing after losing the pass: %w", proveErr)
		}
		r, err = v.do(ctx, http.MethodPost, released.location(), formType, proof, "")
	}
	if o := c.rec.signature(legitimate, "", r, err); o != accepted {
		if err != nil {
			return fmt.Errorf("POST /sign: %w", err)
		}
		return fmt.Errorf("POST /sign: %s (status %d)", o, r.status)
	}
	res.signed = true
	return nil
}

// solveAndProve solves the challenge page at browser speed, posts the
// proof, and checks the shield's answer has status want. It returns the
// proof form as posted and the shield's answer.
func (c *crowd) solveAndProve(ctx context.Context, v *visitor, page reply, res *signerResult, want int) (string, reply, error) {
	if page.status != http.StatusForbidden {
		return "", reply{}, fmt.Errorf("status %d, want a challenge (403)", page.status)
	}
	ch, err := shieldtest.ParsePage(page.body)
	if err != nil {
		return "", reply{}, err
	}
	res.maxBits = max(res.maxBits, ch.Puzzle.Difficulty)
	nonce, took, err := c.solver.solve(ctx, ch.Puzzle)
	res.solving += took
	if err != nil {
		return "", reply{}, fmt.Errorf("solving %d bits: %w", ch.Puzzle.Difficulty, err)
	}
	proof := ch.Proof(nonce).Encode()
	r, err := v.do(ctx, http.MethodPost, ch.Action, formType, proof, "")
	if err != nil {
		return "", reply{}, err
	}
	if r.status != want {
		return "", reply{}, fmt.Errorf("proof answered %d, want %d", r.status, want)
	}
	return proof, r, nil
}
