package shield

import (
	"bytes"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/policies"
)

// methodOverrideHeaders are the headers with which common frameworks
// (Express's method-override, Symfony, Spring's HiddenHttpMethodFilter
// behind a proxy, Google APIs) let a request claim another method. A
// request is a signature when either its method or the one it claims is.
var methodOverrideHeaders = [...]string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// held is a held submission that the request comes back to release.
type held struct {
	id  string
	sub challenge.Submission
}

// classify builds what the policy sees of the request: its canonical
// method and path when it is a signature (whatever its spelling), and the
// held submission it releases, if any. It answers the request itself
// (answered) when it must be refused before any decision: a replay of a
// submission that is gone, an unsafe request whose path cannot be read
// unambiguously, a signature sent from another site's form.
func (s *Shield) classify(w http.ResponseWriter, r *http.Request, c *client, active *Active, now time.Time, out *Outcome, req *policies.Request) (h *held, answered bool, err error) {
	body := s.smallForm(w, r)
	h, answered, err = s.heldSubmission(w, r, c, body, now, out)
	if answered {
		return nil, true, err
	}
	method, escapedPath, path, rawQuery := r.Method, r.URL.EscapedPath(), r.URL.Path, r.URL.RawQuery
	if h != nil {
		method, body = h.sub.Method, ""
		if u, perr := url.ParseRequestURI(h.sub.Path); perr == nil {
			escapedPath, path, rawQuery = u.EscapedPath(), u.Path, u.RawQuery
		}
		if isForm(h.sub.ContentType) {
			body = string(h.sub.Body)
		}
		out.Held = true
	}
	canon, cerr := policies.Canonicalize(method, escapedPath)
	if cerr != nil {
		if !safeMethod(method) || signsSafeMethods(active.Chain) {
			out.Reason = cerr.Error()
			return nil, true, s.refuse(w, r, out, http.StatusBadRequest, unreadablePath)
		}
		*req = policies.Request{Method: method, Path: path, Host: r.Host, IP: c.IP, ASN: c.ASN, Org: c.Org, Class: c.Class,
			UserAgent: r.UserAgent(), Header: r.Header}
		return h, false, nil
	}
	// A route named in the query or the form is what the framework runs,
	// whatever the path says: it decides first.
	form, signature := routeSignature(r, active, method, canon.Path, rawQuery, body)
	if !signature {
		form, signature = active.Chain.Signature(canon)
	}
	if !signature {
		form, signature = overriddenSignature(r, active, canon.Path, rawQuery)
	}
	*req = policies.Request{Method: method, Path: path, Host: r.Host, IP: c.IP, ASN: c.ASN, Org: c.Org, Class: c.Class,
		UserAgent: r.UserAgent(), Header: r.Header, Signature: signature}
	if signature {
		req.Method, req.Path = form.Method, form.Path
		out.Method, out.Path = form.Method, form.Path
		// A browser's form on another site must not be able to make its
		// visitors sign: their submission is never held and re-posted as
		// the site's own. Nor its link, when a GET signs (a vote by GET, a
		// _method claim): the browser would follow it with its pass, or
		// solve the challenge by itself and come back to it from the
		// challenge page, same-origin. The shield's own re-post of a held
		// submission comes from its challenge page, on the site. A page of
		// an origin the site lists as its own (FormOrigins) may sign.
		if h == nil && s.crossSite(r) {
			out.Reason = "signature sent from another site"
			return nil, true, s.refuse(w, r, out, http.StatusForbidden, crossSiteText)
		}
	}
	return h, false, nil
}

// signsSafeMethods reports whether a signature endpoint of the chain takes
// a safe method (a GET vote, say): then a safe request whose path cannot
// be read might be one, and is refused too. Only unreadable requests ask.
func signsSafeMethods(chain policies.Chain) bool {
	for _, p := range chain {
		for _, e := range p.Signatures() {
			if e.Method == "*" || safeMethod(e.Method) {
				return true
			}
		}
	}
	return false
}

// maxOverrideValues bounds the distinct method-override values looked at.
// A client claims one method; each value looked at costs a lookup of the
// whole path, and one request can carry tens of thousands of them.
const maxOverrideValues = 4

// anyMethod lists, for the worst case, methods that between them sign
// wherever any method does: POST matches every endpoint of a method that
// writes (see policies.Policy.Signature), and each of the others at least
// its own.
var anyMethod = [...]string{http.MethodPost, http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace}

// overriddenSignature reports whether the method the request claims in a
// method-override header, or in a _method query parameter, makes it a
// signature, and returns the form in which the rules see it: that of the
// method it claims, so that GET /sign claiming POST pays what POST /sign
// pays. path is the request's canonical path and rawQuery its query: only
// the claimed methods are canonicalized, each distinct value once.
func overriddenSignature(r *http.Request, active *Active, path, rawQuery string) (policies.Canonical, bool) {
	if rawQuery == "" && !hasOverrideHeader(r.Header) {
		return policies.Canonical{}, false // the common case, on every request
	}
	var seen [maxOverrideValues]string
	n := 0
	postTried := false
	try := func(method string) (policies.Canonical, bool) {
		postTried = postTried || method == http.MethodPost
		return active.Chain.Signature(policies.Canonical{Method: method, Path: path})
	}
	for v := range claimedMethods(r, rawQuery) {
		v = strings.TrimSpace(v)
		if slices.Contains(seen[:n], v) {
			continue // answered already
		}
		if n == len(seen) {
			// More methods claimed than a client needs: taken for the
			// worst, any method that signs here.
			for _, m := range anyMethod {
				if m == http.MethodPost && postTried {
					continue
				}
				if form, ok := try(m); ok {
					return form, true
				}
			}
			return policies.Canonical{}, false
		}
		seen[n] = v
		n++
		method, err := policies.CanonicalMethod(v)
		if err != nil {
			// A claimed method that cannot be read is taken for the
			// worst: the one that signs.
			if postTried {
				continue
			}
			method = http.MethodPost
		}
		if form, ok := try(method); ok {
			return form, true
		}
	}
	return policies.Canonical{}, false
}

// claimedMethods yields the methods a request claims instead of its own:
// in the method-override headers, and in a _method query parameter, which
// WordPress's REST API honours on any request (GET /wp-json/x?_method=POST
// runs its POST handler).
func claimedMethods(r *http.Request, rawQuery string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for name, vv := range r.Header {
			if !overrideHeader(name) {
				continue
			}
			for _, v := range vv {
				if !yield(v) {
					return
				}
			}
		}
		policies.QueryParam(rawQuery, "_method", yield)
	}
}

// hasOverrideHeader reports whether h holds a method-override header,
// however its name is spelt (see overrideHeader).
func hasOverrideHeader(h http.Header) bool {
	for name := range h {
		if overrideHeader(name) {
			return true
		}
	}
	return false
}

// overrideHeader reports whether a header name is one of the
// method-override headers as CGI and PHP read names: in any case, with "_"
// or "." for "-". Caddy's php_fastcgi passes X_HTTP_METHOD_OVERRIDE to PHP
// as HTTP_X_HTTP_METHOD_OVERRIDE, and X.HTTP.METHOD.OVERRIDE as
// HTTP_X.HTTP.METHOD.OVERRIDE, which PHP names as it names a form's
// fields, "." read as "_": WordPress's REST API takes either for the
// method on any request, and net/http keeps such names apart from
// X-Http-Method-Override.
func overrideHeader(name string) bool {
	for _, want := range methodOverrideHeaders {
		if len(name) != len(want) {
			continue
		}
		same := true
		for i := 0; i < len(name) && same; i++ {
			a, b := name[i], want[i]
			if a == '_' || a == '.' {
				a = '-'
			}
			same = a == b || 'A' <= b && b <= 'Z' && a == b+('a'-'A') || 'a' <= b && b <= 'z' && a == b-('a'-'A')
		}
		if same {
			return true
		}
	}
	return false
}

// routeSignature reports whether a route that a framework reads from the
// query string or a posted form (see policies.QueryRoutes: /?q=sign,
// /index.php?/sign, rest_route=...) makes the request a signature, by its
// method or the one it claims, and returns its form: the route's, so that
// the rules price /?q=sign as they price /sign. A route that cannot be
// read is no route.
func routeSignature(r *http.Request, active *Active, method, path, rawQuery, body string) (form policies.Canonical, signature bool) {
	try := func(route string) bool {
		c, err := policies.Canonicalize(method, route)
		if err != nil {
			return true
		}
		if form, signature = active.Chain.Signature(c); !signature {
			form, signature = overriddenSignature(r, active, c.Path, rawQuery)
		}
		return !signature
	}
	policies.QueryRoutes(path, rawQuery, false, try)
	if !signature {
		policies.QueryRoutes(path, body, true, try)
	}
	return form, signature
}

// safeMethod reports whether a request with this method only reads.
func safeMethod(method string) bool {
	switch strings.ToUpper(method) {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// crossSite reports whether a browser says the request comes from another
// origin than the site's own: Sec-Fetch-Site other than same-origin (or
// none, for what the user typed), or an Origin whose host is not the
// request's, unless that Origin is one the site lists as its own
// (Config.FormOrigins). A request with neither header is not from a
// browser's form, and is judged by the rest.
func (s *Shield) crossSite(r *http.Request) bool {
	if s.formOrigin(r) {
		return false
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return true // "null" (sandboxed frames, file:, redirects) and garbage
	}
	return !strings.EqualFold(u.Host, r.Host)
}

// embeddedElsewhere reports whether a browser says the request is a load
// by another site's page that is not a navigation of its own window: an
// image, script, stylesheet, fetch or frame. None of them can run a
// challenge page (a subresource is never shown, and the page forbids
// framing), so a challenge issued to one is never solved; counted, it
// would let any page spend its visitors' network budgets and flood
// estimate on the petition. Nor can a speculative load, a document
// prefetched or prerendered by the other page's speculation rules without
// a click (Sec-Purpose: prefetch, or Purpose: prefetch from older
// browsers): it is not shown until followed, and a prefetch answered with
// anything but the page is dropped. A top-level navigation from elsewhere
// (a link followed) is a reader who can solve.
func embeddedElsewhere(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
	default:
		return false
	}
	if dest := r.Header.Get("Sec-Fetch-Dest"); dest != "" && dest != "document" {
		return true
	}
	return speculative(r.Header.Get("Sec-Purpose")) || speculative(r.Header.Get("Purpose"))
}

// speculative reports whether a Sec-Purpose (or Purpose) value says the
// load is a prefetch: "prefetch", "prefetch;prerender",
// "prefetch;anonymous-client-ip", in a list or not.
func speculative(purpose string) bool {
	for purpose != "" {
		var item string
		item, purpose, _ = strings.Cut(purpose, ",")
		token, _, _ := strings.Cut(item, ";")
		if strings.EqualFold(strings.TrimSpace(token), "prefetch") {
			return true
		}
	}
	return false
}

// heldSubmission returns the held submission the request releases, if
// any: the one its body names when the body is the shield's own proof form
// (the browser's re-post after a proof, see reposted), else the one its
// replay cookie names (a browser without JavaScript comes back with a GET).
// When nothing is held under that id for this client and path any more, it
// clears the cookie; a request with a body then gets 410 (answered), since
// its body is the browser's re-post of the proof form, not the signer's
// submission, and no credit is spent on it.
func (s *Shield) heldSubmission(w http.ResponseWriter, r *http.Request, c *client, body string, now time.Time, out *Outcome) (*held, bool, error) {
	id, ok := reposted(body)
	if !ok {
		if id, ok = cookie(r, replayCookie); !ok {
			return nil, false, nil
		}
	}
	sub, ok, err := s.cfg.State.Stash.Peek(r.Context(), id, c.binding, now)
	if err != nil {
		if safeMethod(r.Method) {
			return nil, false, nil
		}
		// The browser's re-post of the proof form: keep the cookie, so
		// that reloading sends the submission once the store answers.
		out.Held = true
		out.Reason = "held submission unreachable: " + err.Error()
		return nil, true, s.unavailable(w, r, out)
	}
	if ok && sub.Path == r.URL.RequestURI() {
		return &held{id: id, sub: sub}, false, nil
	}
	clearCookie(w, r, replayCookie, r.URL.Path)
	if safeMethod(r.Method) {
		return nil, false, nil
	}
	out.Held = true
	out.Reason = "held submission expired or already sent"
	return nil, true, s.refuse(w, r, out, http.StatusGone, expired)
}

// isForm reports whether contentType is that of a form whose fields the
// shield reads, application/x-www-form-urlencoded (parameters such as a
// charset aside). It is read as PHP reads it, which fills $_POST when the
// type cut at its first ";", "," or space is a form's
// ("application/x-www-form-urlencoded,text/plain" is one): wider than the
// media type's syntax, so that no framework reads a form the shield does
// not.
func isForm(contentType string) bool {
	mediaType := strings.TrimSpace(contentType)
	if i := strings.IndexAny(mediaType, ";, \t"); i >= 0 {
		mediaType = mediaType[:i]
	}
	return strings.EqualFold(mediaType, "application/x-www-form-urlencoded")
}

// smallForm returns the body of an unsafe request that is a short form
// (application/x-www-form-urlencoded, up to maxVerifyBody), or "": the
// shield reads its own proof form in it (see reposted) and the routes some
// frameworks read from a posted form (see routeSignature). The body is put
// back as it was, for the next handler. A body of unknown length (HTTP/1.1
// chunked, an HTTP/2 stream without content-length) is read up to the
// bound too: the framework reads its form all the same.
func (s *Shield) smallForm(w http.ResponseWriter, r *http.Request) string {
	if safeMethod(r.Method) || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 ||
		r.ContentLength > maxVerifyBody || !isForm(r.Header.Get("Content-Type")) {
		return ""
	}
	// One byte more than a short form tells a longer body; a shorter one
	// is read to its end, which a length alone does not promise on an
	// HTTP/2 stream.
	s.bodyDeadline(w, r)
	body, err := io.ReadAll(io.LimitReader(r.Body, maxVerifyBody+1))
	r.Body = formBody{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
	if err != nil || len(body) > maxVerifyBody {
		return ""
	}
	s.bodyRead(w)
	return string(body)
}

// formBody is a body smallForm began to read, put back whole: its
// deadline is set already, and holding it must not give a sender that
// stalls a second one.
type formBody struct {
	io.Reader
	io.Closer
}

// reposted reports whether body (see smallForm) is the shield's own proof
// form, as a browser re-posts it to a held submission's path after a 307,
// and returns the submission it names. The form, not the replay cookie,
// names the submission, so that two tabs released at once each send their
// own, a path the cookie cannot be scoped to (/sign;jsessionid=x) still
// sends it, and a reload of the page the release answered gets 410 instead
// of being held and sent on as a signature of its own.
func reposted(body string) (string, bool) {
	if body == "" {
		return "", false
	}
	form, err := url.ParseQuery(body)
	if err != nil || len(form.Get("challenge")) == 0 || !form.Has("nonce") || !form.Has("submission") {
		return "", false
	}
	for k := range form {
		switch k {
		case "challenge", "nonce", "return", "submission":
		default:
			return "", false
		}
	}
	return form.Get("submission"), true
}

// bodyDeadline bounds the time the body of the request w answers may take
// to arrive, from now on the wall clock: the shield reads bodies whole
// before deciding (a form, a proof, a submission to hold), and one that
// never comes would otherwise keep what was read of it, and its goroutine,
// for as long as its sender keeps the connection open. A writer that
// cannot set a deadline (a test's recorder) reads without one.
//
// It replaces the connection's deadline, that of the server's read timeout
// (Caddy's timeouts read_body) among them: a shorter one still bounds the
// body, counted from now.
func (s *Shield) bodyDeadline(w http.ResponseWriter, r *http.Request) time.Time {
	deadline := s.bodyDeadlineFor(r)
	if err := http.NewResponseController(w).SetReadDeadline(deadline); err != nil {
		// A handler in front wraps the writer without Unwrap: a body that
		// never comes is then read until the server's own timeouts.
		s.noDeadline.Do(func() {
			s.log.Warn("request bodies are read without body_timeout: a handler before the shield hides the connection (its response writer has no Unwrap)",
				zap.String("writer", fmt.Sprintf("%T", w)), zap.Error(err))
		})
	}
	return deadline
}

// bodyDeadlineFor returns the time a body whose read begins now must
// have arrived by (see bodyDeadline).
func (s *Shield) bodyDeadlineFor(r *http.Request) time.Time {
	d := s.cfg.BodyTimeout
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok && srv.ReadTimeout > 0 {
		d = min(d, srv.ReadTimeout)
	}
	return time.Now().Add(d)
}

// bodyRead ends the deadline once the shield has read a body to its end.
// net/http clears it itself when the body ends during the shield's read,
// but not when it ended before (a handler in front, a WAF, read it whole
// and put it back from memory): left set, it would expire while the
// backend works on the request, and net/http cancels a request whose
// connection then fails a read. A body read only in part keeps it: the
// rest must still come in time, and one that never comes must not be
// waited for once the request is answered.
func (s *Shield) bodyRead(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
}
