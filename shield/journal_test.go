package shield

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest/observer"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/store"
)

// journalLines returns the journal's lines as maps of their fields.
func journalLines(logs *observer.ObservedLogs) []map[string]any {
	var out []map[string]any
	for _, e := range logs.AllUntimed() {
		out = append(out, e.ContextMap())
	}
	return out
}

// Every signature the shield forwards, whichever way it went through,
// carries one id to the petition, and the journal has one line for it
// with that id, its verdict, the client and the petition's answer.
// Nothing else the shield forwards gets an id or a line.
func TestForwardedSignaturesAreJournalled(t *testing.T) {
	const allowPolicy = `rules:
  - name: partner
    match:
      cidr: 192.0.2.0/24
    action: allow
`
	cases := []struct {
		name     string
		policy   string
		ip       string
		sign     func(b *browser)
		paidBits int
		held     bool
		rule     string
	}{
		{name: "pass bought on a page, then signs", ip: "203.0.113.7", paidBits: 6, sign: func(b *browser) {
			b.pass("/")
			if w := b.do(http.MethodPost, "/sign", "name=Alice"); w.Code != http.StatusOK {
				b.h.t.Fatalf("signature: %d", w.Code)
			}
		}},
		{name: "held while the browser solves, then released", ip: "198.51.100.9", paidBits: 6, held: true, sign: func(b *browser) {
			if !b.sign("/sign", "name=Bob") {
				b.h.t.Fatal("held signature not forwarded")
			}
		}},
		{name: "allowed by a rule", policy: allowPolicy, ip: "192.0.2.44", rule: "partner", sign: func(b *browser) {
			if w := b.do(http.MethodPost, "/sign", "name=Carol"); w.Code != http.StatusOK {
				b.h.t.Fatalf("allowed signature: %d", w.Code)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, setup{protect: []string{"POST /sign"}, policy: tc.policy, journal: true})
			b := h.browser(tc.ip, 64500, "")
			tc.sign(b)
			// A page read with the pass is forwarded without an id.
			if tc.paidBits > 0 {
				if w := b.do(http.MethodGet, "/thanks", ""); w.Code != http.StatusOK {
					t.Fatalf("GET /thanks: %d", w.Code)
				}
			}
			var ids []string
			for _, f := range h.forwarded {
				switch {
				case f.Method == http.MethodPost && f.Path == "/sign":
					if len(f.Signature) != 1 || len(f.Signature[0]) != 24 {
						t.Fatalf("signature forwarded with %s %q, want one id", SignatureHeader, f.Signature)
					}
					ids = append(ids, f.Signature[0])
				case len(f.Signature) != 0:
					t.Errorf("%s %s forwarded with %s %q", f.Method, f.Path, SignatureHeader, f.Signature)
				}
			}
			lines := journalLines(h.journal)
			if len(ids) != 1 || len(lines) != 1 {
				t.Fatalf("%d signatures forwarded, %d journal lines: want 1 and 1 (%v)", len(ids), len(lines), lines)
			}
			want := map[string]any{
				"id": ids[0], "verdict": "spend", "method": "POST", "path": "/sign", "host": "petition.example",
				"paid_bits": tc.paidBits, "ip": tc.ip, "asn": uint32(64500), "status": 200,
			}
			if tc.rule != "" {
				want["rule"] = tc.rule
			}
			if tc.held {
				want["held"] = true
			}
			line := lines[0]
			for k, v := range want {
				if line[k] != v {
					t.Errorf("journal %s = %v (%T), want %v (%T)", k, line[k], line[k], v, v)
				}
			}
			if (tc.paidBits > 0) != (line["pass"] != nil) {
				t.Errorf("journal pass = %v with %d bits paid", line["pass"], tc.paidBits)
			}
			if !strings.HasPrefix(tc.ip, strings.TrimSuffix(line["network"].(string), "0/24")) {
				t.Errorf("journal network %v for %s", line["network"], tc.ip)
			}
			if _, observed := line["observed"]; observed {
				t.Error("enforce mode's line says observed")
			}
		})
	}
}

// A client cannot send the petition an id of its own: whatever case or
// underscores it spells the field with, on a page or a signature, in
// either mode, only the shield's reaches the petition.
func TestSpoofedSignatureHeaderNeverReachesThePetition(t *testing.T) {
	spellings := []string{
		"Rempart-Signature", "rempart-signature", "REMPART-SIGNATURE", "Rempart_Signature",
		"rempart_signature", "REMPART_SIGNATURE", "Rempart-signature", "rEMPART_sIGNATURE",
		"Rempart.Signature", "rempart.signature",
	}
	for _, observe := range []bool{false, true} {
		h := newHarness(t, setup{protect: []string{"POST /sign"}, observe: observe, journal: true})
		tried, reached := 0, 0
		for i, field := range spellings {
			b := h.browser("203.0.113."+strconv.Itoa(i+1), 64500, "")
			if !observe {
				b.pass("/")
			}
			for _, target := range []string{"GET /", "POST /sign"} {
				method, path, _ := strings.Cut(target, " ")
				body := ""
				if method == http.MethodPost {
					body = "name=Mallory"
				}
				r := b.request(method, path, body)
				r.Header[field] = []string{"forged-" + field, "forged-again"}
				before := len(h.forwarded)
				b.send(r)
				tried++
				if len(h.forwarded) != before+1 {
					t.Fatalf("observe=%v %s with %s: not forwarded", observe, target, field)
				}
				for _, v := range h.forwarded[before].Signature {
					if strings.HasPrefix(v, "forged") {
						reached++
					}
				}
			}
		}
		if reached != 0 {
			t.Errorf("observe=%v: %d forged values reached the petition in %d requests, want 0", observe, reached, tried)
		}
		if lines := journalLines(h.journal); len(lines) != len(spellings) {
			t.Errorf("observe=%v: %d journal lines for %d signatures", observe, len(lines), len(spellings))
		}
	}
}

// In observe mode every signature goes through, and its line says what
// enforce would have done: the lines whose verdict is not "spend" are the
// signatures the shield would have stopped.
func TestObserveModeJournalsWhatEnforceWouldDo(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}, observe: true, journal: true})
	bot := h.browser("203.0.113.50", 64501, "hosting")
	for range 3 {
		if w := bot.do(http.MethodPost, "/sign", "name=Bot"); w.Code != http.StatusOK {
			t.Fatalf("observe mode answered %d", w.Code)
		}
	}
	// Observe mode challenges no page: a pass is bought as the
	// challenge page's script would.
	signer := h.browser("198.51.100.20", 64500, "")
	h.shield.cfg.Observe = false
	signer.pass("/")
	h.shield.cfg.Observe = true
	signer.do(http.MethodPost, "/sign", "name=Dora")

	verdicts := map[string]int{}
	for _, line := range journalLines(h.journal) {
		if line["observed"] != true {
			t.Errorf("line without observed: %v", line)
		}
		verdicts[line["verdict"].(string)+" "+line["ip"].(string)]++
	}
	want := map[string]int{"hold 203.0.113.50": 3, "spend 198.51.100.20": 1}
	if len(verdicts) != len(want) || verdicts["hold 203.0.113.50"] != 3 || verdicts["spend 198.51.100.20"] != 1 {
		t.Fatalf("journal verdicts %v, want %v", verdicts, want)
	}
}

// The journal keeps the petition's answer: a signature the petition
// refused is not in its count. Without a journal the id still goes on.
func TestJournalKeepsThePetitionsAnswer(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}, journal: true, upstreamStatus: http.StatusUnprocessableEntity})
	b := h.browser("203.0.113.60", 64500, "")
	b.pass("/")
	b.do(http.MethodPost, "/sign", "name=Eve")
	lines := journalLines(h.journal)
	if len(lines) != 1 || lines[0]["status"] != http.StatusUnprocessableEntity {
		t.Fatalf("journal %v, want one line with status 422", lines)
	}

	h = newHarness(t, setup{protect: []string{"POST /sign"}})
	b = h.browser("203.0.113.61", 64500, "")
	b.pass("/")
	b.do(http.MethodPost, "/sign", "name=Eve")
	if n := h.forwardedCount(); n != 1 || len(h.forwarded[0].Signature) != 1 {
		t.Fatalf("without a journal: %d forwarded, the signature with %q", n, h.forwarded[len(h.forwarded)-1].Signature)
	}
}

// A pass bought while the shield enforced pays, in enforce, for its
// credits' worth of signatures (1 here). Once the site is switched to
// observe mode, its holder signs again and again with it: enforce would
// have stopped all but the first, and their lines must say so, or
// `rempart journal --stopped` misses the batch.
func TestObserveModeJournalsAPassSpentAgainAsStopped(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}, observe: true, journal: true})
	bot := h.browser("203.0.113.70", 64501, "hosting")
	h.shield.cfg.Observe = false
	bot.pass("/")
	h.shield.cfg.Observe = true
	const tried = 5
	for range tried {
		if w := bot.do(http.MethodPost, "/sign", "name=Bot"); w.Code != http.StatusOK {
			t.Fatalf("observe mode answered %d", w.Code)
		}
	}
	spend, stopped := 0, 0
	for _, line := range journalLines(h.journal) {
		if line["verdict"] == "spend" {
			spend++
		} else {
			stopped++
		}
	}
	if spend != 1 || stopped != tried-1 {
		t.Fatalf("%d signatures with a one-credit pass: %d journalled as spend, %d as stopped; want 1, %d",
			tried, spend, stopped, tried-1)
	}
}

// A held signature goes on as its browser first sent it, method included
// (a PUT to a POST endpoint is the petition's POST), though the browser
// re-posts the proof form with POST to release it: the journal line
// says what reached the petition.
func TestJournalSaysTheHeldSignaturesMethod(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}, journal: true})
	b := h.browser("203.0.113.80", 64500, "")
	tried, wrong := 0, 0
	for _, method := range []string{http.MethodPut, http.MethodPatch, http.MethodPost} {
		tried++
		w := b.do(method, "/sign", "name=Ann")
		if w.Code != StatusChallenge {
			t.Fatalf("%s /sign: %d", method, w.Code)
		}
		v := b.sendProof(b.solveProof(w))
		if v.Code != http.StatusTemporaryRedirect {
			t.Fatalf("proof: %d", v.Code)
		}
		b.follow(v, "")
		h.mu.Lock()
		got := h.forwarded[len(h.forwarded)-1].Method
		h.mu.Unlock()
		lines := journalLines(h.journal)
		if got != method || len(lines) != tried {
			t.Fatalf("%s /sign: forwarded as %s, %d lines", method, got, len(lines))
		}
		if lines[tried-1]["method"] != got {
			wrong++
		}
	}
	if wrong != 0 {
		t.Fatalf("%d held signatures released, %d journal lines with another method than the petition got; want 0", tried, wrong)
	}
}

// An observer that panics (a bug of its own) is not called again by the
// recover that reports a request the next handler gave up on: one
// outcome, one report.
func TestPanickingObserverReportsOnce(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	b := h.browser("203.0.113.70", 64500, "")
	b.pass("/")
	calls := 0
	h.shield.cfg.Observer = func(*http.Request, *Outcome) {
		calls++
		panic("observer bug")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the observer's panic did not reach the caller")
			}
		}()
		_ = h.shield.Serve(httptest.NewRecorder(), b.request(http.MethodGet, "/", ""), b.id, h.backend)
	}()
	if calls != 1 {
		t.Fatalf("the observer was called %d times for one request, want 1", calls)
	}
}

// takenByAnother is a stash in which every take finds its submission gone,
// as the loser of two re-posts of one held submission sent at once does:
// the other took it between this one's check and its take.
type takenByAnother struct{ store.Stash }

func (s takenByAnother) Take(ctx context.Context, id string, b challenge.Binding, now time.Time) (challenge.Submission, bool, error) {
	_, _, err := s.Stash.Take(ctx, id, b, now)
	return challenge.Submission{}, false, err
}

// In observe mode a held submission's re-post takes the submission before
// it spends a credit, as enforce does: one whose submission another
// re-post took first is journalled as refused (enforce answers it 410),
// and spends nothing.
func TestObserveModeReleasesBeforeItSpends(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}, credits: 2, journal: true})
	b := h.browser("203.0.113.80", 64500, "")
	held := b.do(http.MethodPost, "/sign", "name=Fay")
	if held.Code != StatusChallenge {
		t.Fatalf("signature without a pass: %d", held.Code)
	}
	proof := b.solveProof(held)
	if v := b.sendProof(proof); v.Code != http.StatusTemporaryRedirect {
		t.Fatalf("verify: %d", v.Code)
	}
	h.shield.cfg.Observe = true
	h.state.Stash = takenByAnother{h.state.Stash}
	b.do(http.MethodPost, "/sign", proof.Form.Encode())
	h.state.Stash = h.state.Stash.(takenByAnother).Stash
	h.shield.cfg.Observe = false
	lines := journalLines(h.journal)
	if len(lines) != 1 || lines[0]["verdict"] != "refuse" {
		t.Errorf("the re-post that lost the take journalled %v, want one refuse", lines)
	}
	// The pass's two credits are both still there, as enforce would have
	// left them (new signatures: the lost submission's cookie dropped).
	delete(b.cookies, replayCookie)
	before := h.forwardedCount()
	for i := range 2 {
		b.do(http.MethodPost, "/sign", "name=Fay"+strconv.Itoa(i))
	}
	if n := h.forwardedCount() - before; n != 2 {
		t.Errorf("the pass signed %d times after, want its 2 credits", n)
	}
}
