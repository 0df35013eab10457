package shield

import (
	"net/http"
	"testing"
)

// The browser's re-post of the proof form after a 307 releases the
// submission the form names, whatever the replay cookie says or whether
// it is sent at all; the proof form itself never reaches the backend as a
// signature.
func TestRepostedProofFormReleasesWhatItNames(t *testing.T) {
	const bodyA, bodyB = "petition=climate&name=Ada", "petition=water&name=Ada"
	t.Run("a path the cookie cannot be scoped to", func(t *testing.T) {
		h := newHarness(t, setup{protect: []string{"POST /sign"}})
		b := h.browser("198.51.100.7", 64496, "")
		const target = "/sign;jsessionid=ABC123"
		held := b.do(http.MethodPost, target, bodyA)
		if held.Code != StatusChallenge {
			t.Fatalf("signature: %d, want a challenge", held.Code)
		}
		proof := b.solveProof(held)
		verify := b.sendProof(proof)
		if verify.Code != http.StatusTemporaryRedirect || verify.Header().Get("Location") != target {
			t.Fatalf("verify: %d to %q, want 307 to %s", verify.Code, verify.Header().Get("Location"), target)
		}
		b.follow(verify, proof.Form.Encode())
		checkForwarded(t, h, bodyA)
	})
	t.Run("two tabs released at once", func(t *testing.T) {
		h := newHarness(t, setup{protect: []string{"POST /sign"}})
		b := h.browser("198.51.100.7", 64496, "")
		heldA, heldB := b.do(http.MethodPost, "/sign", bodyA), b.do(http.MethodPost, "/sign", bodyB)
		proofA, proofB := b.solveProof(heldA), b.solveProof(heldB)
		// Both proofs are accepted before either re-post: B's replay
		// cookie replaces A's.
		verifyA, verifyB := b.sendProof(proofA), b.sendProof(proofB)
		b.follow(verifyA, proofA.Form.Encode())
		if w := b.follow(verifyB, proofB.Form.Encode()); w.Code == StatusChallenge {
			// B's pass was spent by A: B solves again for its own body.
			p := b.solveProof(w)
			b.follow(b.sendProof(p), p.Form.Encode())
		}
		checkForwarded(t, h, bodyA, bodyB)
	})
	t.Run("a reload of the page the release answered", func(t *testing.T) {
		h := newHarness(t, setup{protect: []string{"POST /sign"}})
		b := h.browser("198.51.100.7", 64496, "")
		held := b.do(http.MethodPost, "/sign", bodyA)
		proof := b.solveProof(held)
		verify := b.sendProof(proof)
		b.follow(verify, proof.Form.Encode())
		const reloads = 3
		gone := 0
		for range reloads {
			if w := b.follow(verify, proof.Form.Encode()); w.Code == http.StatusGone {
				gone++
			}
		}
		t.Logf("reloads of the re-post: tried %d / answered 410 %d / expected %d", reloads, gone, reloads)
		if gone != reloads {
			t.Errorf("%d of %d reloads answered 410", gone, reloads)
		}
		checkForwarded(t, h, bodyA)
	})
}

// checkForwarded checks that the backend got each of bodies once and
// nothing else: never the shield's own proof form.
func checkForwarded(t *testing.T, h *harness, bodies ...string) {
	t.Helper()
	want := map[string]int{}
	for _, b := range bodies {
		want[b]++
	}
	got := map[string]int{}
	for _, f := range h.forwarded {
		got[f.Body]++
	}
	t.Logf("forwarded %d bodies (expected %d): %v", len(h.forwarded), len(bodies), got)
	if len(h.forwarded) != len(bodies) {
		t.Errorf("forwarded %d bodies, want %d", len(h.forwarded), len(bodies))
	}
	for body, n := range want {
		if got[body] != n {
			t.Errorf("forwarded %q %d times, want %d", body, got[body], n)
		}
	}
}
