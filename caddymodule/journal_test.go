package caddymodule_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/rempart/rempart/internal/metricstest"
	"github.com/rempart/rempart/internal/shieldtest"
)

// signatureIDs is a petition that keeps, for each signature posted to it,
// every value of every header field it could read as Rempart-Signature
// (PHP and CGI read Rempart_Signature as the same).
type signatureIDs struct {
	mu   sync.Mutex
	seen [][]string
}

func (p *signatureIDs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		var ids []string
		for k, v := range r.Header {
			if strings.EqualFold(strings.NewReplacer("_", "-", ".", "-").Replace(k), "Rempart-Signature") {
				ids = append(ids, v...)
			}
		}
		p.mu.Lock()
		p.seen = append(p.seen, ids)
		p.mu.Unlock()
	}
	fmt.Fprint(w, "petition")
}

// ids returns every value the petition got, signature by signature.
func (p *signatureIDs) ids() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for _, got := range p.seen {
		ids = append(ids, got...)
	}
	return ids
}

// runJournalCommand runs `rempart journal args...` as Caddy's command line
// registers it.
func runJournalCommand(args ...string) (stdout, stderr string, err error) {
	cmd := &cobra.Command{Use: "journal", SilenceUsage: true, SilenceErrors: true}
	caddycmd.Commands()["journal"].CobraFunc(cmd)
	var out, errOut strings.Builder
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

// journalClient is a browser behind the trusted proxy, sending from ip,
// which also writes forged values into the petition's header field.
type journalClient struct {
	t  *testing.T
	ip string
	c  *http.Client
	// connection, when set, is sent as the Connection header field;
	// host, when set, as the Host; with trailer, a body goes chunked with
	// the forged fields as trailer fields too.
	connection []string
	host       string
	trailer    bool
}

func newJournalClient(t *testing.T, ip string) *journalClient {
	jar, _ := cookiejar.New(nil)
	return &journalClient{t: t, ip: ip, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (j *journalClient) send(method, target, body string) (int, string) {
	j.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	if j.trailer && rd != nil {
		rd = io.MultiReader(rd) // no length: chunked
	}
	req, _ := http.NewRequest(method, shieldURL+target, rd)
	if j.trailer && rd != nil {
		req.Trailer = http.Header{"Rempart-Signature": {"forged-3"}, "rempart_signature": {"forged-4"}}
	}
	req.Header.Set("X-Forwarded-For", j.ip)
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	// Written as is on the wire: Caddy reads them as Rempart-Signature
	// and Rempart_signature.
	req.Header["rempart-signature"] = []string{"forged-1"}
	req.Header["REMPART_SIGNATURE"] = []string{"forged-2"}
	if j.connection != nil {
		req.Header["Connection"] = j.connection
	}
	if j.host != "" {
		req.Host = j.host
	}
	resp, err := j.c.Do(req)
	if err != nil {
		j.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// solve posts the proof of the challenge page and follows the shield's
// redirect, as the page's script does.
func (j *journalClient) solve(page string) {
	j.t.Helper()
	proof, err := shieldtest.SolvePage([]byte(page))
	if err != nil {
		j.t.Fatal(err)
	}
	status, _ := j.send(http.MethodPost, proof.Action, proof.Form.Encode())
	if status == http.StatusTemporaryRedirect {
		status, _ = j.send(http.MethodPost, "/sign", proof.Form.Encode())
	}
	if status != http.StatusSeeOther && status != http.StatusOK {
		j.t.Fatalf("%s: proof answered %d", j.ip, status)
	}
}

// journalLogs are the README's global log options that keep the journal,
// in file, apart from the default log.
func journalLogs(file string) string {
	return fmt.Sprintf(`
		log journal {
			include http.handlers.rempart.journal
			output file %s
			format json
		}
		log default {
			exclude http.handlers.rempart.journal
		}`, file)
}

// startJournalShield loads a test Caddy with global options global, whose
// shield (difficulty 8, POST /sign protected, site, and options) guards
// the petition at upstream, a URL.
func startJournalShield(t *testing.T, site, global, options, upstream string) {
	t.Helper()
	initTestCaddy(t, testCaddyfile(t.TempDir(), global, shieldSite(site, options, upstream)))
}

// wantJournalFinds checks that the tried signatures all reached petition,
// and that rempart journal finds each of their ids in file, for site.
func wantJournalFinds(t *testing.T, petition *signatureIDs, site, file string, tried int) {
	t.Helper()
	ids := petition.ids()
	out, stderr, err := runJournalCommand("--site", site, "--format", "ids", file)
	found := strings.Fields(out)
	if err != nil || !slices.Equal(found, ids) || len(ids) != tried {
		t.Fatalf("%d signatures tried, %d reached the petition, rempart journal found %d (%v, %s); want %d",
			tried, len(ids), len(found), err, stderr, tried)
	}
}

// readJournal returns the lines of the journal file of site.
func readJournal(t *testing.T, file, site string) []map[string]any {
	t.Helper()
	f, err := os.Open(file)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("journal line %q: %v", sc.Text(), err)
		}
		if line["logger"] != "http.handlers.rempart.journal" {
			t.Errorf("journal file has a line of %v: include did not keep the file to the journal", line["logger"])
		}
		if line["site"] == site {
			lines = append(lines, line)
		}
	}
	return lines
}

// In a real Caddy, with the README's log block: every signature forwarded
// reaches the petition with the id of its journal line, and only that id
// (the client's forged fields are gone), and the journal file has one
// line for each, with the client's address and its verdict. Pages read
// with a pass get no id and no line. With "journal off" the ids still go
// on and nothing is written.
func TestJournalInRealCaddy(t *testing.T) {
	for _, off := range []bool{false, true} {
		t.Run(fmt.Sprintf("journal off %v", off), func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "signatures.log")
			petition := &signatureIDs{}
			srv := httptest.NewServer(petition)
			t.Cleanup(srv.Close)
			option := ""
			if off {
				option = "journal off"
			}
			site := testSite(t)
			startJournalShield(t, site, trustForwardedFor+journalLogs(file), option, srv.URL)

			// One signs with a pass bought on a page, then reads a page.
			reader := newJournalClient(t, "203.0.113.7")
			status, page := reader.send(http.MethodGet, "/", "")
			if status != http.StatusForbidden {
				t.Fatalf("GET / without a pass: %d", status)
			}
			reader.solve(page)
			if status, _ := reader.send(http.MethodPost, "/sign", "name=Ann"); status != http.StatusOK {
				t.Fatalf("signature with a pass: %d", status)
			}
			if status, _ := reader.send(http.MethodGet, "/thanks", ""); status != http.StatusOK {
				t.Fatalf("page with a pass: %d", status)
			}
			// One signs at once: held, solved, released.
			direct := newJournalClient(t, "198.51.100.9")
			status, page = direct.send(http.MethodPost, "/sign", "name=Ben")
			if status != http.StatusForbidden {
				t.Fatalf("signature without a pass: %d", status)
			}
			direct.solve(page)

			petition.mu.Lock()
			seen := slices.Clone(petition.seen)
			petition.mu.Unlock()
			var ids []string
			for _, got := range seen {
				if len(got) != 1 || strings.HasPrefix(got[0], "forged") || len(got[0]) != 24 {
					t.Fatalf("a signature reached the petition with %q, want one id of the shield's", got)
				}
				ids = append(ids, got[0])
			}
			if len(ids) != 2 {
				t.Fatalf("the petition got %d signatures, want 2", len(ids))
			}

			lines := readJournal(t, file, site)
			if off {
				if len(lines) != 0 {
					t.Fatalf("journal off wrote %d lines", len(lines))
				}
				return
			}
			want := map[string]string{ids[0]: "203.0.113.7", ids[1]: "198.51.100.9"}
			if len(lines) != len(want) {
				t.Fatalf("journal has %d lines for %d signatures: %v", len(lines), len(want), lines)
			}
			for _, line := range lines {
				id, _ := line["id"].(string)
				if want[id] == "" || line["ip"] != want[id] || line["verdict"] != "spend" ||
					line["status"] != float64(200) || line["msg"] != "signature" || line["path"] != "/sign" {
					t.Errorf("journal line %v does not match the signatures %v", line, want)
				}
				delete(want, id)
			}

			// rempart journal finds the second signer's network's batch in
			// the file Caddy wrote.
			out, stderr, err := runJournalCommand("--site", site, "--network", "198.51.100.0/24", "--format", "ids", file)
			if err != nil {
				t.Fatal(err)
			}
			if out != ids[1]+"\n" || !strings.Contains(stderr, "2 signatures, 1 match") {
				t.Fatalf("rempart journal --network 198.51.100.0/24: %q (%s), want %s", out, stderr, ids[1])
			}
		})
	}
}

// A client that names Rempart-Signature in its Connection header asks
// every proxy on the way to drop it as hop-by-hop, and Caddy's
// reverse_proxy does: its signature would reach the petition without the
// shield's id, a row that no purge by the journal's ids finds. Each
// signer here signs at once (held, solved, released) in both modes.
func TestConnectionHeaderCannotStripTheSignatureID(t *testing.T) {
	connections := [][]string{
		{"Rempart-Signature"},
		{"keep-alive, rempart-signature"},
		{"keep-alive", "REMPART-SIGNATURE , x-other"},
		{",,Rempart-Signature,"},
	}
	for _, mode := range []string{"enforce", "observe"} {
		t.Run(mode, func(t *testing.T) {
			petition := &signatureIDs{}
			srv := httptest.NewServer(petition)
			t.Cleanup(srv.Close)
			startJournalShield(t, testSite(t), trustForwardedFor, "mode "+mode, srv.URL)

			for i, connection := range connections {
				c := newJournalClient(t, fmt.Sprintf("198.51.100.%d", i+1))
				c.connection = connection
				status, page := c.send(http.MethodPost, "/sign", "name=Ann")
				switch {
				case mode == "enforce" && status == http.StatusForbidden:
					c.solve(page)
				case mode == "observe" && status == http.StatusOK:
				default:
					t.Fatalf("Connection %q: signature answered %d", connection, status)
				}
			}
			petition.mu.Lock()
			seen := slices.Clone(petition.seen)
			petition.mu.Unlock()
			without := 0
			for _, got := range seen {
				if len(got) != 1 || len(got[0]) != 24 {
					without++
				}
			}
			if len(seen) != len(connections) || without != 0 {
				t.Fatalf("%d signatures tried, %d reached the petition, %d of them without one id of the shield's; want %d, 0",
					len(connections), len(seen), without, len(connections))
			}
		})
	}
}

// A signature's Host comes from the request, and Caddy takes it up to its
// header limit (max_header_size, which a site with large cookies raises):
// localhost with a 70,000-digit port still matches the site localhost. Their journal lines must stay readable by rempart journal, which
// stops at a line over 64 KiB: one such line would hide every signature
// journalled after it in the file.
func TestLongRequestFieldsKeepTheJournalReadable(t *testing.T) {
	for _, mode := range []string{"enforce", "observe"} {
		t.Run(mode, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "signatures.log")
			petition := &signatureIDs{}
			srv := httptest.NewServer(petition)
			t.Cleanup(srv.Close)
			site := testSite(t)
			// A site whose users carry large cookies raises Caddy's 16 KiB
			// header limit.
			servers := strings.Replace(trustForwardedFor, "servers {", "servers {\n\t\t\tmax_header_size 1MB", 1)
			startJournalShield(t, site, servers+journalLogs(file), "mode "+mode, srv.URL)

			// The long signature first, then an ordinary one.
			tried := 0
			for i, host := range []string{"localhost:" + strings.Repeat("9", 70000), ""} {
				c := newJournalClient(t, fmt.Sprintf("198.51.100.%d", i+1))
				c.host = host
				if mode == "enforce" {
					status, page := c.send(http.MethodGet, "/", "")
					if status != http.StatusForbidden {
						t.Fatalf("GET / without a pass: %d", status)
					}
					c.solve(page)
				}
				tried++
				if status, _ := c.send(http.MethodPost, "/sign", "name=Ann"); status != http.StatusOK {
					t.Fatalf("signature %d answered %d", tried, status)
				}
			}
			wantJournalFinds(t, petition, site, file, tried)
		})
	}
}

// Without a log block of its own the journal goes to Caddy's default log,
// which rempart journal reads by skipping the other logs' lines. Those
// hold what clients send: an access log line writes every request header
// field, and each byte of a value that is not UTF-8 as \ufffd, six bytes:
// one request with 16 KiB of such bytes (within Caddy's default header
// limit) writes a line over 64 KiB. rempart journal must skip it, not stop
// there and hide every signature after it.
func TestOtherLogsLongLinesKeepTheJournalReadable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "caddy.log")
	petition := &signatureIDs{}
	srv := httptest.NewServer(petition)
	t.Cleanup(srv.Close)
	site := testSite(t)
	initTestCaddy(t, testCaddyfile(t.TempDir(), trustForwardedFor+fmt.Sprintf(`
		log default {
			output file %s
			format json
		}`, file), fmt.Sprintf(`
	http://localhost:9180 {
		log
		rempart {
			difficulty 8
			protect POST /sign
			site %s
			mode observe
		}
		reverse_proxy %s
	}`, site, strings.TrimPrefix(srv.URL, "http://"))))

	c := newJournalClient(t, "198.51.100.9")
	req, _ := http.NewRequest(http.MethodGet, shieldURL+"/", nil)
	req.Header.Set("X-Forwarded-For", c.ip)
	req.Header.Set("X-Pad", strings.Repeat("\xff", 15000))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	tried := 0
	for range 2 {
		tried++
		if status, _ := c.send(http.MethodPost, "/sign", "name=Ann"); status != http.StatusOK {
			t.Fatalf("signature %d answered %d", tried, status)
		}
	}
	wantJournalFinds(t, petition, site, file, tried)
}

// Caddy's reverse_proxy forwards a chunked body's trailer fields, and some
// servers (Tomcat's allowedTrailerHeaders) read them as header fields: a
// forged Rempart-Signature sent as a trailer must not reach the petition
// either, on a signature or on a page posted with a pass.
func TestTrailerCannotCarryAForgedSignatureID(t *testing.T) {
	for _, mode := range []string{"enforce", "observe"} {
		t.Run(mode, func(t *testing.T) {
			var mu sync.Mutex
			requests, forged := 0, 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.ReadAll(r.Body) // the trailer comes after the body
				mu.Lock()
				defer mu.Unlock()
				requests++
				for k, v := range r.Trailer {
					if strings.EqualFold(strings.NewReplacer("_", "-", ".", "-").Replace(k), "Rempart-Signature") && len(v) > 0 {
						forged++
						break
					}
				}
			}))
			t.Cleanup(srv.Close)
			startJournalShield(t, testSite(t), trustForwardedFor, "mode "+mode, srv.URL)

			c := newJournalClient(t, "198.51.100.9")
			if mode == "enforce" {
				status, page := c.send(http.MethodGet, "/", "")
				if status != http.StatusForbidden {
					t.Fatalf("GET / without a pass: %d", status)
				}
				c.solve(page)
			}
			c.trailer = true
			tried := 0
			for _, target := range []string{"/sign", "/comment"} {
				tried++
				if status, _ := c.send(http.MethodPost, target, "name=Ann"); status != http.StatusOK {
					t.Fatalf("POST %s answered %d", target, status)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if forged != 0 || requests < tried {
				t.Fatalf("%d posts with a forged trailer tried, %d reached the petition, %d with the forged value; want 0",
					tried, requests, forged)
			}
		})
	}
}

// When the client goes away while the petition's answer is copied to it,
// Caddy's reverse_proxy aborts the handler with a panic
// (http.ErrAbortHandler), after the petition has taken the signature. A
// signer that resets each connection as soon as the answer's header
// arrives must still leave a journal line for each signature the petition
// got, or its rows carry ids that no line has.
func TestAbortedAnswerStillJournalled(t *testing.T) {
	for _, mode := range []string{"enforce", "observe"} {
		t.Run(mode, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "signatures.log")
			petition := &signatureIDs{}
			// The client has gone: the rest of the page may be sent.
			gone := make(chan struct{}, 3)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				petition.ServeHTTP(httptest.NewRecorder(), r)
				// A thank-you page, sent once the signature is counted.
				w.WriteHeader(http.StatusOK)
				http.NewResponseController(w).Flush()
				<-gone
				for range 256 {
					if _, err := w.Write(make([]byte, 4096)); err != nil {
						return
					}
				}
			}))
			t.Cleanup(srv.Close)
			site := testSite(t)
			startJournalShield(t, site, trustForwardedFor+journalLogs(file), "mode "+mode, srv.URL)

			tried := cap(gone)
			before := metricstest.Scrape(t, http.DefaultClient, "http://localhost:2999/metrics")
			for i := range tried {
				c := newJournalClient(t, fmt.Sprintf("198.51.100.%d", i+1))
				if mode == "enforce" {
					status, page := c.send(http.MethodGet, "/", "")
					if status != http.StatusForbidden {
						t.Fatalf("GET / without a pass: %d", status)
					}
					c.solve(page)
				}
				req, _ := http.NewRequest(http.MethodPost, shieldURL+"/sign", strings.NewReader("name=Ann"))
				req.Header.Set("X-Forwarded-For", c.ip)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				for _, ck := range c.c.Jar.Cookies(req.URL) {
					req.AddCookie(ck)
				}
				conn, err := net.Dial("tcp", "localhost:9180")
				if err != nil {
					t.Fatal(err)
				}
				if err := req.Write(conn); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(bufio.NewReader(conn), req)
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("signature %d: %v %v", i, resp, err)
				}
				_ = conn.(*net.TCPConn).SetLinger(0) // reset, not close
				conn.Close()
				gone <- struct{}{}
			}
			// Until Caddy has written what it will write.
			var lines []map[string]any
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				if lines = readJournal(t, file, site); len(lines) >= tried {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			petition.mu.Lock()
			got := len(petition.seen)
			var ids []string
			for _, v := range petition.seen {
				ids = append(ids, v...)
			}
			petition.mu.Unlock()
			if got != tried || len(lines) != tried {
				t.Fatalf("%d signatures tried, %d reached the petition, %d journal lines; want %d, %d",
					tried, got, len(lines), tried, tried)
			}
			for _, line := range lines {
				if !slices.Contains(ids, line["id"].(string)) || line["status"] != float64(200) || line["error"] == nil {
					t.Errorf("journal line %v: want one of the petition's ids %v, its 200 and the abort", line, ids)
				}
			}
			// The metrics count them too: the observer sees the outcome
			// of a request the proxy gave up on.
			verdict := map[string]string{"enforce": "spend", "observe": "hold"}[mode]
			after := metricstest.Scrape(t, http.DefaultClient, "http://localhost:2999/metrics")
			labels := []string{`site="` + site + `"`, `action="` + verdict + `"`}
			if n := metricstest.Sum(after, "rempart_requests_total", labels...) - metricstest.Sum(before, "rempart_requests_total", labels...); n != float64(tried) {
				t.Errorf("rempart_requests_total{action=%q} counted %v of the %d forwarded signatures", verdict, n, tried)
			}
		})
	}
}
