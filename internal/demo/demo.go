// Package demo is a tiny petition, served by Caddy as the handler
// rempart_demo, for the quickstart and the end-to-end tests: GET / shows the
// form and the count, POST /sign adds a signature, GET /api/count answers
// {"count": N}. It is compiled into cmd/rempart only; a Caddy built with
// xcaddy does not carry it.
package demo

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Petition{})
	httpcaddyfile.RegisterHandlerDirective("rempart_demo", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		h.Next()
		if h.NextArg() {
			return nil, h.ArgErr()
		}
		return new(Petition), nil
	})
	httpcaddyfile.RegisterDirectiveOrder("rempart_demo", httpcaddyfile.Before, "respond")
}

// signatures is the demo's whole database. It lives at package level so
// that a config reload keeps the count.
var signatures struct {
	sync.Mutex
	count int
	last  []string
}

// maxField bounds a name or an email, as a real petition would.
const maxField = 200

// Petition is the demo petition handler. It has no options.
type Petition struct{}

// CaddyModule returns the Caddy module information.
func (Petition) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.rempart_demo",
		New: func() caddy.Module { return new(Petition) },
	}
}

// Count returns the number of signatures so far.
func Count() int {
	signatures.Lock()
	defer signatures.Unlock()
	return signatures.count
}

// ServeHTTP serves the petition; any other path goes to the next handler.
func (Petition) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	switch {
	case r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		signatures.Lock()
		data := pageData{Count: signatures.count, Last: append([]string(nil), signatures.last...), Signed: r.URL.Query().Has("signed")}
		signatures.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		return page.Execute(w, data)
	case r.URL.Path == "/sign" && r.Method == http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseMultipartForm(64 << 10); err != nil && err != http.ErrNotMultipart {
			http.Error(w, "unreadable form", http.StatusBadRequest)
			return nil
		}
		name, email := strings.TrimSpace(r.PostFormValue("name")), strings.TrimSpace(r.PostFormValue("email"))
		if name == "" || email == "" || len(name) > maxField || len(email) > maxField || !strings.Contains(email, "@") {
			http.Error(w, "a name and an email address are required", http.StatusUnprocessableEntity)
			return nil
		}
		signatures.Lock()
		signatures.count++
		signatures.last = append([]string{name}, signatures.last...)
		if len(signatures.last) > 10 {
			signatures.last = signatures.last[:10]
		}
		signatures.Unlock()
		http.Redirect(w, r, "/?signed=1", http.StatusSeeOther)
		return nil
	case r.URL.Path == "/api/count" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(map[string]int{"count": Count()})
	}
	return next.ServeHTTP(w, r)
}

type pageData struct {
	Count  int
	Last   []string
	Signed bool
}

var page = template.Must(template.New("petition").Parse(`<!doctype html>
<html lang="fr">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Pétition de démonstration</title></head>
<body>
<main>
<h1>Pétition de démonstration</h1>
{{if .Signed}}<p id="thanks">Merci, votre signature est enregistrée.</p>{{end}}
<p>Signatures : <strong id="count">{{.Count}}</strong></p>
<form id="petition" method="post" action="/sign">
<p><label for="name">Nom</label> <input id="name" name="name" required maxlength="200"></p>
<p><label for="email">Courriel</label> <input id="email" name="email" type="email" required maxlength="200"></p>
<p><button id="sign" type="submit">Signer</button></p>
</form>
{{if .Last}}<h2>Derniers signataires</h2><ul>{{range .Last}}<li>{{.}}</li>{{end}}</ul>{{end}}
</main>
</body>
</html>
`))

// Interface guards
var _ caddyhttp.MiddlewareHandler = (*Petition)(nil)
