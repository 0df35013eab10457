package challenge

import (
	"net/url"
	"strings"
)

// MaxReturnLen bounds the return path a challenge carries: SafeReturn
// gives "/" for a longer one.
const MaxReturnLen = 2048

// SafeReturn returns target if it is a same-site path (and query) outside
// the shield's own prefix, and "/" otherwise: the verify endpoint must never
// become an open redirect ("//evil.example", "/\evil.example",
// "https://evil.example", control characters...).
func SafeReturn(target, shieldPrefix string) string {
	if target == "" || len(target) > MaxReturnLen || target[0] != '/' {
		return "/"
	}
	if len(target) > 1 && (target[1] == '/' || target[1] == '\\') {
		return "/"
	}
	for i := 0; i < len(target); i++ {
		if c := target[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	if strings.HasPrefix(u.Path, shieldPrefix) {
		return "/"
	}
	return target
}
