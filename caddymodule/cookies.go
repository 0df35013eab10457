package caddymodule

import (
	"net/http"
	"strings"
	"time"
)

const (
	// passCookie carries the client's pass.
	passCookie = "rempart_pass"
	// replayCookie names a held submission while the browser re-posts it.
	replayCookie = "rempart_replay"
)

// setCookie sets one of the shield's cookies: HttpOnly, SameSite=Lax (so a
// top-level navigation from elsewhere still carries it), Secure on HTTPS.
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, ttl time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   int(ttl / time.Second),
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteLaxMode,
	})
}

func clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
}

// removeCookie drops one cookie from the request, so the backend never
// sees the shield's own bookkeeping.
func removeCookie(r *http.Request, name string) {
	cookies := r.Cookies()
	kept := make([]string, 0, len(cookies))
	for _, c := range cookies {
		if c.Name != name {
			kept = append(kept, c.String())
		}
	}
	r.Header.Del("Cookie")
	if len(kept) > 0 {
		r.Header.Set("Cookie", strings.Join(kept, "; "))
	}
}
