package frameworks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	_ "github.com/rempart/rempart"
	"github.com/rempart/rempart/internal/shieldtest"
)

// The shield of this package's tests: its own caddytest admin port and
// HTTP port, so that it runs beside the other packages' Caddy.
const (
	adminPort  = 2994
	shieldAddr = "127.0.0.1:9380"
	shieldHost = "localhost:9380"
	expressDir = "express"
)

// The attacker and the legitimate signer of the control sit in different
// networks (the shield binds passes and flood pressure to a /24): both are
// loopback addresses, which Linux routes to lo as a whole 127.0.0.0/8.
const (
	attackerIP = "127.0.0.1"
	signerIP   = "127.0.1.1"
)

// userAgent is what both clients say they are; a pass is bound to it.
const userAgent = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"

// nodePath returns the node binary. It skips the test when Node.js is not
// installed, except in CI, where that is a failure.
func nodePath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"node", "nodejs"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no node found in CI: install Debian's nodejs and npm packages (scripts/test.sh does)")
	}
	t.Skip("no node found: install Debian's nodejs and npm packages (scripts/install-deps.sh nodejs npm)")
	return ""
}

// npmInstall installs the Express app's dependencies once, from its
// package-lock.json, when they are not there yet.
func npmInstall(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(expressDir, "node_modules", "express", "package.json")); err == nil {
		return
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatal("node is installed but npm is not: install Debian's npm package (scripts/test.sh does)")
	}
	args := []string{"install", "--no-audit", "--no-fund"}
	if _, err := os.Stat(filepath.Join(expressDir, "package-lock.json")); err == nil {
		args[0] = "ci"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, args...)
	cmd.Dir = expressDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("npm %s in %s: %v\n%s", strings.Join(args, " "), expressDir, err, out)
	}
	t.Logf("npm %s: %s", strings.Join(args, " "), bytes.TrimSpace(out))
}

// startExpress runs the Express petition on a free port of 127.0.0.1 and
// returns its address. The process is killed when the test ends.
func startExpress(t *testing.T) string {
	t.Helper()
	node := nodePath(t)
	npmInstall(t)
	cmd := exec.Command(node, "app.js", "0")
	cmd.Dir = expressDir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	port := make(chan string, 1)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				port <- p
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-drained:
		case <-time.After(5 * time.Second):
		}
		_ = cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("express stderr:\n%s", stderr.String())
		}
	})
	select {
	case p := <-port:
		return "127.0.0.1:" + p
	case <-drained:
		_ = cmd.Wait()
		t.Fatalf("express exited before listening:\n%s", stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("express did not say it was listening within 30s")
	}
	return ""
}

// startShield runs a real Caddy with the shield, as the issue writes it,
// in front of the petition at backend.
func startShield(t *testing.T, backend string) {
	t.Helper()
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: adminPort})
	tester.InitServer(fmt.Sprintf(`
	{
		admin localhost:%d
		http_port 9380
		https_port 9743
		grace_period 1ns
		auto_https off
		storage file_system %s
	}
	http://localhost:9380 {
		rempart {
			protect POST /sign
			limit signatures per ip 3/hour
		}
		reverse_proxy %s
	}`, adminPort, t.TempDir(), backend), "caddyfile")
}

// signatures asks the Express petition, directly, how many signatures it
// has counted.
func signatures(t *testing.T, express string) int {
	t.Helper()
	resp, err := http.Get("http://" + express + "/count")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c struct{ Count int }
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c.Count
}

// client speaks raw HTTP/1.1 over its own TCP connections, one request a
// connection: the request line goes out byte for byte, which Go's
// http.Client does not promise (it cleans some paths).
type client struct {
	local string // source address
	addr  string // where to connect
	host  string // Host header
	// cookies sent with every request, by name.
	cookies map[string]string
	// keep says which cookies the client keeps from Set-Cookie; nil keeps
	// none.
	keep func(name string) bool
}

// reply is what the client saw of an answer.
type reply struct {
	status   int
	action   string // Rempart-Action: what the shield did, if it answered
	location string
	body     string
}

func (r reply) String() string {
	if r.action != "" {
		return fmt.Sprintf("%d %s", r.status, r.action)
	}
	return fmt.Sprint(r.status)
}

// send sends one request. header is a list of name, value pairs; a body is
// sent as a form.
func (c *client) send(method, target, body string, header ...string) (reply, error) {
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(c.local)}}
	conn, err := d.Dial("tcp", c.addr)
	if err != nil {
		return reply{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: text/html\r\n", method, target, c.host, userAgent)
	if len(c.cookies) > 0 {
		var pairs []string
		for _, name := range slices.Sorted(maps.Keys(c.cookies)) {
			pairs = append(pairs, name+"="+c.cookies[name])
		}
		fmt.Fprintf(&b, "Cookie: %s\r\n", strings.Join(pairs, "; "))
	}
	if body != "" {
		b.WriteString("Content-Type: application/x-www-form-urlencoded\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	for i := 0; i+1 < len(header); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", header[i], header[i+1])
	}
	b.WriteString("Connection: close\r\n\r\n")
	b.WriteString(body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return reply{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	if c.keep != nil {
		for _, ck := range resp.Cookies() {
			if !c.keep(ck.Name) {
				continue
			}
			if ck.MaxAge < 0 || ck.Value == "" {
				delete(c.cookies, ck.Name)
			} else {
				c.cookies[ck.Name] = ck.Value
			}
		}
	}
	return reply{status: resp.StatusCode, action: resp.Header.Get("Rempart-Action"), location: resp.Header.Get("Location"), body: string(page)}, nil
}

// do is send for requests that must get an answer.
func (c *client) do(t *testing.T, method, target, body string, header ...string) reply {
	t.Helper()
	r, err := c.send(method, target, body, header...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	return r
}

// solve solves the challenge page in page as the browser's solver would,
// natively, and posts the proof. It returns the proof form and the
// shield's answer to it.
func (c *client) solve(t *testing.T, page reply) (url.Values, reply) {
	t.Helper()
	if page.status != http.StatusForbidden || page.action != "challenge" {
		t.Fatalf("want a challenge page, got %s: %.300q", page, page.body)
	}
	proof, err := shieldtest.SolvePage([]byte(page.body))
	if err != nil {
		t.Fatal(err)
	}
	return proof.Form, c.do(t, http.MethodPost, proof.Action, proof.Form.Encode())
}

// sign signs as a browser does: it posts the form; when the shield
// answers with a challenge holding the submission, it solves it, follows
// the 307 back to /sign with the proof form, and returns the answer to
// that.
func (c *client) sign(t *testing.T, name string) reply {
	t.Helper()
	form := url.Values{"name": {name}, "email": {strings.ToLower(name) + "@example.org"}}.Encode()
	r := c.do(t, http.MethodPost, "/sign", form)
	if r.status != http.StatusForbidden || r.action != "challenge" {
		return r
	}
	proof, v := c.solve(t, r)
	if v.status != http.StatusTemporaryRedirect {
		t.Fatalf("proof for a held signature: %s, want 307", v)
	}
	return c.do(t, http.MethodPost, v.location, proof.Encode())
}

// alias is one spelling of the signature request.
type alias struct {
	method, target string
	header         []string
}

func (a alias) String() string {
	s := a.method + " " + a.target
	for i := 0; i+1 < len(a.header); i += 2 {
		s += " + " + a.header[i] + ": " + a.header[i+1]
	}
	return s
}

// aliases are the spellings of POST /sign that a web framework may route
// to the same handler, or that a shield may read differently from it.
var aliases = []alias{
	{method: "POST", target: "/SIGN"},
	{method: "POST", target: "/Sign"},
	{method: "POST", target: "/sign/"},
	{method: "POST", target: "//sign"},
	{method: "POST", target: "/./sign"},
	{method: "POST", target: "/x/../sign"},
	{method: "POST", target: "/%2Fsign"},
	{method: "POST", target: "/%73ign"},
	{method: "POST", target: "/sign;x=1"},
	{method: "POST", target: "/sign.json"},
	{method: "POST", target: "/sign?x=1"},
	{method: "post", target: "/sign"},
	{method: "post", target: "//SIGN/"},
	{method: "GET", target: "/sign", header: []string{"X-HTTP-Method-Override", "POST"}},
	{method: "GET", target: "/SIGN/", header: []string{"X-HTTP-Method-Override", "POST"}},
	{method: "PUT", target: "/sign", header: []string{"X-HTTP-Method-Override", "POST"}},
	{method: "POST", target: "/sign", header: []string{"X-HTTP-Method-Override", "post"}},
	{method: "DELETE", target: "/Sign?x=1", header: []string{"X-HTTP-Method-Override", "POST"}},
}

// routedByExpress are the aliases that Express 4's default routing, with
// method-override, sends to the /sign handler: the premise of the test.
var routedByExpress = []string{
	"POST /SIGN",
	"POST /Sign",
	"POST /sign/",
	"POST /sign?x=1",
	"GET /sign + X-HTTP-Method-Override: POST",
	"GET /SIGN/ + X-HTTP-Method-Override: POST",
	"PUT /sign + X-HTTP-Method-Override: POST",
	"DELETE /Sign?x=1 + X-HTTP-Method-Override: POST",
}

const attackForm = "name=Bot&email=bot%40example.org"

func TestExpressAliasesBuyNoSignatures(t *testing.T) {
	// The premise: Express alone, with nothing in front of it, routes
	// several aliases to its /sign handler.
	bare := startExpress(t)
	direct := &client{local: attackerIP, addr: bare, host: bare}
	var routed []string
	for _, a := range aliases {
		before := signatures(t, bare)
		r, err := direct.send(a.method, a.target, attackForm, a.header...)
		if signatures(t, bare) > before {
			routed = append(routed, a.String())
		}
		if err != nil {
			t.Logf("express alone, %s: %v", a, err)
		} else {
			t.Logf("express alone, %s: %s", a, r)
		}
	}
	t.Logf("express alone routes %d of %d aliases to its /sign handler: %q", len(routed), len(aliases), routed)
	for _, want := range routedByExpress {
		if !slices.Contains(routed, want) {
			t.Errorf("express alone does not route %q to /sign: the test's premise is wrong", want)
		}
	}

	express := startExpress(t)
	startShield(t, express)
	t.Run("one pass, every alias", func(t *testing.T) { attackAliases(t, express) })
	t.Run("legitimate signer solving each time", func(t *testing.T) { signLegitimately(t, express) })
}

// attackAliases is the attacker: it buys one pass legitimately and signs
// once, then tries every alias of the signature to make the pass sign
// again.
func attackAliases(t *testing.T, express string) {
	// The attacker buys one pass legitimately, and signs once.
	attacker := &client{local: attackerIP, addr: shieldAddr, host: shieldHost, cookies: map[string]string{},
		keep: func(name string) bool { return name == "rempart_pass" }}
	_, r := attacker.solve(t, attacker.do(t, http.MethodGet, "/", ""))
	if r.status != http.StatusSeeOther || attacker.cookies["rempart_pass"] == "" {
		t.Fatalf("proof: %s, pass %q; want 303 and a pass", r, attacker.cookies["rempart_pass"])
	}
	bought := attacker.cookies["rempart_pass"]
	tried := 1
	if r := attacker.do(t, http.MethodPost, "/sign", attackForm); r.status != http.StatusOK {
		t.Fatalf("the attacker's one paid signature: %s, want 200: %.300q", r, r.body)
	}
	if got := signatures(t, express); got != 1 {
		t.Fatalf("after the paid signature express counts %d, want 1", got)
	}
	// What makes the aliases a real threat: the spent pass still reads the
	// site, so a signature the shield mistook for a page would go through.
	if r := attacker.do(t, http.MethodGet, "/", ""); r.status != http.StatusOK || !strings.Contains(r.body, "Pétition Express") {
		t.Fatalf("the spent pass does not read the site: %s", r)
	}

	// Every alias with the pass the shield left the attacker, 30 plain
	// repeats, then 50 replays of the pass that bought the signature.
	var leaked []string
	try := func(c *client, a alias) {
		t.Helper()
		before := signatures(t, express)
		r := c.do(t, a.method, a.target, attackForm, a.header...)
		tried++
		if after := signatures(t, express); after > before {
			leaked = append(leaked, fmt.Sprintf("%s (%s): %d -> %d", a, r, before, after))
		}
		t.Logf("attacker, %s: %s", a, r)
	}
	for _, a := range aliases {
		try(attacker, a)
	}
	plain := alias{method: "POST", target: "/sign"}
	for range 30 {
		try(attacker, plain)
	}
	replayer := &client{local: attackerIP, addr: shieldAddr, host: shieldHost, cookies: map[string]string{"rempart_pass": bought}}
	all := append([]alias{plain}, aliases...)
	for i := range 50 {
		try(replayer, all[i%len(all)])
	}
	accepted := signatures(t, express)
	t.Logf("attacker: tried %d / accepted %d / expected 1", tried, accepted)
	if accepted != 1 || len(leaked) > 0 {
		t.Errorf("one pass bought %d signatures at express, want exactly 1; the requests that added one:\n%s",
			accepted, strings.Join(leaked, "\n"))
	}
}

// signLegitimately is the control: a legitimate signer on another network,
// who solves a challenge for each signature as a browser does, gets
// through as often as its address's budget allows (3 an hour), each of
// those arrives, and the signatures over the budget get 429.
func signLegitimately(t *testing.T, express string) {
	signer := &client{local: signerIP, addr: shieldAddr, host: shieldHost, cookies: map[string]string{},
		keep: func(string) bool { return true }}
	before := signatures(t, express)
	var statuses []string
	const attempts = 5
	for i := range attempts {
		sent := slices.Sorted(maps.Keys(signer.cookies))
		r := signer.sign(t, fmt.Sprintf("Signer%d", i))
		statuses = append(statuses, r.String())
		want := http.StatusOK
		if i >= 3 {
			want = http.StatusTooManyRequests
		}
		if r.status != want {
			t.Errorf("legitimate signature %d (POST /sign with cookies %v): %s, want %d: %.300q", i+1, sent, r, want, r.body)
		}
	}
	got := signatures(t, express) - before
	t.Logf("control signer: tried %d / accepted %d / expected 3 (answers %v)", attempts, got, statuses)
	if got != 3 {
		t.Errorf("a legitimate signer solving each time added %d signatures, want 3 (its per-ip budget)", got)
	}
}
