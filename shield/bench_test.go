package shield

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/policies"
)

func discardBackend(w http.ResponseWriter, _ *http.Request) error {
	w.WriteHeader(http.StatusOK)
	return nil
}

// The three hot paths of a flood, in-process (BENCHMARKS.md has them
// through Caddy): a request with a valid pass, a challenge page for a new
// client, and a refusal by an exhausted budget.
func BenchmarkServe(b *testing.B) {
	h := newHarness(b, setup{
		protect: []string{"POST /sign"},
		limits:  []policies.Budget{{Counts: policies.CountChallenges, Per: budget.KeyASN, Rate: "1/hour", Class: "hosting"}},
	})
	reader := h.browser("198.51.100.7", 64496, "")
	reader.pass("/")
	over := h.browser("203.0.113.9", 64500, "hosting")
	over.do(http.MethodGet, "/", "") // spends the network's one challenge
	newcomer := h.browser("192.0.2.1", 64501, "")
	h.shield.cfg.Observer = nil // the harness keeps every outcome; a benchmark must not

	for _, bench := range []struct {
		name string
		b    *browser
		gzip bool
	}{
		{"pass", reader, false}, {"challenge", newcomer, false}, {"challenge-gzip", newcomer, true},
		{"limit", over, false}, {"limit-gzip", over, true},
	} {
		r := bench.b.request(http.MethodGet, "/petition", "")
		if bench.gzip {
			r.Header.Set("Accept-Encoding", "gzip, deflate, br")
		}
		// With httptest's recorder, as the other tests see the shield.
		b.Run(bench.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				if err := h.shield.Serve(w, r, bench.b.id, discardBackend); err != nil {
					b.Fatal(err)
				}
			}
		})
		// With a writer that keeps nothing, as net/http's reuses its
		// header map: the shield's own cost.
		b.Run(bench.name+"/own", func(b *testing.B) {
			w := &discardWriter{header: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.header)
				if err := h.shield.Serve(w, r, bench.b.id, discardBackend); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(w.written), "body-bytes")
		})
	}
}

// discardWriter is a ResponseWriter that keeps only the size of the last
// body.
type discardWriter struct {
	header  http.Header
	written int
}

func (w *discardWriter) Header() http.Header { return w.header }
func (w *discardWriter) WriteHeader(int)     { w.written = 0 }
func (w *discardWriter) Write(p []byte) (int, error) {
	w.written += len(p)
	return len(p), nil
}

// What the journal adds to a forwarded signature, in observe mode, where
// a flood's every signature goes through and gets its line: with the
// journal encoded as Caddy's json format writes it, and without. Both
// build the request in the loop.
func BenchmarkJournal(b *testing.B) {
	for _, journal := range []bool{false, true} {
		h := newHarness(b, setup{protect: []string{"POST /sign"}, observe: true})
		h.shield.cfg.Observer = nil
		if journal {
			enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
			h.shield.cfg.Journal = zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zap.InfoLevel))
		}
		bot := h.browser("203.0.113.9", 64500, "hosting")
		b.Run(fmt.Sprintf("journal=%v", journal), func(b *testing.B) {
			b.ReportAllocs()
			w := &discardWriter{header: http.Header{}}
			for b.Loop() {
				clear(w.header)
				r := bot.request(http.MethodPost, "/sign", "name=Bot")
				if err := h.shield.Serve(w, r, bot.id, discardBackend); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
