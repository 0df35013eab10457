package shield

import (
	"net/http"
	"strings"
	"testing"
)

func TestParseOrigin(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "https://www.example.org", want: "https://www.example.org"},
		{in: "HTTPS://WWW.Example.ORG", want: "https://www.example.org"},
		{in: "https://example.org:443", want: "https://example.org"},
		{in: "http://example.org:80", want: "http://example.org"},
		{in: "http://example.org:443", want: "http://example.org:443"},
		{in: "https://example.org:8443", want: "https://example.org:8443"},
		{in: "https://example.org:08443", want: "https://example.org:8443"},
		{in: "http://127.0.0.1:8080", want: "http://127.0.0.1:8080"},
		{in: "http://[::1]:8080", want: "http://[::1]:8080"},
		{in: "https://[2001:DB8:0:0:0:0:0:1]:443", want: "https://[2001:db8::1]"},
		{in: "https://[::ffff:192.0.2.1]", want: "https://[::ffff:c000:201]"},
		{in: "https://[1:0:0:2:0:0:0:3]", want: "https://[1:0:0:2::3]"},
		{in: "https://campaign.example.", want: "https://campaign.example."},
		{in: "https://example.3com", want: "https://example.3com"},
		{in: "", wantErr: "empty origin"},
		{in: "*", wantErr: `"*" is not an origin one can list`},
		{in: "null", wantErr: `"null" is not an origin one can list`},
		{in: "www.example.org", wantErr: "want an http:// or https:// origin"},
		{in: "ftp://example.org", wantErr: "want an http:// or https:// origin"},
		{in: "wss://example.org", wantErr: "want an http:// or https:// origin"},
		{in: "https:example.org", wantErr: "has no host"},
		{in: "https://", wantErr: "has no host"},
		{in: "https://:443", wantErr: "empty host"},
		{in: "https://example.org/", wantErr: "ends with a slash, which an Origin header never has: write https://example.org"},
		{in: "https://example.org/petition", wantErr: "has a path"},
		{in: "https://example.org?a=1", wantErr: "has a query or a fragment"},
		{in: "https://example.org#top", wantErr: "has a query or a fragment"},
		{in: "https://user:pw@example.org", wantErr: "has a user name"},
		{in: "https://example.org:", wantErr: "a colon without a port"},
		{in: "https://example.org:0", wantErr: "port 0: want 1 to 65535"},
		{in: "https://example.org:65536", wantErr: "port 65536: want 1 to 65535"},
		{in: "https://[fe80::1%25eth0]", wantErr: "want an IPv6 address without a zone"},
		{in: "https://bücher.example", wantErr: "write it in its ASCII form"},
		{in: "https://127.1", wantErr: "want a dotted IPv4 address"},
		{in: "https://a.0x7f", wantErr: "want a dotted IPv4 address"},
		{in: "https://exa%20mple.org", wantErr: "invalid URL escape"},
		{in: "https://ex!ample.org", wantErr: `host "ex!ample.org": unexpected '!'`},
	}
	for _, tt := range tests {
		got, err := ParseOrigin(tt.in)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ParseOrigin(%q) = %q, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("ParseOrigin(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// A site whose petition form lives on another origin of its own (its www
// host, a campaign site) lists that origin in FormOrigins: the form's
// signatures go through, after the challenge when the browser sends no
// pass (a cross-site POST carries no SameSite=Lax cookie), and reach the
// petition once. Every other origin is refused as before, and so is a
// signature without an Origin whose Sec-Fetch-Site says it comes from
// elsewhere: nothing tells which site sent it.
func TestFormOriginsSign(t *testing.T) {
	listed := []string{"https://www.petition.example", "HTTPS://Campaign.Example:443"}
	cases := []struct {
		name     string
		protect  string
		method   string
		target   string
		origin   string // "" sends none
		fetch    string // Sec-Fetch-Site; "" sends none
		dest     string // Sec-Fetch-Dest; "" sends none
		withPass bool   // the browser sends its pass (same-site: SameSite=Lax goes)
		signs    bool
	}{
		{"listed www, same-site, with its pass", "POST /sign", http.MethodPost, "/sign", "https://www.petition.example", "same-site", "document", true, true},
		{"listed www, same-site, no pass", "POST /sign", http.MethodPost, "/sign", "https://www.petition.example", "same-site", "document", false, true},
		{"listed campaign site, cross-site, no pass", "POST /sign", http.MethodPost, "/sign", "https://campaign.example", "cross-site", "document", false, true},
		{"listed campaign site, no Sec-Fetch-Site (older browser)", "POST /sign", http.MethodPost, "/sign", "https://campaign.example", "", "", false, true},
		{"listed, header in capitals", "POST /sign", http.MethodPost, "/sign", "HTTPS://CAMPAIGN.EXAMPLE", "cross-site", "document", false, true},
		{"unlisted sibling subdomain", "POST /sign", http.MethodPost, "/sign", "https://evil.petition.example", "same-site", "document", true, false},
		{"listed host, other scheme", "POST /sign", http.MethodPost, "/sign", "http://campaign.example", "cross-site", "document", false, false},
		{"listed host, other port", "POST /sign", http.MethodPost, "/sign", "https://campaign.example:8443", "cross-site", "document", false, false},
		{"listed host, default port spelled out", "POST /sign", http.MethodPost, "/sign", "https://campaign.example:443", "cross-site", "document", false, false},
		{"listed origin with a path", "POST /sign", http.MethodPost, "/sign", "https://campaign.example/", "cross-site", "document", false, false},
		{"Origin null", "POST /sign", http.MethodPost, "/sign", "null", "cross-site", "document", false, false},
		{"no Origin, same-site GET vote", "GET /vote", http.MethodGet, "/vote?choice=B", "", "same-site", "document", true, false},
		{"no Origin, cross-site POST", "POST /sign", http.MethodPost, "/sign", "", "cross-site", "document", false, false},
		{"listed, form posting in a frame", "POST /sign", http.MethodPost, "/sign", "https://campaign.example", "cross-site", "iframe", false, false},
	}
	tried, accepted, expected := 0, 0, 0
	refusedTried, refusedAccepted := 0, 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, setup{protect: []string{c.protect}, formOrigins: listed})
			b := h.browser("198.51.100.7", 64496, "")
			if c.withPass {
				b.pass("/")
			}
			body := ""
			if c.method == http.MethodPost {
				body = signBody
			}
			r := b.request(c.method, c.target, body)
			if !c.withPass {
				r.Header.Del("Cookie")
			}
			for name, v := range map[string]string{"Origin": c.origin, "Sec-Fetch-Site": c.fetch, "Sec-Fetch-Dest": c.dest} {
				if r.Header.Del(name); v != "" {
					r.Header.Set(name, v)
				}
			}
			w := b.send(r)
			first := w.Header().Get("Rempart-Action")
			if w.Code == StatusChallenge && (first == "hold" || first == "challenge") {
				// The challenge page, on the petition's site, solves and
				// posts its proof; the browser follows the answer, which
				// releases the held submission (or comes back to the link).
				proof := b.solveProof(w)
				v := b.sendProof(proof)
				if v.Code == http.StatusTemporaryRedirect || v.Code == http.StatusSeeOther {
					w = b.follow(v, proof.Form.Encode())
				} else {
					w = v
				}
			}
			n := h.forwardedCount()
			t.Logf("%s %s, Origin %q, Sec-Fetch-Site %q: first %q, then %d %q; forwarded %d",
				c.method, c.target, c.origin, c.fetch, first, w.Code, w.Header().Get("Rempart-Action"), n)
			if c.signs {
				tried++
				expected++
				if n == 1 {
					accepted++
				}
				if n != 1 {
					t.Fatalf("forwarded %d, want the signature once", n)
				}
				h.mu.Lock()
				got := h.forwarded[0]
				h.mu.Unlock()
				if got.Method != http.MethodPost || got.Path != "/sign" || got.Body != signBody {
					t.Errorf("forwarded %+v, want POST /sign %q", got, signBody)
				}
				return
			}
			refusedTried++
			if n > 0 {
				refusedAccepted++
				t.Errorf("forwarded %d, want the refusal", n)
			}
			says := strings.Contains(w.Body.String(), "autre site") || c.dest == "iframe"
			if w.Code != http.StatusForbidden || first != "refuse" || !says {
				t.Errorf("%d %q, want the refusal of another site's request", w.Code, first)
			}
		})
	}
	t.Logf("listed origins: tried %d / accepted %d / expected %d", tried, accepted, expected)
	t.Logf("unlisted origins and requests without one: tried %d / accepted %d / expected 0", refusedTried, refusedAccepted)
}

// The listed origins are checked when the shield is made: a value that is
// not an origin is a config error, never a list that matches nothing.
func TestFormOriginsChecked(t *testing.T) {
	cfg := newHarness(t, setup{}).shield.cfg
	for _, bad := range []string{"*", "null", "https://example.org/", "example.org", "https://user@example.org"} {
		cfg.FormOrigins = []string{"https://www.example.org", bad}
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "shield: form origin") {
			t.Errorf("New with form origin %q: %v, want a form origin error", bad, err)
		}
	}
	cfg.FormOrigins = []string{"https://WWW.example.org:443", "https://www.example.org"}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.formOrigins) != 1 || s.formOrigins[0] != "https://www.example.org" {
		t.Errorf("form origins %q, want [https://www.example.org] once", s.formOrigins)
	}
}
