package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/policies"
	"github.com/rempart/rempart/shield"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("rempart", parseCaddyfile)
	// Before every directive that answers or routes (invoke, handle,
	// handle_path, route, respond, reverse_proxy, file_server...): those
	// end the chain, so a shield ordered after one of them would never see
	// the requests it routes. After rewrite, uri and method, so the shield
	// sees the request the petition will.
	httpcaddyfile.RegisterDirectiveOrder("rempart", httpcaddyfile.Before, "invoke")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var handler Handler
	if err := handler.unmarshalCaddyfile(h.Dispenser, caddyfileClasses(h)); err != nil {
		return nil, err
	}
	// Each rempart directive gets state of its own: by default the n-th in
	// the Caddyfile's site blocks is "site-n", the n-th in its named routes
	// "route-n". Named routes are adapted with a State of their own, whose
	// count starts again: under the same names they would share the
	// budgets and records of the first site blocks.
	prefix := "site-"
	if h.IsNamedRoute() {
		prefix = "route-"
	}
	n, _ := h.State[siteCounterKey].(int)
	n++
	h.State[siteCounterKey] = n
	if handler.Site == "" {
		handler.Site = prefix + strconv.Itoa(n)
	}
	return &handler, nil
}

const siteCounterKey = "rempart.sites"

// caddyfileClasses returns the names of the network classes a Caddyfile
// defines: those of the global rempart option and the built-in hosting
// class, unless the option leaves it out. A limit's class is checked
// against them where the limit is written.
func caddyfileClasses(h httpcaddyfile.Helper) []string {
	names := []string{HostingClass}
	opt, ok := h.Option("rempart").(httpcaddyfile.App)
	if !ok {
		return names
	}
	var app App
	if err := json.Unmarshal(opt.Value, &app); err != nil {
		return nil // unknown: the classes are checked at provisioning
	}
	if app.NoBuiltinHosting {
		names = names[:0]
	}
	for name := range app.Classes {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	rempart {
//	    secret        <secret>
//	    difficulty    <bits>
//	    protect       <METHOD> <path>
//	    form_origins  <origin> [<origin>...]
//	    credits       <n>
//	    pass_ttl      <duration>
//	    challenge_ttl <duration>
//	    noscript_wait <duration>
//	    max_solve     <duration>|off
//	    ipv4_prefix   <bits>
//	    ipv6_prefix   <bits>
//	    max_body      <size>
//	    body_timeout  <duration>
//	    policy        <file>
//	    policy_reload <duration>
//	    mode          enforce|observe
//	    site          <name>
//	    spent_size    <n>
//	    ipv6_ip_prefix <bits>
//	    journal       off
//	    limit         signatures|challenges per ip|prefix|asn|class <rate> [class <name>] [name <name>]
//	    flood         off
//	    flood {
//	        threshold      <rate>
//	        max_extra_bits <bits>
//	        half_life      <duration>
//	    }
//	}
//
// protect, form_origins and limit may be repeated (form_origins
// accumulates); every option may be omitted.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return h.unmarshalCaddyfile(d, nil)
}

// unmarshalCaddyfile reads the tokens, checking the class of each limit
// against classes unless it is nil.
func (h *Handler) unmarshalCaddyfile(d *caddyfile.Dispenser, classes []string) error {
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
		case "ipv6_ip_prefix":
			if err := intArg(d, &h.IPv6IPPrefix); err != nil {
				return err
			}
		case "spent_size":
			if err := intArg(d, &h.SpentSize); err != nil {
				return err
			}
		case "site":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.Site = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "pass_ttl":
			if err := durationArg(d, &h.PassTTL); err != nil {
				return err
			}
		case "challenge_ttl":
			if err := durationArg(d, &h.ChallengeTTL); err != nil {
				return err
			}
		case "body_timeout":
			if err := durationArg(d, &h.BodyTimeout); err != nil {
				return err
			}
		case "noscript_wait":
			if err := durationArg(d, &h.NoScriptWait); err != nil {
				return err
			}
		case "max_solve":
			if d.NextArg() {
				if d.Val() == "off" {
					h.MaxSolve = -1
					if d.NextArg() {
						return d.ArgErr()
					}
					break
				}
				d.Prev() // back on max_solve, for durationArg
			}
			if err := durationArg(d, &h.MaxSolve); err != nil {
				return err
			}
		case "max_body":
			if !d.NextArg() {
				return d.ArgErr()
			}
			size, err := humanize.ParseBytes(d.Val())
			if err != nil || size == 0 || size > DefaultStashBytes {
				return d.Errf("max_body %q: want a size such as 64KiB, from 1 to %d bytes (32MiB)", d.Val(), DefaultStashBytes)
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
		case "form_origins":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("form_origins: want one or more origins, such as: form_origins https://www.example.org")
			}
			for _, a := range args {
				o, err := shield.ParseOrigin(a)
				if err != nil {
					return d.Errf("form_origins: %v", err)
				}
				h.FormOrigins = append(h.FormOrigins, o)
			}
		case "policy":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.Policy = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "policy_reload":
			if err := durationArg(d, &h.PolicyReload); err != nil {
				return err
			}
		case "mode":
			if !d.NextArg() {
				return d.ArgErr()
			}
			if d.Val() != modeEnforce && d.Val() != modeObserve {
				return d.Errf("mode %q: want enforce or observe", d.Val())
			}
			h.Mode = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "journal":
			if !d.NextArg() || d.Val() != "off" || d.NextArg() {
				return d.Err("journal: want journal off (the journal is on by default)")
			}
			h.NoJournal = true
		case "limit":
			b, err := parseLimit(d)
			if err != nil {
				return err
			}
			// Checked here, with the limits before it, as the policy
			// engine will compile them: a class that is not defined or a
			// name used twice is reported at this line.
			limits := append(h.Limits[:len(h.Limits):len(h.Limits)], b)
			if _, err := policies.LimitsPolicy(limits, "limit", policies.ParseOptions{Classes: classes}); err != nil {
				return d.Errf("%s", limitProblem(err))
			}
			h.Limits = limits
		case "flood":
			if err := h.parseFlood(d); err != nil {
				return err
			}
		default:
			return d.Errf("unknown rempart option %q", option)
		}
	}
	return nil
}

// intRange is the one range a whole-number option may take: the Caddyfile
// parser (at the option's line), Validate (for JSON) and the README's
// table of options all use it, and the policy compiler's difficulty and
// credits bounds are the same numbers.
type intRange struct {
	min, max int
	unit     string // what the number counts, for messages
}

// intRanges are the ranges of the handler's whole-number options.
var intRanges = map[string]intRange{
	"difficulty":     {challenge.MinDifficulty, challenge.MaxDifficulty, "leading zero bits"},
	"credits":        {1, challenge.MaxCredits, "signatures per solved challenge"},
	"ipv4_prefix":    {8, 32, "bits"},
	"ipv6_prefix":    {16, 128, "bits"},
	"ipv6_ip_prefix": {48, 128, "bits"},
	"spent_size":     {1024, 1 << 26, "ids"},
	"max_extra_bits": {1, 24, "bits"},
	"max_body":       {1, DefaultStashBytes, "bytes"},
}

// check reports a value of option outside the range.
func (r intRange) check(option string, n int) error {
	if n < r.min || n > r.max {
		return fmt.Errorf("%s %d: want %d to %d %s", option, n, r.min, r.max, r.unit)
	}
	return nil
}

// durationRange is the one range a duration option may take; a zero max
// means no upper bound.
type durationRange struct {
	min, max time.Duration
}

// durationRanges are the ranges of the handler's duration options.
var durationRanges = map[string]durationRange{
	"pass_ttl":      {time.Minute, 0},
	"challenge_ttl": {10 * time.Second, 0},
	"noscript_wait": {time.Second, challenge.MaxWait},
	"max_solve":     {100 * time.Millisecond, time.Hour},
	"policy_reload": {100 * time.Millisecond, 0},
	"body_timeout":  {time.Second, 10 * time.Minute},
}

// check reports a value of option outside the range.
func (r durationRange) check(option string, d time.Duration) error {
	switch {
	case r.max > 0 && (d < r.min || d > r.max):
		return fmt.Errorf("%s %s: want %s to %s", option, shortDuration(d), shortDuration(r.min), shortDuration(r.max))
	case d < r.min:
		return fmt.Errorf("%s %s: want at least %s", option, shortDuration(d), shortDuration(r.min))
	}
	return nil
}

// shortDuration writes d as people do: 1m, 255s or 100ms, not 1m0s or
// 4m15s.
func shortDuration(d time.Duration) string {
	switch {
	case d > 0 && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d > 0 && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d > 0 && d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
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
	if r, ok := intRanges[option]; ok {
		if err := r.check(option, n); err != nil {
			return d.Err(err.Error())
		}
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
	if r, ok := durationRanges[option]; ok {
		if err := r.check(option, dur); err != nil {
			return d.Err(err.Error())
		}
	}
	*dst = caddy.Duration(dur)
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Handler)(nil)

// parseLimit reads: limit <counts> per <kind> <rate> [class <name>] [name <name>]
func parseLimit(d *caddyfile.Dispenser) (policies.Budget, error) {
	var b policies.Budget
	var counts, per, kind string
	if !d.Args(&counts, &per, &kind, &b.Rate) || per != "per" {
		return b, d.Errf("limit: want: limit signatures|challenges per ip|prefix|asn|class <rate>, such as: limit signatures per asn 300/min")
	}
	b.Counts = policies.Counter(counts)
	if b.Counts != policies.CountSignatures && b.Counts != policies.CountChallenges {
		return b, d.Errf("limit %q: want signatures or challenges", counts)
	}
	k, err := budget.ParseKeyKind(kind)
	if err != nil {
		return b, d.Errf("limit: %v", err)
	}
	b.Per = k
	if _, err := budget.ParseRate(b.Rate); err != nil {
		return b, d.Errf("limit: %v", err)
	}
	for d.NextArg() {
		switch d.Val() {
		case "class":
			if !d.NextArg() {
				return b, d.Errf("limit: class needs a name, such as: class hosting")
			}
			b.Class = d.Val()
		case "name":
			if !d.NextArg() {
				return b, d.Errf("limit: name needs a value")
			}
			b.Name = d.Val()
		default:
			return b, d.Errf("limit: unexpected %q: want class <name> or name <name>", d.Val())
		}
	}
	return b, nil
}

// limitProblem says what is wrong with the last limit of a
// LimitsPolicy's error: its problems, without the limit's number, which
// means nothing in a Caddyfile.
func limitProblem(err error) string {
	var ve *policies.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	msgs := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		msg := p.Message
		if _, rest, ok := strings.Cut(msg, "): "); ok && strings.HasPrefix(msg, "limit ") {
			msg = rest
		}
		msgs[i] = "limit: " + msg
	}
	return strings.Join(msgs, "; ")
}

// parseFlood reads "flood off" or a flood block.
func (h *Handler) parseFlood(d *caddyfile.Dispenser) error {
	f := new(Flood)
	if d.NextArg() {
		if d.Val() != "off" || d.NextArg() {
			return d.Errf("flood: want off, or a block with threshold, max_extra_bits and half_life")
		}
		f.Off = true
		h.Flood = f
		return nil
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "threshold":
			if !d.NextArg() {
				return d.ArgErr()
			}
			if _, err := budget.ParseRate(d.Val()); err != nil {
				return d.Errf("flood threshold: %v", err)
			}
			f.Threshold = d.Val()
		case "max_extra_bits":
			if err := intArg(d, &f.MaxExtraBits); err != nil {
				return err
			}
		case "half_life":
			if err := durationArg(d, &f.HalfLife); err != nil {
				return err
			}
		default:
			return d.Errf("unknown flood option %q", d.Val())
		}
	}
	h.Flood = f
	return nil
}
