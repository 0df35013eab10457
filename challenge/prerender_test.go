package challenge

import (
	"bytes"
	"net/url"
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
	return f.Bytes(), s.Bytes()
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
		for _, ret := range []string{"/", "/petition?x=1&y=<b>\"'+", "/\x00é\xff"} {
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
	b.Run("template", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			_ = p.executeChallenge(&buf, c)
		}
	})
}
