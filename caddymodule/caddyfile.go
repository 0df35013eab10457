package caddymodule

import (
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/rempart/rempart/policies"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("rempart", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("rempart", httpcaddyfile.Before, "reverse_proxy")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var handler Handler
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return &handler, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	rempart {
//	    secret        <secret>
//	    difficulty    <bits>
//	    protect       <METHOD> <path>
//	    credits       <n>
//	    pass_ttl      <duration>
//	    challenge_ttl <duration>
//	    noscript_wait <duration>
//	    ipv4_prefix   <bits>
//	    ipv6_prefix   <bits>
//	    max_body      <size>
//	}
//
// protect may be repeated; every option may be omitted.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		option := d.Val()
		switch option {
		case "secret":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.Secret = d.Val()
		case "difficulty":
			if err := intArg(d, &h.Difficulty); err != nil {
				return err
			}
		case "credits":
			if err := intArg(d, &h.Credits); err != nil {
				return err
			}
		case "ipv4_prefix":
			if err := intArg(d, &h.IPv4Prefix); err != nil {
				return err
			}
		case "ipv6_prefix":
			if err := intArg(d, &h.IPv6Prefix); err != nil {
				return err
			}
		case "pass_ttl":
			if err := durationArg(d, &h.PassTTL); err != nil {
				return err
			}
		case "challenge_ttl":
			if err := durationArg(d, &h.ChallengeTTL); err != nil {
				return err
			}
		case "noscript_wait":
			if err := durationArg(d, &h.NoScriptWait); err != nil {
				return err
			}
		case "max_body":
			if !d.NextArg() {
				return d.ArgErr()
			}
			size, err := humanize.ParseBytes(d.Val())
			if err != nil || size == 0 || size > DefaultStashBytes {
				return d.Errf("max_body %q: want a size such as 64KiB, at most %d bytes", d.Val(), DefaultStashBytes)
			}
			h.MaxBody = int(size)
			if d.NextArg() {
				return d.ArgErr()
			}
		case "protect":
			var e policies.Endpoint
			if !d.Args(&e.Method, &e.Path) {
				return d.Errf("protect: want a method and a path, such as: protect POST /sign")
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			e.Method = strings.ToUpper(e.Method)
			if err := e.Validate(); err != nil {
				return d.Errf("protect: %v", err)
			}
			h.Protect = append(h.Protect, e)
		default:
			return d.Errf("unknown rempart option %q", option)
		}
	}
	return nil
}

func intArg(d *caddyfile.Dispenser, dst *int) error {
	option := d.Val()
	if !d.NextArg() {
		return d.ArgErr()
	}
	n, err := strconv.Atoi(d.Val())
	if err != nil || n <= 0 {
		return d.Errf("%s %q: want a positive whole number", option, d.Val())
	}
	*dst = n
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	option := d.Val()
	if !d.NextArg() {
		return d.ArgErr()
	}
	dur, err := caddy.ParseDuration(d.Val())
	if err != nil || dur <= 0 {
		return d.Errf("%s %q: want a positive duration such as 1h or 5m", option, d.Val())
	}
	*dst = caddy.Duration(dur)
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Handler)(nil)
