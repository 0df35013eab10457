package shield

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rempart/rempart/challenge"
)

// gatedBody is a request body that the sender trickles: it says when the
// shield first reads it, then gives what the test writes.
type gatedBody struct {
	io.Reader
	started chan struct{}
	once    bool
}

func (g *gatedBody) Read(p []byte) (int, error) {
	if !g.once {
		g.once = true
		close(g.started)
	}
	return g.Reader.Read(p)
}

func (*gatedBody) Close() error { return nil }

// slowly serves r with its body held back: it returns once the shield has
// read its clock and waits for the body, and the function that sends the
// body and returns the answer.
func (b *browser) slowly(r *http.Request, body string) func() *httptest.ResponseRecorder {
	b.h.t.Helper()
	pr, pw := io.Pipe()
	gate := &gatedBody{Reader: pr, started: make(chan struct{})}
	r.Body, r.ContentLength = gate, int64(len(body))
	w := httptest.NewRecorder()
	done := make(chan error, 1)
	go func() { done <- b.h.shield.Serve(w, r, b.id, b.h.backend) }()
	<-gate.started
	return func() *httptest.ResponseRecorder {
		b.h.t.Helper()
		if _, err := io.WriteString(pw, body); err != nil {
			b.h.t.Fatal(err)
		}
		_ = pw.Close()
		if err := <-done; err != nil {
			b.h.t.Fatalf("%s %s: %v", r.Method, r.URL, err)
		}
		return w
	}
}

// A proof or a pass spent once, then sent again in a request whose body
// the attacker trickles from before the token expired until after the
// spent record forgot it as expired (the ring turned over: its own spends
// or a busy site's), must not be accepted: the request's clock was read
// before its body, so the token still looked unexpired to it and, the
// record gone, unspent.
func TestSlowBodyReplaysNothingTheRecordForgot(t *testing.T) {
	const spentSize = 1024 // the least spent_size allows
	state, err := NewState(StateConfig{SpentSize: spentSize, Stash: challenge.StashConfig{MaxEntries: 4096, MaxBytes: 32 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, setup{protect: []string{"POST /sign"}, state: state})
	start := h.now

	// The attacker solves a challenge and signs with its pass: the proof
	// and the pass's one credit are spent.
	a := h.browser("203.0.113.9", 64500, "")
	w := a.do(http.MethodGet, "/", "")
	proof := a.solveProof(w)
	if v := a.sendProof(proof); v.Code != http.StatusSeeOther {
		t.Fatalf("first proof: %d", v.Code)
	}
	spentPass := a.cookies[passCookie].Value
	if got := a.do(http.MethodPost, "/sign", signBody); got.Code != http.StatusOK {
		t.Fatalf("first signature: %d", got.Code)
	}

	// Before either expires, it sends each again, slowly.
	h.now = start.Add(time.Minute)
	sendProof := a.slowly(a.request(http.MethodPost, proof.Action, proof.Form.Encode()), proof.Form.Encode())
	a.cookies[passCookie] = &http.Cookie{Name: passCookie, Value: spentPass, Path: "/"}
	sendSignature := a.slowly(a.request(http.MethodPost, "/sign", signBody), signBody)

	// Two hours later, signers have turned both records over: the proof's
	// and the pass's records go out expired, raising no floor.
	h.now = start.Add(2 * time.Hour)
	for i := range spentSize {
		s := h.browser(fmt.Sprintf("198.18.%d.%d", i/250, i%250+1), uint32(65000+i%100), "")
		if !s.sign("/sign", signBody) {
			t.Fatalf("signer %d did not sign", i)
		}
	}

	tried, accepted := 2, 0
	if v := sendProof(); v.Code == http.StatusSeeOther || v.Code == http.StatusTemporaryRedirect {
		accepted++
		t.Logf("spent proof accepted again: %d", v.Code)
	}
	if v := sendSignature(); v.Code == http.StatusOK {
		accepted++
		t.Logf("spent pass signed again: %d", v.Code)
	}
	t.Logf("spent proof and pass sent again with a trickled body: tried %d / accepted %d / expected 0", tried, accepted)
	if accepted != 0 {
		t.Fatalf("%d replays accepted", accepted)
	}
}
