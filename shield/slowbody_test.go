package shield

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

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

// An attacker opens many connections that each post a signature's body
// but for its last byte, and never sends it: each body is read into memory
// to be held, up to max_body, and nothing in the default policy budgets a
// challenge outside the hosting networks. The shield must cut a body that
// does not come, so that stalled connections hold neither its memory nor
// its goroutine for as long as the attacker keeps them open.
func TestStalledHoldsAreCutOff(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	h.shield.cfg.Observer = nil // keep no outcomes: the heap is measured
	h.shield.cfg.BodyTimeout = 300 * time.Millisecond
	a := h.browser("198.51.100.7", 64496, "")
	srv := httptest.NewServer(a.handler())
	defer srv.Close()

	const tries = 300
	maxBody := h.shield.cfg.MaxBody
	head := fmt.Sprintf("POST /sign HTTP/1.1\r\nHost: %[1]s\r\nUser-Agent: %[2]s\r\n"+
		"Content-Type: application/x-www-form-urlencoded\r\nOrigin: http://%[1]s\r\nSec-Fetch-Site: same-origin\r\n"+
		"Content-Length: %[3]d\r\n\r\n", a.host, a.ua, maxBody)
	body := strings.Repeat("x", maxBody-1)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := make([]net.Conn, 0, tries)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range tries {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, head+body); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(h.shield.cfg.BodyTimeout + time.Second)
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := max(int64(after.HeapAlloc)-int64(before.HeapAlloc), 0)

	answered := 0
	deadline := time.Now().Add(time.Second)
	for _, c := range conns {
		_ = c.SetReadDeadline(deadline)
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
			answered++
			_ = resp.Body.Close()
		}
	}
	t.Logf("%d connections stalled one byte short of a %d-byte body: tried %d / still held after the timeout %d / expected 0; heap held %.1f MiB",
		tries, maxBody, tries, tries-answered, float64(held)/(1<<20))
	if answered != tries {
		t.Errorf("%d of %d stalled bodies still read after the timeout", tries-answered, tries)
	}
	if limit := int64(tries * maxBody / 3); held > limit {
		t.Errorf("stalled bodies hold %.1f MiB, want under %.1f", float64(held)/(1<<20), float64(limit)/(1<<20))
	}
}

// slowBackend is h's backend answering after four body timeouts, unless
// the request is cancelled first. As reverse_proxy does, it reads the body
// before it waits for the answer.
func slowBackend(h *harness) Next {
	return func(w http.ResponseWriter, r *http.Request) error {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		select {
		case <-time.After(4 * h.shield.cfg.BodyTimeout):
			return h.backend(w, r)
		case <-r.Context().Done():
			return r.Context().Err()
		}
	}
}

// The deadline on a body the shield reads ends with the read: a signature
// it looked into is forwarded to a backend that may take longer than that
// to answer, and must not be cut off (net/http cancels a request whose
// connection's read fails, once its body is read).
func TestBodyDeadlineEndsWithTheRead(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	h.shield.cfg.BodyTimeout = 200 * time.Millisecond
	a := h.browser("198.51.100.7", 64496, "")
	a.pass("/")
	slow := slowBackend(h)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.shield.Serve(w, r, a.id, slow); err != nil {
			t.Errorf("signature: %v", err)
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	r := a.request(http.MethodPost, "/sign", signBody)
	r.URL.Scheme, r.URL.Host, r.RequestURI = "http", srv.Listener.Addr().String(), ""
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || h.forwardedCount() != 1 {
		t.Fatalf("signature with a pass, slow backend: %d, %d forwarded, want 200 and 1", resp.StatusCode, h.forwardedCount())
	}
}

// A handler before the shield may have read the body already, as a WAF
// that inspects it does, putting it back from memory: net/http then has
// seen its end and clears the connection's deadline then, not after the
// shield's read. The deadline the shield set for its read must still end
// with that read, or net/http cancels the request once it passes, while
// the backend works on the signature: the signer gets an error, and a
// held submission released by that request is gone.
func TestBodyReadBeforeTheShieldIsNotCutOff(t *testing.T) {
	cases := []struct {
		name   string
		target string
	}{
		{"signature with a pass", "/sign"},
		{"form posted to a page that is not a signature", "/contact"},
	}
	tried, cut := 0, 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, setup{protect: []string{"POST /sign"}})
			h.shield.cfg.BodyTimeout = 200 * time.Millisecond
			a := h.browser("198.51.100.7", 64496, "")
			a.pass("/")
			slow := slowBackend(h)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// The handler before the shield reads the body whole.
				body, err := io.ReadAll(r.Body)
				if err != nil {
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				r.Body = io.NopCloser(strings.NewReader(string(body)))
				if err := h.shield.Serve(w, r, a.id, slow); err != nil {
					t.Logf("%s: %v", c.target, err)
					w.WriteHeader(http.StatusBadGateway)
				}
			}))
			defer srv.Close()
			r := a.request(http.MethodPost, c.target, signBody)
			r.URL.Scheme, r.URL.Host, r.RequestURI = "http", srv.Listener.Addr().String(), ""
			tried++
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK || h.forwardedCount() != 1 {
				cut++
				t.Errorf("POST %s, body read before the shield, slow backend: %d, %d forwarded, want 200 and 1",
					c.target, resp.StatusCode, h.forwardedCount())
			}
		})
	}
	t.Logf("forms read before the shield, backend slower than body_timeout: tried %d / cut off %d / expected 0", tried, cut)
}

// A signature's body is read twice when it is a short form: to look into
// it, then to hold it. A body that stalls fails the first read at the
// deadline, and must not be given a second body_timeout by the second.
func TestStalledFormIsGivenOneTimeout(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	h.shield.cfg.BodyTimeout = 500 * time.Millisecond
	a := h.browser("198.51.100.7", 64496, "")
	srv := httptest.NewServer(a.handler())
	defer srv.Close()
	const tries = 3
	late := 0
	for range tries {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		head := fmt.Sprintf("POST /sign HTTP/1.1\r\nHost: %[1]s\r\nUser-Agent: %[2]s\r\n"+
			"Content-Type: application/x-www-form-urlencoded\r\nOrigin: http://%[1]s\r\nSec-Fetch-Site: same-origin\r\n"+
			"Content-Length: %[3]d\r\n\r\n", a.host, a.ua, len(signBody))
		start := time.Now()
		if _, err := io.WriteString(c, head+signBody[:len(signBody)-1]); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(start.Add(4 * h.shield.cfg.BodyTimeout))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		took := time.Since(start)
		if err == nil {
			_ = resp.Body.Close()
		}
		_ = c.Close()
		if took > h.shield.cfg.BodyTimeout*3/2 {
			late++
			t.Logf("POST /sign one byte short: held %v, body_timeout %v", took.Round(time.Millisecond), h.shield.cfg.BodyTimeout)
		}
	}
	t.Logf("stalled signature forms: tried %d / held past body_timeout %d / expected 0", tries, late)
	if late != 0 {
		t.Errorf("%d stalled forms held past body_timeout", late)
	}
}

// The server's own read timeout (Caddy's timeouts read_body) bounds how long
// a request may take to send its body; staff set it shorter than
// body_timeout to drop stalled bodies sooner. The shield's deadline replaces
// the connection's: it must not give a stalled body longer than the server
// would, as the README promises.
func TestShorterServerReadTimeoutStillApplies(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	h.shield.cfg.BodyTimeout = 3 * time.Second
	const readTimeout = 300 * time.Millisecond
	a := h.browser("198.51.100.7", 64496, "")
	srv := httptest.NewUnstartedServer(a.handler())
	srv.Config.ReadTimeout = readTimeout
	srv.Start()
	defer srv.Close()

	// A signature to hold, a short form and a proof, each one byte short.
	bodies := []struct{ target, body string }{
		{"/sign", strings.Repeat("x", 2000)},
		{"/contact", "name=a&email=b"},
		{h.shield.verifyPath, "challenge=x&nonce=1"},
	}
	tried, late := 0, 0
	for _, b := range bodies {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		head := fmt.Sprintf("POST %[4]s HTTP/1.1\r\nHost: %[1]s\r\nUser-Agent: %[2]s\r\n"+
			"Content-Type: application/x-www-form-urlencoded\r\nOrigin: http://%[1]s\r\nSec-Fetch-Site: same-origin\r\n"+
			"Content-Length: %[3]d\r\n\r\n", a.host, a.ua, len(b.body), b.target)
		start := time.Now()
		if _, err := io.WriteString(c, head+b.body[:len(b.body)-1]); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(start.Add(h.shield.cfg.BodyTimeout + time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		took := time.Since(start)
		if err == nil {
			_ = resp.Body.Close()
		}
		_ = c.Close()
		tried++
		if took > readTimeout+time.Second {
			late++
			t.Errorf("POST %s one byte short: held %v, want about the server's read timeout %v", b.target, took.Round(time.Millisecond), readTimeout)
		}
	}
	t.Logf("stalled bodies, server read timeout %v, body_timeout %v: tried %d / held past the read timeout %d / expected 0",
		readTimeout, h.shield.cfg.BodyTimeout, tried, late)
}

// hidingWriter is a response writer of a handler in front that wraps
// Caddy's without Unwrap: the connection behind it cannot be reached.
type hidingWriter struct{ w http.ResponseWriter }

func (h hidingWriter) Header() http.Header         { return h.w.Header() }
func (h hidingWriter) Write(p []byte) (int, error) { return h.w.Write(p) }
func (h hidingWriter) WriteHeader(status int)      { h.w.WriteHeader(status) }

// Behind a writer that hides the connection, body_timeout cannot be set:
// staff must be told once, not left believing stalled bodies are cut.
func TestUnreachableDeadlineIsSaid(t *testing.T) {
	tests := []struct {
		name  string
		wrap  func(http.ResponseWriter) http.ResponseWriter
		warns int
	}{
		{"the server's writer", func(w http.ResponseWriter) http.ResponseWriter { return w }, 0},
		{"a writer without Unwrap", func(w http.ResponseWriter) http.ResponseWriter { return hidingWriter{w} }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, setup{protect: []string{"POST /sign"}})
			core, logs := observer.New(zapcore.WarnLevel)
			h.shield.log = zap.New(core)
			a := h.browser("198.51.100.7", 64496, "")
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = h.shield.Serve(tt.wrap(w), r, a.id, h.backend)
			}))
			defer srv.Close()
			const posts = 3
			held := 0
			for range posts {
				resp, err := http.Post(srv.URL+"/sign", "application/x-www-form-urlencoded", strings.NewReader(strings.Repeat("x", 10<<10)))
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				if resp.Header.Get("Rempart-Action") == "challenge" {
					held++
				}
			}
			warned := logs.FilterMessageSnippet("without body_timeout").Len()
			t.Logf("%s: %d submissions held, warnings %d, want %d", tt.name, held, warned, tt.warns)
			if held != posts || warned != tt.warns {
				t.Fatalf("%d of %d held, %d warnings; want every one held and %d warnings", held, posts, warned, tt.warns)
			}
		})
	}
}

// handler serves every request over a real connection as b's, to the
// harness's backend.
func (b *browser) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = b.h.shield.Serve(w, r, b.id, b.h.backend)
	})
}
