package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rempart/rempart/internal/shieldtest"
	"github.com/rempart/rempart/store/redisstore"
	"github.com/rempart/rempart/store/redisstore/redistest"
)

// The cluster's ports (this helper's ranges: HTTP 9600-9649, admin
// 3000-3009, Redis 6420-6429: store/redisstore's tests, which go test
// may run at the same time, use 6410-6419).
const (
	lbPort         = 9600
	firstInstance  = 9601
	instances      = 3
	recorderPort   = 9640
	lbAdminPort    = 3000
	clusterRedis   = 6420
	clusterTimeout = "2s"
)

var (
	rempartBinOnce sync.Once
	rempartBin     string
	rempartBinErr  error
)

// buildRempart builds cmd/rempart once for the test binary.
func buildRempart(t *testing.T) string {
	t.Helper()
	rempartBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rempart-cluster-")
		if err != nil {
			rempartBinErr = err
			return
		}
		rempartBin = filepath.Join(dir, "rempart")
		out, err := exec.Command("go", "build", "-o", rempartBin, "github.com/rempart/rempart/cmd/rempart").CombinedOutput()
		if err != nil {
			rempartBinErr = fmt.Errorf("go build ./cmd/rempart: %v\n%s", err, out)
		}
	})
	if rempartBinErr != nil {
		t.Fatal(rempartBinErr)
	}
	return rempartBin
}

// recorder is the petition behind the shields: it counts every signature
// that reaches it, by its body, so that a signature forwarded twice (a
// replay) or never (a loss) shows.
type recorder struct {
	mu       sync.Mutex
	received map[string]int
	srv      *http.Server
}

func startRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{received: make(map[string]int)}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", recorderPort))
	if err != nil {
		t.Fatal(err)
	}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	t.Cleanup(func() { _ = r.srv.Close() })
	return r
}

const petitionPage = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Petition</title></head><body>
<form id="petition" method="post" action="/sign"><input id="name" name="name"><input id="email" name="email">
<button id="sign" type="submit">Sign</button></form></body></html>`

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("X-Recorded", "yes")
	if req.Method != http.MethodPost {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, petitionPage)
		return
	}
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.received[req.URL.Path+" "+string(body)]++
	r.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = io.WriteString(w, `<!doctype html><html lang="en"><head><title>Thanks</title></head><body><p id="thanks">Thank you</p></body></html>`)
}

// count returns how often path received body.
func (r *recorder) count(path, body string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.received[path+" "+body]
}

// total returns how many signatures arrived, and how many arrived more
// than once.
func (r *recorder) total() (all, duplicated int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.received {
		all += n
		if n > 1 {
			duplicated += n - 1
		}
	}
	return all, duplicated
}

// process is one rempart binary running a Caddyfile.
type process struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  bytes.Buffer
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Write(b)
}

// lines returns how many log lines contain s.
func (p *process) lines(s string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Count(p.log.String(), s)
}

func (p *process) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

func startProcess(t *testing.T, name, caddyfile string, port int) *process {
	t.Helper()
	bin := buildRempart(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(conf, []byte(caddyfile), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &process{name: name}
	p.cmd = exec.Command(bin, "run", "--config", conf, "--adapter", "caddyfile")
	p.cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", name, p.logs())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %d:\n%s", name, port, p.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cluster is three rempart instances sharing one Redis, behind a Caddy
// load balancer (round robin), in front of a recorder.
type cluster struct {
	redis    *redistest.Server
	recorder *recorder
	lb       *process
	inst     []*process
}

const clusterPolicy = `rules:
  - name: votes-per-ip
    match:
      path: [/vote]
    action: limit
    counts: signatures
    per: ip
    rate: 4/hour
`

// startCluster starts the cluster with rising difficulty off: the tests
// that count requests need a fixed one.
func startCluster(t *testing.T) *cluster { return startClusterWith(t, "flood off") }

// startClusterWith starts the cluster with the given flood setting (a
// line of the rempart directive).
func startClusterWith(t *testing.T, flood string) *cluster {
	t.Helper()
	c := &cluster{redis: redistest.Start(t, clusterRedis), recorder: startRecorder(t)}
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policy, []byte(clusterPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("cluster-%d:", time.Now().UnixNano())
	var upstreams []string
	for i := range instances {
		port := firstInstance + i
		upstreams = append(upstreams, fmt.Sprintf("127.0.0.1:%d", port))
		c.inst = append(c.inst, startProcess(t, fmt.Sprintf("instance %d", i+1), fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	grace_period 1ns
	storage file_system %s
	servers {
		trusted_proxies static 127.0.0.1/32
	}
	rempart {
		store redis 127.0.0.1:%d {
			key_prefix %s
			timeout %s
		}
	}
}
http://:%d {
	bind 127.0.0.1
	rempart {
		site petition
		difficulty 8
		credits 1
		protect POST /sign
		protect POST /vote
		policy %s
		%s
	}
	reverse_proxy 127.0.0.1:%d
}
`, lbAdminPort+1+i, t.TempDir(), clusterRedis, prefix, clusterTimeout, port, policy, flood, recorderPort), port))
	}
	c.lb = startProcess(t, "load balancer", fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	grace_period 1ns
	storage file_system %s
}
http://:%d {
	bind 127.0.0.1
	reverse_proxy %s {
		lb_policy round_robin
	}
}
`, lbAdminPort, t.TempDir(), lbPort, strings.Join(upstreams, " ")), lbPort)
	// Tokens issued within redisstore.LossSkew of the site's first mark
	// in Redis are refused (see redisstore.Spent): start past it.
	time.Sleep(redisstore.LossSkew + time.Second)
	return c
}

func instanceURL(i int) string { return fmt.Sprintf("http://127.0.0.1:%d", firstInstance+i) }

var lbURL = fmt.Sprintf("http://127.0.0.1:%d", lbPort)

// client is a signer's HTTP client: its own cookies, no redirect followed
// (each answer of the shield is looked at).
type client struct {
	t    *testing.T
	http *http.Client
	ua   string
	// from, when set, is the address the client claims to come from
	// (X-Forwarded-For, trusted by the instances): another network than
	// the load balancer's.
	from string
}

func newClient(t *testing.T, name string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, ua: "Mozilla/5.0 cluster-test " + name, http: &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// answer is a response read whole.
type answer struct {
	status int
	action string // Rempart-Action
	header http.Header
	body   string
}

func (a answer) recorded() bool { return a.header.Get("X-Recorded") == "yes" }

func (c *client) do(method, target string, form url.Values) (answer, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		return answer{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	// Every instance sees the site's one name, as behind the load
	// balancer: tokens are bound to it.
	req.Host = fmt.Sprintf("127.0.0.1:%d", lbPort)
	req.Header.Set("User-Agent", c.ua)
	if c.from != "" {
		req.Header.Set("X-Forwarded-For", c.from)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, action: resp.Header.Get("Rempart-Action"), header: resp.Header, body: string(b)}, err
}

// must is do, failing the test on a transport error.
func (c *client) must(method, target string, form url.Values) answer {
	c.t.Helper()
	a, err := c.do(method, target, form)
	if err != nil {
		c.t.Fatal(err)
	}
	return a
}

// proofOf solves a challenge page.
func proofOf(t *testing.T, a answer) shieldtest.Proof {
	t.Helper()
	p, err := shieldtest.SolvePage([]byte(a.body))
	if err != nil {
		t.Fatalf("status %d %s: %v", a.status, a.action, err)
	}
	return p
}

// signResult is how one signer's attempt ended.
type signResult struct {
	forwarded bool   // the petition answered
	steps     int    // requests sent
	unavail   int    // 503 answers met (the store away)
	problem   string // why it gave up
	trace     []string
	held      string // the held submission's id, last seen
}

func (r *signResult) step(method, target string, a answer) {
	if len(r.trace) == 8 {
		r.trace = r.trace[1:]
	}
	r.trace = append(r.trace, fmt.Sprintf("%s %s -> %d %s", method, strings.TrimPrefix(target, lbURL), a.status, a.action))
}

// sign plays a browser signing at base until the petition answers or the
// deadline passes: a challenge is solved, a 307 re-posts, a 303 is
// followed, a 503 is retried (the signer reloads) after a moment.
func (c *client) sign(base, path string, form url.Values, deadline time.Time) signResult {
	var res signResult
	method, target, body := http.MethodPost, base+path, form
	for time.Now().Before(deadline) {
		res.steps++
		a, err := c.do(method, target, body)
		if err != nil {
			res.problem = err.Error()
			time.Sleep(200 * time.Millisecond)
			continue
		}
		res.step(method, target, a)
		switch {
		case a.recorded():
			res.forwarded = true
			return res
		case a.status == http.StatusForbidden && a.action == "challenge":
			p, err := shieldtest.SolvePage([]byte(a.body))
			if err != nil {
				res.problem = err.Error()
				return res
			}
			method, target, body = http.MethodPost, base+p.Action, p.Form
			res.held = p.Form.Get("submission")
		case a.status == http.StatusTemporaryRedirect:
			target = base + a.header.Get("Location") // same method, same body
		case a.status == http.StatusSeeOther:
			method, target, body = http.MethodGet, base+a.header.Get("Location"), nil
		case a.status == http.StatusServiceUnavailable:
			res.unavail++
			time.Sleep(300 * time.Millisecond)
		default:
			res.problem = fmt.Sprintf("%s %s: %d %s", method, target, a.status, a.action)
			return res
		}
	}
	if res.problem == "" {
		res.problem = "deadline"
	}
	return res
}
