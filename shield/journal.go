package shield

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// SignatureHeader is the request header field that carries, on every
// signature the shield forwards, the id of the signature's journal line:
// the petition (or its access log) can keep it beside the row the
// signature made, so that a batch found in the journal can be purged. The
// shield removes every spelling of it a client sends (see
// dropSignatureHeader), so the petition only ever sees the shield's.
const SignatureHeader = "Rempart-Signature"

// forward sends the request on to next: the shield lets it through. A
// signature gets its id, in SignatureHeader and in the outcome, and when
// the shield keeps a journal, the petition's answer is recorded for it.
func (a *action) forward(next Next) error {
	dropSignatureHeader(a.r.Header)
	dropSignatureTrailer(a.r)
	if !a.out.Signature || (a.out.Action != ActionSpend && !a.out.Observed) {
		return next(a.w, a.r)
	}
	a.out.SignatureID = newSignatureID()
	// A held signature goes on with the method it was first sent with,
	// not the re-post's that released it.
	a.out.Method = a.r.Method
	a.r.Header[SignatureHeader] = []string{a.out.SignatureID}
	if a.s.cfg.Journal == nil {
		return next(a.w, a.r)
	}
	rec := &statusRecorder{ResponseWriter: a.w}
	// Caddy's proxy aborts with a panic (http.ErrAbortHandler) when the
	// client goes away while the answer is copied: the petition has the
	// signature by then, and Serve still journals it, with this.
	defer func() {
		if p := recover(); p != nil {
			a.out.Upstream, a.out.UpstreamError = rec.status, fmt.Sprintf("answer aborted: %v", p)
			panic(p)
		}
	}()
	err := next(rec, a.r)
	a.out.Upstream = rec.status
	if err != nil {
		a.out.UpstreamError = err.Error()
	} else if rec.status == 0 {
		a.out.Upstream = http.StatusOK // net/http's answer to a handler that wrote nothing
	}
	return err
}

// dropSignatureHeader removes from h every field a client could pass off
// as the shield's SignatureHeader: any case, and with underscores or dots
// for dashes, which CGI, PHP and many frameworks read as the same name
// (HTTP_REMPART_SIGNATURE). Caddy drops such names itself unless the
// server's expected_underscore_headers or expected_dot_headers let them
// through.
func dropSignatureHeader(h http.Header) {
	dropSignatureFields(h)
	dropConnectionToken(h)
}

// dropSignatureFields removes h's fields named as SignatureHeader, in any
// spelling.
func dropSignatureFields(h http.Header) {
	for k := range h {
		if len(k) == len(SignatureHeader) && sameFieldName(k, SignatureHeader) {
			delete(h, k)
		}
	}
}

// dropSignatureTrailer does for r's trailer what dropSignatureHeader does
// for its header: Caddy's reverse_proxy forwards a chunked body's trailer
// fields, and some servers (Tomcat's allowedTrailerHeaders) read them as
// header fields. net/http fills the trailer in when the body ends, so the
// fields are removed then too.
func dropSignatureTrailer(r *http.Request) {
	if r.Trailer == nil {
		return // none declared: net/http gives the copies of r none
	}
	dropSignatureFields(r.Trailer)
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &trailerFilter{ReadCloser: r.Body, trailer: r.Trailer}
	}
}

// trailerFilter removes the signature's fields from the trailer as the
// body ends, before a proxy reading the body sends the trailer on.
type trailerFilter struct {
	io.ReadCloser
	trailer http.Header
}

func (b *trailerFilter) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		dropSignatureFields(b.trailer)
	}
	return n, err
}

// dropConnectionToken removes SignatureHeader from the fields the
// Connection header names: a proxy on the way (Caddy's reverse_proxy)
// removes those as hop-by-hop, and so would remove the shield's id.
func dropConnectionToken(h http.Header) {
	values := h["Connection"]
	named := false
	for _, v := range values {
		for f := range strings.SplitSeq(v, ",") {
			named = named || isSignatureField(f)
		}
	}
	if !named {
		return // no allocation for the common keep-alive
	}
	kept := make([]string, 0, len(values))
	for _, v := range values {
		var fields []string
		for f := range strings.SplitSeq(v, ",") {
			if !isSignatureField(f) {
				fields = append(fields, f)
			}
		}
		if v = strings.Join(fields, ","); strings.Trim(v, " \t,") != "" {
			kept = append(kept, v)
		}
	}
	if len(kept) == 0 {
		delete(h, "Connection")
		return
	}
	h["Connection"] = kept
}

func isSignatureField(f string) bool {
	f = strings.TrimSpace(f)
	return len(f) == len(SignatureHeader) && sameFieldName(f, SignatureHeader)
}

// sameFieldName reports whether a and b, of one length, name the same
// field to an upstream that ignores case and reads '_' and '.' as '-'.
func sameFieldName(a, b string) bool {
	for i := range len(a) {
		if foldFieldByte(a[i]) != foldFieldByte(b[i]) {
			return false
		}
	}
	return true
}

func foldFieldByte(c byte) byte {
	switch {
	case c == '_', c == '.':
		return '-'
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	}
	return c
}

// newSignatureID returns a random id, 24 hex digits: unique among the
// signatures of any petition's life, and telling nothing about the signer.
func newSignatureID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it panics)
	return hex.EncodeToString(b[:])
}

// statusRecorder remembers the status the petition answered a forwarded
// signature with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController (Caddy's reverse proxy flushes
// through it) reach the connection's writer.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// journal writes the journal line of a forwarded signature.
func (s *Shield) journal(r *http.Request, out *Outcome) {
	if ce := s.cfg.Journal.Check(zap.InfoLevel, "signature"); ce != nil {
		// A copy: a core may encode the line after the outcome is reused.
		ce.Write(zap.Inline(journalEntry{*out, r.Host}))
	}
}

// journalEntry is a journal line's fields: flat, so that a line is easy to
// filter (rempart journal, jq).
type journalEntry struct {
	out  Outcome
	host string
}

func (j journalEntry) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	o := &j.out
	enc.AddString("id", o.SignatureID)
	// The verdict is what the shield decided: "spend" for a signature it
	// forwarded itself, paid with a credit or allowed by a rule; in observe
	// mode, what enforce would have done with one it let through.
	enc.AddString("verdict", string(o.Action))
	if o.Observed {
		enc.AddBool("observed", true)
	}
	enc.AddString("host", journalText(j.host))
	enc.AddString("method", journalText(o.Method))
	enc.AddString("path", journalText(o.Path))
	if o.Rule != "" {
		enc.AddString("rule", o.Rule)
		enc.AddInt("line", o.Line)
	}
	enc.AddInt("difficulty", o.Difficulty)
	enc.AddInt("paid_bits", o.PaidBits)
	if o.PassID != "" {
		enc.AddString("pass", o.PassID)
	}
	if o.FloodExtra != 0 {
		enc.AddInt("flood_extra", o.FloodExtra)
	}
	if o.Budget != "" {
		enc.AddString("budget", o.Budget)
	}
	if o.Held {
		enc.AddBool("held", true)
	}
	o.addClient(enc)
	enc.AddInt("status", o.Upstream)
	if o.UpstreamError != "" {
		enc.AddString("error", journalText(o.UpstreamError))
	}
	return nil
}

// maxJournalText bounds a journal line's text fields that a client or a
// third party writes (Host, path, organisation, an upstream's error): a
// Caddy whose max_header_size is raised takes a Host of any length, and
// rempart journal stops at a line over journal.MaxLine, which would hide
// every line after it.
const maxJournalText = 1 << 10

// journalText is s cut to maxJournalText bytes, at a character, with an
// ellipsis that says it was cut.
func journalText(s string) string {
	if len(s) <= maxJournalText {
		return s
	}
	cut := maxJournalText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
