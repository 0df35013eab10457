package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types/ref"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(MatchASN{})
}

// MatchASN matches requests by the network they come from: the
// autonomous system that announces the client address (as Caddy resolved
// it, honouring trusted_proxies), looked up in the rempart app's database.
// It matches when any of its numbers, classes or org pattern does; a
// client missing from the database, or every client when no database is
// configured, never matches.
//
// Caddyfile, with numbers, classes and an organisation pattern mixed:
//
//	@cloud asn 16509 AS14061 class:hosting org:(?i)amazon
//
// In a CEL expression, with the same arguments as strings:
//
//	expression asn('AS16509', 'class:hosting')
type MatchASN struct {
	// Numbers lists autonomous system numbers, such as 16509.
	Numbers []uint32 `json:"numbers,omitempty"`

	// Classes lists classes of networks defined in the rempart app, such
	// as the built-in "hosting". A network matches a class it is in, even
	// when it is reported in another class too.
	Classes []string `json:"classes,omitempty"`

	// Org is a regular expression (RE2 syntax) matched against the
	// organisation name the database gives for the network; (?i) makes it
	// ignore case.
	Org string `json:"org,omitempty"`

	app *App
	org *regexp.Regexp
}

// CaddyModule returns the Caddy module information.
func (MatchASN) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.matchers.asn",
		New: func() caddy.Module { return new(MatchASN) },
	}
}

// UnmarshalCaddyfile sets up the matcher from Caddyfile tokens. Syntax:
//
//	asn <AS number>|class:<name>|org:<regexp>...
//
// AS numbers may be written with or without "AS"; org may be given once.
func (m *MatchASN) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	// Every line of the same matcher in a named set adds to it.
	for d.Next() {
		for d.NextArg() {
			if err := m.add(d.Val()); err != nil {
				return d.Errf("asn matcher: %v", err)
			}
		}
		if d.NextBlock(0) {
			return d.Err("malformed asn matcher: blocks are not supported")
		}
	}
	if m.empty() {
		return d.Err("asn matcher: want at least one AS number, class:<name> or org:<regexp>")
	}
	return nil
}

// add adds one argument, from the Caddyfile or CEL, to the matcher.
func (m *MatchASN) add(arg string) error {
	switch {
	case strings.HasPrefix(arg, "class:"):
		name := strings.TrimPrefix(arg, "class:")
		if err := checkClassName(name); err != nil {
			return err
		}
		m.Classes = append(m.Classes, name)
	case strings.HasPrefix(arg, "org:"):
		if m.Org != "" {
			return errors.New("org given twice: join the patterns with | in one")
		}
		m.Org = strings.TrimPrefix(arg, "org:")
		if m.Org == "" {
			return errors.New("org: want a regular expression")
		}
		if _, err := regexp.Compile(m.Org); err != nil {
			return fmt.Errorf("org: %w", err)
		}
	case strings.Contains(arg, ":"):
		return fmt.Errorf("unknown argument %q: want an AS number, class:<name> or org:<regexp>", arg)
	default:
		n, err := parseASNumber(arg)
		if err != nil {
			return err
		}
		m.Numbers = append(m.Numbers, n)
	}
	return nil
}

func (m *MatchASN) empty() bool {
	return len(m.Numbers) == 0 && len(m.Classes) == 0 && m.Org == ""
}

// CELLibrary produces options that expose this matcher for use in CEL
// expression matchers, as the function asn() taking the Caddyfile
// arguments as strings. Example:
//
//	expression asn('AS16509', 'class:hosting', 'org:(?i)amazon')
func (MatchASN) CELLibrary(ctx caddy.Context) (cel.Library, error) {
	return caddyhttp.CELMatcherImpl(
		"asn",
		"asn_match_request_list",
		[]*cel.Type{cel.ListType(cel.StringType)},
		func(data ref.Val) (caddyhttp.RequestMatcherWithError, error) {
			args, err := data.ConvertToNative(reflect.TypeFor[[]string]())
			if err != nil {
				return nil, err
			}
			m := new(MatchASN)
			for _, arg := range args.([]string) {
				if err := m.add(arg); err != nil {
					return nil, fmt.Errorf("asn(): %w", err)
				}
			}
			// Only an expression that calls asn() loads the rempart app.
			return m, m.Provision(ctx)
		},
	)
}

// Provision checks the matcher against the rempart app's classes.
func (m *MatchASN) Provision(ctx caddy.Context) error {
	if m.empty() {
		return errors.New("asn matcher: want at least one AS number, class or org pattern")
	}
	if slices.Contains(m.Numbers, 0) {
		return fmt.Errorf("asn matcher: %w", errAS0)
	}
	var err error
	if m.app, err = loadApp(ctx); err != nil {
		return err
	}
	for _, class := range m.Classes {
		if !slices.Contains(m.app.classes.names(), class) {
			return fmt.Errorf("asn matcher: unknown class %q; the rempart app defines %q", class, m.app.classes.names())
		}
	}
	if m.Org != "" {
		if m.org, err = regexp.Compile(m.Org); err != nil {
			return fmt.Errorf("asn matcher: org: %w", err)
		}
	}
	// Sorted numbers make the lookup a binary search, however long the list.
	slices.Sort(m.Numbers)
	return nil
}

// Match returns true if r comes from one of m's networks. Caddy calls
// MatchWithError; Match serves callers of the older interface.
func (m *MatchASN) Match(r *http.Request) bool {
	match, err := m.MatchWithError(r)
	if err != nil {
		// Where Caddy's own matchers hand the error to such callers.
		//lint:ignore SA1019 the older interface has no other way to return it
		caddyhttp.SetVar(r.Context(), caddyhttp.MatcherErrorVarKey, err)
	}
	return match
}

// MatchWithError returns true if r comes from one of m's networks.
func (m *MatchASN) MatchWithError(r *http.Request) (bool, error) {
	// As with client_ip: before the TLS handshake completes (0-RTT) the
	// address is not verified and may be spoofed; 425 asks the client to
	// retry after it.
	if r.TLS != nil && !r.TLS.HandshakeComplete {
		return false, caddyhttp.Error(http.StatusTooEarly, errors.New("TLS handshake not complete, client network cannot be verified"))
	}
	id := m.app.identify(r)
	if !id.Known {
		return false, nil
	}
	if _, found := slices.BinarySearch(m.Numbers, id.ASN); found {
		return true, nil
	}
	for _, class := range m.Classes {
		if m.app.classes.contains(class, id.ASN) {
			return true, nil
		}
	}
	return m.org != nil && m.org.MatchString(id.Org), nil
}

// Interface guards
var (
	_ caddyhttp.RequestMatcherWithError = (*MatchASN)(nil)
	_ caddy.Provisioner                 = (*MatchASN)(nil)
	_ caddyfile.Unmarshaler             = (*MatchASN)(nil)
	_ caddyhttp.CELLibraryProducer      = (*MatchASN)(nil)
)
