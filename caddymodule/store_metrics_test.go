package caddymodule

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/rempart/rempart/internal/metricstest"
)

// A real Caddy reports the bounded stores of a site in rempart_store_*: a
// signature held while its sender solves, and one whose body is still
// being read, each where staff look for them, and gone once it is not.
func TestStoreSizesAreReported(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "petition") }))
	t.Cleanup(backend.Close)
	const (
		site = "store-metrics"
		addr = "localhost:9854"
		form = "name=Ada&email=ada%40example.org"
	)
	tester := caddytest.NewTester(t)
	tester.InitServer(fmt.Sprintf(`
	{
		admin localhost:2999
		http_port 9854
		https_port 9859
		grace_period 1ns
		auto_https off
		storage file_system %s
	}
	http://%s {
		rempart {
			secret store-metrics-secret-0123456789
			site %s
			protect POST /sign
			flood off
		}
		reverse_proxy %s
	}`, t.TempDir(), addr, site, strings.TrimPrefix(backend.URL, "http://")), "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	gauge := func(series map[string]float64, name, store string) float64 {
		return metricstest.Sum(series, name, `site="`+site+`"`, `store="`+store+`"`)
	}
	post := func(body string, length int) net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		_, err = fmt.Fprintf(c, "POST /sign HTTP/1.1\r\nHost: %s\r\nUser-Agent: Mozilla/5.0 (test)\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
			"Origin: http://%[1]s\r\nSec-Fetch-Site: same-origin\r\nContent-Length: %d\r\n\r\n%s", addr, length, body)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// One signature sent whole is held; another stops one byte short.
	whole := post(form, len(form))
	if _, err := io.ReadAll(io.LimitReader(whole, 1)); err != nil {
		t.Fatal(err)
	}
	const stalledLength = 20000 // past a short form, which is read before
	stalled := post(strings.Repeat("x", stalledLength-1), stalledLength)
	var series map[string]float64
	for range 50 {
		if series = metricstest.Scrape(t, noCookieClient, localAdminURL+"/metrics"); gauge(series, "rempart_store_entries", "bodies_being_read") == 1 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	checks := []struct {
		name, store string
		want        float64
	}{
		{"rempart_store_entries", "held_submissions", 1},
		{"rempart_store_entries", "bodies_being_read", 1},
		{"rempart_store_bytes", "bodies_being_read", stalledLength},
		{"rempart_store_entries", "solved_challenges", 0},
	}
	for _, c := range checks {
		if got := gauge(series, c.name, c.store); got != c.want {
			t.Errorf("%s{store=%q} = %v while a body is read, want %v", c.name, c.store, got, c.want)
		}
	}
	if got := gauge(series, "rempart_store_bytes", "held_submissions"); got < float64(len(form)) {
		t.Errorf("held submissions' bytes %v, want at least the held form's %d", got, len(form))
	}

	// The stalled sender gives up: its read ends.
	_ = stalled.Close()
	for range 50 {
		if series = metricstest.Scrape(t, noCookieClient, localAdminURL+"/metrics"); gauge(series, "rempart_store_entries", "bodies_being_read") == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := gauge(series, "rempart_store_bytes", "bodies_being_read"); got != 0 {
		t.Errorf("bodies being read after the sender left: %v bytes, want 0", got)
	}
}
