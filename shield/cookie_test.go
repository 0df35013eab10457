package shield

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/rempart/rempart/internal/fuzzguard"
)

// removeCookie cuts the replay cookie out of the Cookie header and keeps
// every other byte, whatever net/http thinks of the other cookies.
func TestRemoveCookie(t *testing.T) {
	cases := []struct {
		name string
		in   []string // Cookie header lines
		want []string // nil: no Cookie header left
	}{
		{"alone", []string{"rempart_replay=abc"}, nil},
		{"first", []string{"rempart_replay=abc; a=1"}, []string{"a=1"}},
		{"middle", []string{"a=1; rempart_replay=abc; b=2"}, []string{"a=1; b=2"}},
		{"last", []string{"a=1; rempart_replay=abc"}, []string{"a=1"}},
		{"no space", []string{"a=1;rempart_replay=abc;b=2"}, []string{"a=1;b=2"}},
		{"twice", []string{"rempart_replay=x; a=1; rempart_replay=y"}, []string{"a=1"}},
		{"quoted", []string{`a=1; rempart_replay="abc"`}, []string{"a=1"}},
		{"spaced name", []string{"a=1;  rempart_replay = abc ; b=2"}, []string{"a=1; b=2"}},
		{"bare name", []string{"rempart_replay; a=1"}, []string{"a=1"}},
		{"php array", []string{"rempart_replay=abc; csrf[token]=t0k3n"}, []string{"csrf[token]=t0k3n"}},
		{"json", []string{`prefs={"lang":"fr"}; rempart_replay=abc`}, []string{`prefs={"lang":"fr"}`}},
		{"space and comma", []string{"note=a b,c; rempart_replay=abc; path=C:\\x"}, []string{"note=a b,c; path=C:\\x"}},
		{"empty pairs kept", []string{"a=1;; rempart_replay=abc; ;b"}, []string{"a=1;; ;b"}},
		{"names alike", []string{"rempart_replayx=1; xrempart_replay=2; rempart_pass=3"}, []string{"rempart_replayx=1; xrempart_replay=2; rempart_pass=3"}},
		{"value alike", []string{"a=rempart_replay; b=rempart_replay=x"}, []string{"a=rempart_replay; b=rempart_replay=x"}},
		{"lines", []string{"a=1", "rempart_replay=abc", "b=2; rempart_replay=abc"}, []string{"a=1", "b=2"}},
		{"untouched lines", []string{"a=1", "  ", "b=2"}, []string{"a=1", "  ", "b=2"}},
		{"none", nil, nil},
	}
	kept := 0
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodPost, "/sign", nil)
		if c.in != nil {
			r.Header["Cookie"] = slices.Clone(c.in)
		}
		removeCookie(r, replayCookie)
		got, ok := r.Header["Cookie"]
		if !slices.Equal(got, c.want) || ok != (c.want != nil) {
			t.Errorf("%s: %q became %q (present %v), want %q", c.name, c.in, got, ok, c.want)
			continue
		}
		kept++
	}
	t.Logf("Cookie headers: tried %d / as expected %d / expected %d", len(cases), kept, len(cases))
}

// A released submission reaches the backend with the browser's own
// cookies as it sent them, as one sent without a hold does; only the
// replay cookie is gone.
func TestReleaseKeepsBackendCookies(t *testing.T) {
	const siteCookies = `PHPSESSID=abc123; csrf[token]=t0k3n; prefs={"lang":"fr"}; note=a b,c; path=C:\x`
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	b := h.browser("198.51.100.7", 64496, "")
	proof := b.solveProof(b.do(http.MethodPost, "/sign", signBody))
	verify := b.sendProof(proof)
	r := b.request(http.MethodPost, verify.Header().Get("Location"), proof.Form.Encode())
	sent := r.Header.Get("Cookie") + "; " + siteCookies
	r.Header.Set("Cookie", sent)
	var seen []string
	var body string
	if err := h.shield.Serve(httptest.NewRecorder(), r, b.id, func(w http.ResponseWriter, r *http.Request) error {
		seen = r.Header["Cookie"]
		body = formOf(mustRead(t, r)).Encode()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := "rempart_pass=" + b.cookies[passCookie].Value + "; " + siteCookies
	t.Logf("browser sent: %s", sent)
	t.Logf("backend got : %q", seen)
	if len(seen) != 1 || seen[0] != want {
		t.Fatalf("backend got Cookie %q, want %q", seen, want)
	}
	if body != formOf(signBody).Encode() {
		t.Fatalf("backend got %q, want the held signature", body)
	}
}

func mustRead(t *testing.T, r *http.Request) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// FuzzRemoveCookie: what removeCookie leaves holds no pair of the removed
// cookie, and every other pair of the header, byte for byte (but the
// spaces before the first), in order.
func FuzzRemoveCookie(f *testing.F) {
	for _, seed := range []string{
		"rempart_replay=abc", "a=1; rempart_replay=abc; b=2", "rempart_replay; csrf[token]=t0k3n",
		`prefs={"lang":"fr"};rempart_replay="x";note=a b,c`, " ; ;rempart_replay= ; ", "rempart_replayx=1",
		"a=1\nrempart_replay=2\n\nb=3",
	} {
		f.Add(seed)
	}
	pairs := func(lines []string) (others []string, removed int) {
		for _, line := range lines {
			for part := range strings.SplitSeq(line, ";") {
				if k, _, _ := strings.Cut(part, "="); strings.TrimSpace(k) == replayCookie {
					removed++
					continue
				}
				others = append(others, strings.TrimLeft(part, " \t"))
			}
		}
		return others, removed
	}
	f.Fuzz(func(t *testing.T, header string) {
		fuzzguard.WithinInput(t, fuzzguard.DefaultLimit, []byte(header), func() {
			lines := strings.Split(header, "\n") // one Cookie field each
			r := &http.Request{Header: http.Header{"Cookie": slices.Clone(lines)}}
			removeCookie(r, replayCookie)
			got := r.Header["Cookie"]
			left, removed := pairs(got)
			if removed != 0 {
				t.Fatalf("%q: %q still holds %s", lines, got, replayCookie)
			}
			if _, ok := cookie(r, replayCookie); ok {
				t.Fatalf("%q: %q still reads as %s", lines, got, replayCookie)
			}
			want, had := pairs(lines)
			if had == 0 {
				if !slices.Equal(got, lines) {
					t.Fatalf("%q without %s became %q", lines, replayCookie, got)
				}
				return
			}
			// A line left without a pair is dropped with its empty pairs.
			want = slices.DeleteFunc(want, func(p string) bool { return strings.TrimSpace(p) == "" })
			left = slices.DeleteFunc(left, func(p string) bool { return strings.TrimSpace(p) == "" })
			if !slices.Equal(left, want) {
				t.Fatalf("%q became %q: kept %q, want %q", lines, got, left, want)
			}
			for _, line := range got {
				if strings.TrimSpace(line) == "" && !slices.Contains(lines, line) {
					t.Fatalf("%q became %q: a Cookie field emptied is left", lines, got)
				}
			}
		})
	})
}

// Over HTTPS, a sibling subdomain of the petition (a user content host,
// say) can set a plain rempart_pass cookie for the parent domain and a
// longer path, which the browser then sends before the signer's own: read
// first, it would send every signer of the site back to a challenge for
// each signature. Over HTTPS the pass is a __Host- cookie, which no other
// host can set, and the only one the shield reads.
func TestPassCookieOverHTTPSIsTheHostsOwn(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}})
	tried, kept := 3, 0
	for i := range tried {
		a := h.browser(fmt.Sprintf("198.51.%d.7", 100+i), 64496, "")
		a.https = true
		if w := a.solve(a.do(http.MethodGet, "/", "")); w.Code != http.StatusSeeOther {
			t.Fatalf("proof: %d", w.Code)
		}
		var set *http.Cookie
		for _, c := range a.cookies {
			if strings.Contains(c.Name, "rempart_pass") {
				set = c
			}
		}
		if set == nil || set.Name != "__Host-rempart_pass" || !set.Secure || set.Path != "/" || set.Domain != "" {
			t.Fatalf("the pass over HTTPS is %+v, want __Host-rempart_pass, Secure, Path=/, no Domain", set)
		}
		// The sibling's cookie comes first, for the signature's longer path.
		r := a.request(http.MethodPost, "/sign", signBody)
		r.Header.Set("Cookie", "rempart_pass=AAAA-set-by-a-sibling; "+r.Header.Get("Cookie"))
		if w := a.send(r); w.Code == http.StatusOK {
			kept++
		}
	}
	t.Logf("signatures with a sibling's rempart_pass sent first: tried %d / signed with the signer's own pass %d / expected %d", tried, kept, tried)
	if kept != tried {
		t.Fatalf("%d of %d signatures lost the signer's pass to a sibling's cookie", tried-kept, tried)
	}
}
