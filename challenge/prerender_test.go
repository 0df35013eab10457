package challenge

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rempart/rempart/internal/fuzzguard"
)

// renderBoth renders c from the pre-rendered page and by running the
// template, which must give the same bytes.
func renderBoth(t *testing.T, p *Pages, c ChallengePage) (fast, slow []byte) {
	t.Helper()
	var f, s bytes.Buffer
	if p.prerendered(c) == nil {
		t.Fatalf("no pre-rendered page for %+v", c)
	}
	if err := p.RenderChallenge(&f, c); err != nil {
		t.Fatal(err)
	}
	if err := p.executeChallenge(&s, c); err != nil {
		t.Fatal(err)
	}
	// The appended page, plain and compressed, is the same page.
	plain, gzipped, err := p.AppendChallenge([]byte("kept"), &c, false)
	if err != nil || gzipped || !bytes.Equal(plain, append([]byte("kept"), f.Bytes()...)) {
		t.Fatalf("AppendChallenge, plain: err %v, compressed %v, page differs:\n%s", err, gzipped, plain)
	}
	compressed, gzipped, err := p.AppendChallenge(nil, &c, true)
	if err != nil || !gzipped {
		t.Fatalf("AppendChallenge, gzip: err %v, compressed %v", err, gzipped)
	}
	if inflated := gunzip(t, compressed); !bytes.Equal(inflated, f.Bytes()) {
		t.Fatalf("gzip page inflates to something else:\n%s\n---\n%s", inflated, f.Bytes())
	}
	return f.Bytes(), s.Bytes()
}

// gunzip decompresses a whole gzip stream, checking its CRC and size.
func gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false)
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return out
}

func testChallengePage(t testing.TB, lang, ret, submission, problem string, noScript bool) ChallengePage {
	s := newTestSigner(t, "0123456789abcdef-prerender")
	ch, err := s.IssueChallenge(testClient, 18, 1, testNow, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c := ChallengePage{Lang: lang, T: catalog[lang], Challenge: ch, VerifyPath: "/.rempart/verify", Return: ret, Submission: submission, Problem: problem}
	if noScript {
		q := url.Values{"t": {ch.Token}, "return": {ret}}
		if submission != "" {
			q.Set("submission", submission)
		}
		c.NoScript = &NoScriptWait{URL: "/.rempart/wait?" + q.Encode(), Seconds: 7}
	}
	return c
}

func TestPrerenderedChallengePageIsTheTemplates(t *testing.T) {
	p, err := NewPages("/.rempart/")
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range languages {
		for _, ret := range []string{"/", "/petition?x=1&y=<b>\"'+", "/\x00é\xff", "/" + strings.Repeat("&", 20000)} {
			for _, sub := range []string{"", "AbC-_123", `"><script>alert(1)</script>`} {
				for _, problem := range []string{"", catalog[lang].Retry, "a < b & c"} {
					for _, noScript := range []bool{false, true} {
						c := testChallengePage(t, lang, ret, sub, problem, noScript)
						fast, slow := renderBoth(t, p, c)
						if !bytes.Equal(fast, slow) {
							t.Fatalf("%s %q %q %q %v: pre-rendered page differs from the template's:\n%s\n---\n%s", lang, ret, sub, problem, noScript, fast, slow)
						}
					}
				}
			}
		}
	}
}

// FuzzPrerenderedChallengePage: whatever the per-request values, the
// pre-rendered page is byte for byte the template's.
func FuzzPrerenderedChallengePage(f *testing.F) {
	f.Add("/", "", "", false)
	f.Add("/a?b=<c>&d='e'+\"f\"", "id", "problem & <b>", true)
	p, err := NewPages("/.rempart/")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ret, submission, problem string, noScript bool) {
		fuzzguard.Within(t, fuzzguard.DefaultLimit, func() {
			c := testChallengePage(t, "fr", ret, submission, problem, noScript)
			if fast, slow := renderBoth(t, p, c); !bytes.Equal(fast, slow) {
				t.Fatalf("pre-rendered page differs from the template's:\n%s\n---\n%s", fast, slow)
			}
		})
	})
}

func BenchmarkRenderChallenge(b *testing.B) {
	p, err := NewPages("/.rempart/")
	if err != nil {
		b.Fatal(err)
	}
	c := testChallengePage(b, "fr", "/petition", "", "", false)
	var buf bytes.Buffer
	b.Run("prerendered", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			_ = p.RenderChallenge(&buf, c)
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		dst := make([]byte, 0, 8192)
		for b.Loop() {
			dst, _, _ = p.AppendChallenge(dst[:0], &c, false)
		}
	})
	b.Run("append-gzip", func(b *testing.B) {
		b.ReportAllocs()
		dst := make([]byte, 0, 8192)
		for b.Loop() {
			dst, _, _ = p.AppendChallenge(dst[:0], &c, true)
		}
		b.ReportMetric(float64(len(dst)), "bytes/page")
	})
	b.Run("template", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			_ = p.executeChallenge(&buf, c)
		}
	})
}
