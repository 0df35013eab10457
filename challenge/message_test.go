package challenge

import (
	"bytes"
	"testing"

	"github.com/rempart/rempart/internal/fuzzguard"
)

// checkMessage renders m through the cache and by running the template,
// which must give the same bytes, plain and once inflated.
func checkMessage(t testing.TB, p *Pages, m MessagePage) *Rendered {
	t.Helper()
	r, err := p.Message(m)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := p.RenderMessage(&want, m); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Plain, want.Bytes()) {
		t.Fatalf("kept page differs from the template's:\n%s\n---\n%s", r.Plain, want.Bytes())
	}
	if r.PlainLen != itoa(len(r.Plain)) {
		t.Fatalf("PlainLen %s for %d bytes", r.PlainLen, len(r.Plain))
	}
	if r.Gzip != nil {
		if got := gunzip(t, r.Gzip); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("gzip page inflates to something else:\n%s", got)
		}
		if r.GzipLen != itoa(len(r.Gzip)) {
			t.Fatalf("GzipLen %s for %d bytes", r.GzipLen, len(r.Gzip))
		}
	}
	return r
}

func itoa(n int) string { return string(appendInt(nil, n)) }

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

func TestMessagePagesAreTheTemplates(t *testing.T) {
	p, err := NewPages("/.rempart/")
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range languages {
		msgs := catalog[lang]
		for _, m := range []MessagePage{
			{Lang: lang, T: msgs, Title: msgs.TooManyTitle, Text: msgs.TooMany, Link: "/"},
			{Lang: lang, T: msgs, Title: msgs.TooManyTitle, Text: "<b>&'\"+", More: msgs.TooManyKept, BackSteps: 2},
			{Lang: lang, T: msgs, Title: msgs.DeniedTitle, Text: msgs.Denied, Link: "/a?b=<c>", LinkText: "x & y"},
		} {
			first := checkMessage(t, p, m)
			if first.Gzip == nil {
				t.Fatalf("%s: first page not compressed", lang)
			}
			if again := checkMessage(t, p, m); again != first {
				t.Fatalf("%s: the same page rendered twice", lang)
			}
		}
	}
}

// Past maxCachedMessages pages, a page is still right, only not kept.
func TestMessageCacheBounded(t *testing.T) {
	p, err := NewPages("/.rempart/")
	if err != nil {
		t.Fatal(err)
	}
	msgs := catalog["en"]
	for i := range maxCachedMessages + 10 {
		checkMessage(t, p, MessagePage{Lang: "en", T: msgs, Title: "t", Text: itoa(i)})
	}
	if n := len(p.messages.pages); n != maxCachedMessages {
		t.Fatalf("%d pages kept, want %d", n, maxCachedMessages)
	}
	r := checkMessage(t, p, MessagePage{Lang: "en", T: msgs, Title: "t", Text: "one more"})
	if r.Gzip != nil {
		t.Fatal("a page past the bound was compressed and kept")
	}
}

// FuzzMessagePage: whatever the texts, the kept page is byte for byte the
// template's, and its compressed form inflates to it.
func FuzzMessagePage(f *testing.F) {
	f.Add("Too many", "wait <5> minutes & retry", "", "/", 0)
	f.Add("", "\x00\xff", "more", "", 2)
	p, err := NewPages("/.rempart/")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, title, text, more, link string, steps int) {
		fuzzguard.Within(t, fuzzguard.DefaultLimit, func() {
			checkMessage(t, p, MessagePage{Lang: "fr", T: catalog["fr"], Title: title, Text: text, More: more, Link: link, BackSteps: steps})
		})
	})
}

func BenchmarkMessage(b *testing.B) {
	p, err := NewPages("/.rempart/")
	if err != nil {
		b.Fatal(err)
	}
	msgs := catalog["fr"]
	m := MessagePage{Lang: "fr", T: msgs, Title: msgs.TooManyTitle, Text: msgs.TooMany, Link: "/"}
	b.Run("kept", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = p.Message(m)
		}
	})
	var buf bytes.Buffer
	b.Run("template", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			_ = p.RenderMessage(&buf, m)
		}
	})
}
