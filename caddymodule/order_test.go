package caddymodule_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// An admin writes the site the way Caddy's docs show, with `handle`,
// `handle_path`, `route` or `respond`, and puts `rempart` at the top of the
// site block. Every one of those is terminal, so a shield ordered after
// them would never see the request it was told to protect.
func TestShieldRunsBeforeEveryTerminalDirective(t *testing.T) {
	var reached atomic.Int64
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		fmt.Fprint(w, "petition")
	}))
	t.Cleanup(backend.Close)
	upstream := strings.TrimPrefix(backend.URL, "http://")

	sites := []struct{ host, body string }{
		{"handle.localhost", "handle /sign* {\n\t\t\treverse_proxy " + upstream + "\n\t\t}"},
		{"handlepath.localhost", "handle_path /petition/* {\n\t\t\treverse_proxy " + upstream + "\n\t\t}"},
		{"route.localhost", "route {\n\t\t\treverse_proxy " + upstream + "\n\t\t}"},
		{"respond.localhost", "respond /sign \"signed\" 200"},
		{"fileserver.localhost", "root * " + t.TempDir() + "\n\t\tfile_server"},
	}
	var blocks strings.Builder
	for i, s := range sites {
		fmt.Fprintf(&blocks, `
	http://%s:9800 {
		rempart {
			site order-%d
			difficulty 4
			protect POST /sign
			protect POST /petition/sign
		}
		%s
	}`, s.host, i, s.body)
	}
	tester := caddytest.NewTester(t)
	tester.InitServer(fmt.Sprintf(`
	{
		admin localhost:2999
		http_port 9800
		https_port 9843
		grace_period 1ns
		auto_https off
		storage file_system %s
	}%s`, t.TempDir(), blocks.String()), "caddyfile")

	tried, challenged := 0, 0
	for _, s := range sites {
		for _, path := range []string{"/sign", "/petition/sign"} {
			req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:9800"+path, strings.NewReader("name=n"))
			req.Host = s.host
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			tried++
			if resp.StatusCode == http.StatusForbidden && strings.Contains(string(body), "rempart") {
				challenged++
			} else {
				t.Errorf("%s POST %s: %d %.60q, want the shield's challenge", s.host, path, resp.StatusCode, body)
			}
		}
	}
	t.Logf("unsolved signatures through terminal directives: tried %d / challenged %d / expected %d; reached the petition %d / expected 0",
		tried, challenged, tried, reached.Load())
	if n := reached.Load(); n != 0 {
		t.Errorf("%d unsolved signatures reached the petition", n)
	}
}
