package caddymodule

import (
	"net/http"
	"strings"
	"time"
)

const (
	// passCookie carries the client's pass.
	passCookie = "rempart_pass"
	// replayCookie names a held submission while the browser comes back
	// for it; it is scoped to the submission's path.
	replayCookie = "rempart_replay"
)

// setCookie sets one of the shield's cookies: HttpOnly, SameSite=Lax (so a
// top-level navigation from elsewhere still carries it), Secure on HTTPS.
func setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, ttl time.Duration) {
	maxAge := int(ttl / time.Second)
	if ttl < 0 {
		maxAge = -1 // delete now
	}
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     path,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteLaxMode,
	})
}

func clearCookie(w http.ResponseWriter, r *http.Request, name, path string) {
	setCookie(w, r, name, "", path, -1)
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
