package caddymodule_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rempart/rempart/internal/shieldtest"
)

// evasionSigner signs once on host through the real Caddy at 127.0.0.1:9180
// (challenge, proof, signature), with the X-Forwarded-For a client behind
// the trusted proxy would arrive with. It reports whether the signature
// reached the petition.
func evasionSigner(t *testing.T, host, forwardedFor string) bool {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, target string, body string) (int, string) {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, "http://127.0.0.1:9180"+target, rd)
		req.Host = host
		req.Header.Set("X-Forwarded-For", forwardedFor)
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, page := send(http.MethodPost, "/sign", "name=n&email=e%40example.org")
	if status != http.StatusForbidden {
		return status == http.StatusOK
	}
	proof, err := shieldtest.SolvePage([]byte(page))
	if err != nil {
		t.Error(err)
		return false
	}
	status, _ = send(http.MethodPost, proof.Action, proof.Form.Encode())
	if status != http.StatusTemporaryRedirect {
		return false
	}
	status, _ = send(http.MethodPost, "/sign", proof.Form.Encode())
	return status == http.StatusOK
}

func startEvasionSites(t *testing.T, forwarded *atomic.Int64) {
	backend := countingPetition(t, forwarded)
	initTestCaddy(t, testCaddyfile(t.TempDir(), trustForwardedFor, fmt.Sprintf(`
	http://a.localhost:9180 {
		rempart {
			difficulty 4
			protect POST /sign
			limit signatures per ip 3/hour
		}
		reverse_proxy %s
	}
	http://b.localhost:9180 {
		rempart {
			difficulty 4
			protect POST /sign
			limit signatures per ip 3/hour
		}
		reverse_proxy %s
	}`, backend, backend)))
}

// Behind a proxy that appends the address it saw, the client writes the
// leftmost X-Forwarded-For entry. With trusted_proxies_strict a forged
// entry buys no fresh per-IP budget; and two sites of one Caddy (sharing
// its generated secret) never count on each other's budgets.
func TestForgedForwardedForAndOtherSitesBuyNoBudget(t *testing.T) {
	var forwarded atomic.Int64
	startEvasionSites(t, &forwarded)

	accepted := 0
	for i := range 10 {
		if evasionSigner(t, "a.localhost", fmt.Sprintf("10.%d.%d.7, 52.94.1.1", i, i)) {
			accepted++
		}
	}
	t.Logf("forged leftmost X-Forwarded-For, per-ip 3/hour: tried 10 / accepted %d / expected 3", accepted)
	if accepted != 3 {
		t.Errorf("forged X-Forwarded-For: %d signatures accepted, want 3", accepted)
	}

	accepted = 0
	for range 5 {
		if evasionSigner(t, "b.localhost", "198.51.100.9") {
			accepted++
		}
	}
	for range 5 {
		if evasionSigner(t, "a.localhost", "198.51.100.9") {
			accepted++
		}
	}
	t.Logf("one address on two sites, per-ip 3/hour each: tried 10 / accepted %d / expected 6", accepted)
	if accepted != 6 {
		t.Errorf("two sites: %d signatures accepted, want 3 on each", accepted)
	}
	if got := forwarded.Load(); got != 9 {
		t.Errorf("the petition received %d signatures, want 9", got)
	}
}

// A shield in a named route (&(name), invoked by a site) is a site of its
// own, as a shield in a site block is: one address signing on both sites
// gets each site's budget, never one budget for the two.
func TestNamedRouteShieldHasItsOwnBudgets(t *testing.T) {
	var forwarded atomic.Int64
	backend := countingPetition(t, &forwarded)
	initTestCaddy(t, testCaddyfile(t.TempDir(), trustForwardedFor, fmt.Sprintf(`
	&(second-petition) {
		rempart {
			difficulty 4
			protect POST /sign
			limit signatures per ip 3/hour
		}
		reverse_proxy %s
	}
	http://a.localhost:9180 {
		rempart {
			difficulty 4
			protect POST /sign
			limit signatures per ip 3/hour
		}
		reverse_proxy %s
	}
	http://b.localhost:9180 {
		invoke second-petition
	}`, backend, backend)))

	accepted := map[string]int{}
	for _, host := range []string{"b.localhost", "a.localhost"} {
		for range 5 {
			if evasionSigner(t, host, "198.51.100.77") {
				accepted[host]++
			}
		}
	}
	t.Logf("one address, 5 signatures on each of two sites (one in a named route), per-ip 3/hour each: accepted %v, expected 3 on each", accepted)
	if accepted["a.localhost"] != 3 || accepted["b.localhost"] != 3 {
		t.Errorf("accepted %v, want 3 on each site", accepted)
	}
}
