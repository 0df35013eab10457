package shield

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// ParseOrigin checks that s is a serialized origin, http(s)://host[:port],
// and returns it as a browser sends it in an Origin header: scheme and
// host in lower case, the scheme's default port dropped, an IPv6 address
// in brackets in its shortest form. Two spellings of one origin then give
// one string, which a request's Origin matches exactly.
func ParseOrigin(s string) (string, error) {
	switch {
	case s == "":
		return "", errors.New("empty origin: want http(s)://host[:port]")
	case s == "*" || strings.EqualFold(s, "null"):
		return "", fmt.Errorf("%q is not an origin one can list: want http(s)://host[:port]", s)
	case strings.ContainsAny(s, "?#"):
		return "", fmt.Errorf("%q has a query or a fragment: an origin is http(s)://host[:port] only", s)
	}
	u, err := url.Parse(s)
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err // its message repeats s
	}
	if err != nil {
		return "", fmt.Errorf("%q: %w", s, err)
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", fmt.Errorf("%q: want an http:// or https:// origin", s)
	case u.Opaque != "" || u.Host == "":
		return "", fmt.Errorf("%q has no host: want http(s)://host[:port]", s)
	case u.User != nil:
		return "", fmt.Errorf("%q has a user name: an origin is http(s)://host[:port] only", s)
	case u.Path != "" && u.Path != "/":
		return "", fmt.Errorf("%q has a path: an origin is http(s)://host[:port] only", s)
	}
	host, err := originHost(u.Hostname())
	if err != nil {
		return "", fmt.Errorf("%q: %w", s, err)
	}
	if strings.HasSuffix(u.Host, ":") {
		return "", fmt.Errorf("%q: a colon without a port", s)
	}
	origin := scheme + "://" + host
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%q: port %s: want 1 to 65535", s, p)
		}
		if !(scheme == "https" && n == 443) && !(scheme == "http" && n == 80) {
			origin += ":" + strconv.Itoa(n)
		}
	}
	if u.Path != "" {
		return "", fmt.Errorf("%q ends with a slash, which an Origin header never has: write %s", s, origin)
	}
	return origin, nil
}

// originHost returns a host as browsers serialize it: a name in lower
// case, an IPv6 address in brackets, compressed, in lower-case hex.
func originHost(h string) (string, error) {
	if h == "" {
		return "", errors.New("empty host")
	}
	if strings.Contains(h, ":") {
		a, err := netip.ParseAddr(h)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", fmt.Errorf("host %q: want an IPv6 address without a zone", h)
		}
		return "[" + ipv6Origin(a) + "]", nil
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c >= 0x80 {
			return "", fmt.Errorf("host %q: write it in its ASCII form (xn--...), as browsers send it", h)
		}
		if c != '-' && c != '.' && c != '_' && !('0' <= c && c <= '9') && !('a' <= c|0x20 && c|0x20 <= 'z') {
			return "", fmt.Errorf("host %q: unexpected %q", h, c)
		}
	}
	// A name whose last label is a number is an IPv4 address to a
	// browser, which sends it dotted, in four decimal parts.
	last := strings.TrimSuffix(h, ".")
	last = last[strings.LastIndexByte(last, '.')+1:]
	if isNumber(last) {
		a, err := netip.ParseAddr(h)
		if err != nil || !a.Is4() {
			return "", fmt.Errorf("host %q: want a dotted IPv4 address, such as 192.0.2.1, or a name", h)
		}
		return a.String(), nil
	}
	return strings.ToLower(h), nil
}

// isNumber reports whether a host's last label makes it an IPv4 address
// to the URL standard: decimal digits, or 0x and hex digits.
func isNumber(label string) bool {
	digits := "0123456789"
	if len(label) >= 2 && label[0] == '0' && label[1]|0x20 == 'x' {
		label, digits = label[2:], "0123456789abcdefABCDEF"
		if label == "" {
			return true
		}
	}
	return label != "" && strings.Trim(label, digits) == ""
}

// ipv6Origin writes a as the URL standard does: eight groups of lower-case
// hex without leading zeros, the first longest run of two or more zero
// groups compressed to "::", and never the dotted form netip uses for an
// IPv4-mapped address.
func ipv6Origin(a netip.Addr) string {
	b := a.As16()
	var g [8]uint16
	for i := range g {
		g[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	start, n := -1, 1
	for i := 0; i < 8; {
		j := i
		for j < 8 && g[j] == 0 {
			j++
		}
		if j-i > n {
			start, n = i, j-i
		}
		i = max(j, i+1)
	}
	var sb strings.Builder
	for i := 0; i < 8; i++ {
		if i == start {
			sb.WriteString("::")
			i += n - 1
			continue
		}
		if i > 0 && i != start+n {
			sb.WriteByte(':')
		}
		sb.WriteString(strconv.FormatUint(uint64(g[i]), 16))
	}
	return sb.String()
}

// parseOrigins returns the normalized origins of list, once each.
func parseOrigins(list []string) ([]string, error) {
	var out []string
	for _, s := range list {
		o, err := ParseOrigin(s)
		if err != nil {
			return nil, err
		}
		if !containsOrigin(out, o) {
			out = append(out, o)
		}
	}
	return out, nil
}

// formOrigin reports whether the request's Origin header is one of the
// origins listed in Config.FormOrigins. Browsers send it in lower case;
// it is compared as sent, lower-cased, so that a proxy's spelling changes
// nothing. "null" is never listed.
func (s *Shield) formOrigin(r *http.Request) bool {
	if len(s.formOrigins) == 0 {
		return false
	}
	origin := r.Header.Get("Origin")
	return origin != "" && containsOrigin(s.formOrigins, origin)
}

// containsOrigin reports whether list holds origin, ASCII letters compared
// in any case (list is in lower case).
func containsOrigin(list []string, origin string) bool {
	for _, o := range list {
		if len(o) == len(origin) && equalLower(o, origin) {
			return true
		}
	}
	return false
}

// equalLower reports whether s, lower-cased in ASCII, is lower; both have
// the same length.
func equalLower(lower, s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
