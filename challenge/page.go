package challenge

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

//go:embed assets
var assetFS embed.FS

// ContentSecurityPolicy is sent with the challenge page: no inline script
// or style, everything from the shield's own origin.
// 'wasm-unsafe-eval' lets the solver compile its WebAssembly module (and
// nothing else: eval stays forbidden); browsers that do not know it fall
// back to the JavaScript solver.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self'; " +
	"img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// MessageSecurityPolicy is sent with the shield's message pages (a
// refusal, an expired pass...): they load the stylesheet and, for a refused
// submission's "back" button, the solver script, and need nothing else. A
// form may post from them to the site only (the challenge page's rule, and
// what a script in the browser's hands may do on any of the site's pages).
const MessageSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// AssetPaths are the public, content-hashed URLs of the page's assets.
type AssetPaths struct {
	Style  string
	Solver string
	Worker string
	// SIMD is the WebAssembly SIMD solver the worker loads when it can.
	SIMD string
}

type asset struct {
	body        []byte
	gzipped     []byte
	contentType string
	etag        string
}

// Pages renders the shield's pages and serves their static assets under a
// public path prefix such as "/.rempart/".
type Pages struct {
	prefix    string
	assets    map[string]*asset // by public file name
	paths     AssetPaths
	challenge *template.Template
	message   *template.Template
	// variants holds the pre-rendered challenge pages, by pageVariant.
	variants sync.Map
	// messages holds the rendered message pages (see message.go).
	messages messageCache
}

// NewPages loads the embedded page and assets, naming each asset by its
// content hash so that it can be cached for a year.
func NewPages(prefix string) (*Pages, error) {
	p := &Pages{prefix: prefix, assets: make(map[string]*asset)}
	named := map[string]*string{"style.css": &p.paths.Style, "solver.js": &p.paths.Solver, "worker.js": &p.paths.Worker,
		"sha256x4.wasm": &p.paths.SIMD}
	for file, public := range named {
		body, err := assetFS.ReadFile("assets/" + file)
		if err != nil {
			return nil, fmt.Errorf("reading embedded asset %s: %w", file, err)
		}
		sum := sha256.Sum256(body)
		ext := path.Ext(file)
		name := strings.TrimSuffix(file, ext) + "." + hex.EncodeToString(sum[:6]) + ext
		a := &asset{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, contentType: contentTypes[ext]}
		if a.gzipped, err = gzipBytes(body); err != nil {
			return nil, fmt.Errorf("compressing asset %s: %w", file, err)
		}
		p.assets[name] = a
		*public = prefix + name
	}
	var err error
	if p.challenge, err = template.ParseFS(assetFS, "assets/page.html"); err != nil {
		return nil, fmt.Errorf("parsing challenge page: %w", err)
	}
	if p.message, err = template.ParseFS(assetFS, "assets/message.html"); err != nil {
		return nil, fmt.Errorf("parsing message page: %w", err)
	}
	return p, nil
}

var contentTypes = map[string]string{
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".wasm": "application/wasm",
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Paths returns the public URLs of the assets.
func (p *Pages) Paths() AssetPaths { return p.paths }

// ServeAsset serves the asset with the given public file name (the part
// after the prefix) and reports whether it exists.
func (p *Pages) ServeAsset(w http.ResponseWriter, r *http.Request, name string) bool {
	a, ok := p.assets[name]
	if !ok {
		return false
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add("Vary", "Accept-Encoding")
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	body := a.body
	if AcceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		body = a.gzipped
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	return true
}

// AcceptsGzip reports whether an Accept-Encoding header accepts gzip.
func AcceptsGzip(acceptEncoding string) bool {
	for rest := acceptEncoding; rest != ""; {
		var item string
		item, rest, _ = strings.Cut(rest, ",")
		coding, params, _ := strings.Cut(item, ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			return params == "" || parseQuality(params) > 0
		}
	}
	return false
}

// ChallengePage is what the challenge page shows.
type ChallengePage struct {
	Lang       string
	T          *Messages
	Challenge  Challenge
	VerifyPath string
	// Return is the same-site path the browser goes back to once verified.
	Return string
	// Submission, when set, is the id of the held request body that the
	// browser's proof releases.
	Submission string
	// Problem, when set, explains why a previous proof was refused.
	Problem string
	// NoScript, when set, lets a browser without JavaScript through after
	// a wait.
	NoScript *NoScriptWait
}

// NoScriptWait is the way through for a browser without JavaScript.
type NoScriptWait struct {
	// URL is where the browser comes back once the wait is over.
	URL string
	// Seconds is how long it waits.
	Seconds int
}

// RenderChallenge writes the challenge page: from the page pre-rendered
// for its language and options (see prerender.go), with only the
// per-request values filled in, or by running the template when no such
// page can be made.
func (p *Pages) RenderChallenge(w io.Writer, c ChallengePage) error {
	if pre := p.prerendered(c); pre != nil {
		return pre.write(w, &c)
	}
	return p.executeChallenge(w, c)
}

// AppendChallenge appends the challenge page for c to dst, as
// RenderChallenge writes it, gzip-compressed when gzip is set and the page
// is pre-rendered (the fixed parts compressed once, see gzip.go);
// compressed says whether it is.
func (p *Pages) AppendChallenge(dst []byte, c *ChallengePage, gzip bool) (page []byte, compressed bool, err error) {
	pre := p.prerendered(*c)
	if pre == nil {
		buf := bytes.NewBuffer(dst)
		if err := p.executeChallenge(buf, *c); err != nil {
			return dst, false, err
		}
		return buf.Bytes(), false, nil
	}
	if gzip {
		return pre.appendGzip(dst, c), true, nil
	}
	return pre.appendPlain(dst, c), false, nil
}

// challengeData is what the challenge template sees. Its per-request
// fields are strings, so that pre-rendering can put sentinels in them.
type challengeData struct {
	ChallengePage
	Assets       AssetPaths
	Seed         string
	Token        string
	Difficulty   string
	NoScriptText string
}

// executeChallenge runs the challenge template.
func (p *Pages) executeChallenge(w io.Writer, c ChallengePage) error {
	var noScript string
	if c.NoScript != nil {
		noScript = noScriptText(c.T, c.NoScript.Seconds)
	}
	return p.challenge.Execute(w, challengeData{
		ChallengePage: c, Assets: p.paths, Seed: c.Challenge.SeedHex(), Token: c.Challenge.Token,
		Difficulty: strconv.Itoa(c.Challenge.Difficulty), NoScriptText: noScript,
	})
}

func noScriptText(t *Messages, seconds int) string {
	return strings.Replace(t.NoScriptWait, "%d", strconv.Itoa(seconds), 1)
}

// MessagePage is a short page that explains a refusal.
type MessagePage struct {
	Lang  string
	T     *Messages
	Title string
	Text  string
	// More, when set, is a second paragraph.
	More string
	// Link, when set, is a same-site path offered to go on.
	Link string
	// LinkText is the link's text; T.Back (home) when empty.
	LinkText string
	// BackSteps, when positive, offers a button that goes back that many
	// pages in the browser's history, to the form the signer filled in
	// (the browser keeps what was typed there). The button needs the
	// solver script; More says how to go back without it.
	BackSteps int
}

// RenderMessage writes a message page.
func (p *Pages) RenderMessage(w io.Writer, m MessagePage) error {
	if m.LinkText == "" && m.T != nil {
		m.LinkText = m.T.Back
	}
	return p.message.Execute(w, struct {
		MessagePage
		Assets AssetPaths
	}{m, p.paths})
}
