package shield

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/policies"
)

// StatusChallenge answers a request without a usable pass with the
// challenge page: a browser runs it, a bot sees it was refused.
const StatusChallenge = http.StatusForbidden

const (
	// passCookie carries the client's pass over plain HTTP, and
	// hostPassCookie over HTTPS (see passCookieName).
	passCookie     = "rempart_pass"
	hostPassCookie = "__Host-" + passCookie
	// replayCookie names a held submission while the browser comes back
	// for it; it is scoped to the submission's path.
	replayCookie = "rempart_replay"
)

func zapError(err error) zap.Field { return zap.Error(err) }

type messageText func(t *challenge.Messages) (title, body string)

func tooLarge(t *challenge.Messages) (string, string)   { return t.TooLargeTitle, t.TooLarge }
func expired(t *challenge.Messages) (string, string)    { return t.ExpiredTitle, t.Expired }
func badRequest(t *challenge.Messages) (string, string) { return t.BadRequestTitle, t.BadRequest }
func crossSiteText(t *challenge.Messages) (string, string) {
	return t.CrossSiteTitle, t.CrossSite
}
func unreadablePath(t *challenge.Messages) (string, string) {
	return t.UnreadablePathTitle, t.UnreadablePath
}
func addressTooLong(t *challenge.Messages) (string, string) {
	return t.AddressTooLongTitle, t.AddressTooLong
}
func unreadable(t *challenge.Messages) (string, string) { return t.BadRequestTitle, t.BadRequest }
func denied(t *challenge.Messages) (string, string)     { return t.DeniedTitle, t.Denied }
func notFound(t *challenge.Messages) (string, string)   { return t.NotFoundTitle, t.NotFound }

// tooManyTexts keeps the text of a 429 for each language and wait in
// minutes: formatting it is most of what a refusal costs once its page is
// kept (see challenge.Pages.Message). The map is never changed once
// published, only replaced by a larger copy: every refusal reads it, and a
// read-write lock's reader count, written by every core at each read, cost
// more than the lookup.
var tooManyTexts atomic.Pointer[map[tooManyKey]string]

type tooManyKey struct {
	t       *challenge.Messages
	checks  bool // a challenge budget's text
	minutes int
}

// maxTooManyTexts bounds tooManyTexts, and the copies that fill it: the
// waits of a few budgets, counted down in minutes, in a few languages.
// Beyond it a text is formatted for each refusal.
const maxTooManyTexts = 1024

// tooManyText is the text of a 429 for an event of kind what over its
// budget, and a wait of minutes: t.TooMany for a signature, t.TooManyChecks
// for a challenge (a reader over a challenge budget has signed nothing).
func tooManyText(t *challenge.Messages, what policies.Counter, minutes int) string {
	k := tooManyKey{t, what == policies.CountChallenges, minutes}
	old := tooManyTexts.Load()
	var kept map[tooManyKey]string
	if old != nil {
		kept = *old
	}
	if text, ok := kept[k]; ok {
		return text
	}
	format := t.TooMany
	if k.checks {
		format = t.TooManyChecks
	}
	text := fmt.Sprintf(format, minutes)
	if len(kept) >= maxTooManyTexts {
		return text
	}
	// Waits take few values (a budget's window, counted down in minutes),
	// so copies are few; one lost to a concurrent copy is made again later.
	grown := make(map[tooManyKey]string, len(kept)+1)
	maps.Copy(grown, kept)
	grown[k] = text
	tooManyTexts.CompareAndSwap(old, &grown)
	return text
}

// refuse answers with a message page and records the refusal.
func (s *Shield) refuse(w http.ResponseWriter, r *http.Request, out *Outcome, status int, text messageText) error {
	out.Action = ActionRefuse
	out.Status = status
	return s.message(w, r, status, "refuse", text)
}

// message answers with a short page in the client's language.
func (s *Shield) message(w http.ResponseWriter, r *http.Request, status int, action string, text messageText) error {
	lang, t := challenge.Negotiate(r.Header.Get("Accept-Language"))
	title, body := text(t)
	page := challenge.MessagePage{Lang: lang, T: t, Title: title, Text: body, Link: "/"}
	if status == http.StatusTooManyRequests {
		if steps := submissionSteps(r); steps > 0 {
			// A refused submission is not lost: the signer's form, a page
			// or two back, still holds what they typed.
			page.More, page.BackSteps, page.Link = t.TooManyKept, steps, ""
		}
	}
	return s.page(w, r, status, action, page)
}

// submissionSteps returns how many pages back the form of the submission r
// carries is, or 0 when r is not a submission: 1 for a form posted
// directly, 2 for a held submission coming back (its form, then the
// challenge page that held it).
func submissionSteps(r *http.Request) int {
	if _, ok := cookie(r, replayCookie); ok {
		return 2
	}
	if !safeMethod(r.Method) {
		return 1
	}
	return 0
}

// page answers with a message page, rendered once and kept (see
// challenge.Pages.Message).
func (s *Shield) page(w http.ResponseWriter, r *http.Request, status int, action string, page challenge.MessagePage) error {
	rendered, err := s.cfg.Pages.Message(page)
	if err != nil {
		return internalError("rendering message page", err)
	}
	if rendered.Gzip != nil && challenge.AcceptsGzip(r.Header.Get("Accept-Encoding")) {
		writePage(w, r, status, action, challenge.MessageSecurityPolicy, rendered.Gzip, rendered.GzipLen, true)
		return nil
	}
	writePage(w, r, status, action, challenge.MessageSecurityPolicy, rendered.Plain, rendered.PlainLen, false)
	return nil
}

// pageHeaders is how many header values writePage sets at most.
const pageHeaders = 7

// autoLength is the body size up to which writePage leaves Content-Length
// to net/http: a response written whole before the handler returns, within
// net/http's 2 KiB buffer, gets its length computed (HTTP/2 does the same).
const autoLength = 2048

// writePage sends one of the shield's own pages, gzip-compressed or not,
// under the content security policy csp; length is len(page) in decimal.
// Rempart-Action tells scripts and logs what the shield did without
// parsing HTML.
//
// Every page answers often in a flood, so it sets as few header fields as
// it can: up to 8 fields in all (with Caddy's Server and a 429's
// Retry-After) fit the header map's first group, where a 9th makes
// net/http grow the map and copy it again when the header is written. So
// the referrer policy is in the pages' HTML, there is no Vary (no-store
// pages are in no cache to vary), and a short page's length is net/http's.
// The header values share one allocation: the fixed ones are never shared
// between responses, as a later handler may edit a response's values in
// place.
func writePage(w http.ResponseWriter, r *http.Request, status int, action, csp string, page []byte, length string, gzipped bool) {
	hdr := w.Header()
	values := make([]string, pageHeaders)
	set := func(i int, key, value string) {
		values[i] = value
		hdr[key] = values[i : i+1 : i+1]
	}
	set(0, "Content-Type", "text/html; charset=utf-8")
	set(1, "Cache-Control", "no-store")
	set(2, "Content-Security-Policy", csp)
	set(3, "X-Content-Type-Options", "nosniff")
	set(4, "Rempart-Action", action)
	if len(page) > autoLength {
		set(5, "Content-Length", length)
	} else {
		delete(hdr, "Content-Length")
	}
	if gzipped {
		set(6, "Content-Encoding", "gzip")
	} else {
		delete(hdr, "Content-Encoding")
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		// A client that went away needs no error page.
		_, _ = w.Write(page)
	}
}

// passCookieName names the pass cookie of r. Over HTTPS it has the
// __Host- prefix, which a browser accepts only from the host itself,
// Secure, for Path=/ and without Domain: a sibling subdomain (a user
// content host, say) cannot set one that the shield would read in place
// of the signer's, as it can a plain cookie for the parent domain.
func passCookieName(r *http.Request) string {
	if r.TLS != nil {
		return hostPassCookie
	}
	return passCookie
}

// setPass issues a pass to the client as a cookie.
func (s *Shield) setPass(w http.ResponseWriter, r *http.Request, c *client, credits, difficulty int, now time.Time, ttl time.Duration) error {
	pass, err := s.cfg.Signer.IssuePass(c.binding, credits, difficulty, now, ttl)
	if err != nil {
		return internalError("issuing pass", err)
	}
	setCookie(w, r, passCookieName(r), pass.Token, "/", ttl)
	return nil
}

// setCookie sets one of the shield's cookies: HttpOnly, SameSite=Lax (so a
// top-level navigation from elsewhere still carries it), Secure on HTTPS.
func setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, ttl time.Duration) {
	maxAge := int(ttl / time.Second)
	if ttl < 0 {
		maxAge = -1 // delete now
	}
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
}

// cookie returns the value of the request's first cookie called name. It
// reads only as far as that cookie: net/http's Request.Cookie parses and
// allocates every cookie of the request, on every request. Values are not
// checked here; the shield's tokens and ids are checked by what reads them.
func cookie(r *http.Request, name string) (string, bool) {
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && strings.TrimSpace(k) == name {
				if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
					v = v[1 : len(v)-1]
				}
				return v, true
			}
		}
	}
	return "", false
}

func clearCookie(w http.ResponseWriter, r *http.Request, name, path string) {
	setCookie(w, r, name, "", pathOf(path), -1)
}

// removeCookie drops one cookie from the request, so the backend never
// sees the shield's own bookkeeping. It cuts that cookie's pairs out of
// the Cookie header as received, cookie by cookie as cookie reads them,
// and keeps every other byte: the backend's own cookies reach it as the
// browser sent them, even those net/http would not parse or would quote
// (a PHP csrf[token]=..., a JSON value, a space or a comma).
func removeCookie(r *http.Request, name string) {
	lines := r.Header["Cookie"]
	var kept []string
	changed := false
	for i, line := range lines {
		rest, removed := withoutCookie(line, name)
		if !removed {
			if changed {
				kept = append(kept, line)
			}
			continue
		}
		if !changed {
			kept, changed = append(kept, lines[:i]...), true
		}
		if strings.TrimSpace(rest) != "" {
			kept = append(kept, rest)
		}
	}
	switch {
	case !changed:
	case len(kept) == 0:
		r.Header.Del("Cookie")
	default:
		r.Header["Cookie"] = kept
	}
}

// withoutCookie returns a Cookie header line without the pairs of the
// cookie name (a bare name too), reporting whether there was one. The
// pairs kept, and the separators between them, are unchanged; the
// separator after a first pair removed goes with it.
func withoutCookie(line, name string) (string, bool) {
	var b strings.Builder
	removed, first := false, true
	for rest, more := line, true; more; {
		var part string
		part, rest, more = strings.Cut(rest, ";")
		if k, _, _ := strings.Cut(part, "="); strings.TrimSpace(k) == name {
			removed = true
			continue
		}
		if !first {
			b.WriteByte(';')
		} else if removed {
			part = strings.TrimLeft(part, " \t")
		}
		b.WriteString(part)
		first = false
	}
	if !removed {
		return line, false
	}
	return b.String(), true
}

// restoreSubmission turns the browser's re-post into the request it
// originally sent.
func restoreSubmission(r *http.Request, sub *challenge.Submission) {
	r.Method = sub.Method
	r.Body = io.NopCloser(bytes.NewReader(sub.Body))
	r.ContentLength = int64(len(sub.Body))
	r.Header.Set("Content-Length", strconv.Itoa(len(sub.Body)))
	if sub.ContentType == "" {
		r.Header.Del("Content-Type")
	} else {
		r.Header.Set("Content-Type", sub.ContentType)
	}
	r.Form, r.PostForm, r.MultipartForm = nil, nil, nil
	removeCookie(r, replayCookie)
}
