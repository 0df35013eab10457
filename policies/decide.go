package policies

import (
	"net/http"
	"net/netip"
	"path"
	"strings"
)

// Request is what a policy sees of an HTTP request and of the network it
// comes from.
type Request struct {
	// Method is the request method, such as GET or POST. For a held
	// submission being released, it is the method of the held request.
	Method string
	// Path is the request path (URL.Path, decoded). Rules match it cleaned,
	// as path.Clean does but keeping a trailing slash, so that
	// /robots.txt/../sign is matched as /sign.
	Path string
	// Host is the request's Host, with or without a port; rules ignore the
	// port and letter case.
	Host string
	// IP is the client address as the server resolved it (trusted proxies
	// honoured).
	IP netip.Addr
	// ASN is the autonomous system that announces IP, or 0 when unknown.
	ASN uint32
	// Org is the organisation the ASN database names for ASN.
	Org string
	// Class is the network class of ASN, such as "hosting", or "".
	Class string
	// UserAgent is the User-Agent header.
	UserAgent string
	// Header holds the request headers, with canonical names as net/http
	// gives them.
	Header http.Header
	// Signature says that the request is to a signature endpoint (see
	// Chain.IsSignature). When it is set, the caller guarantees that
	// Method and Path are in canonical form, as Canonicalize returns them,
	// and every rule's method, path and path_regex conditions are matched
	// against that form: the rule's paths lower-cased and cleaned as the
	// request's path was, so that a rule written for /sign decides
	// POST /SIGN/, //sign or /%73ign exactly as POST /sign.
	Signature bool
}

// Signatures knows the signature endpoints: a Policy or a Chain.
type Signatures interface {
	Signature(Canonical) (Canonical, bool)
}

// MarkSignature decides req as the shield does: when its canonical method
// and path are a signature endpoint of sigs, it puts the form the rules see
// (see Policy.Signature) in req and sets Signature. It reports whether req
// is a signature.
func (req *Request) MarkSignature(sigs Signatures) bool {
	c, err := Canonicalize(req.Method, req.Path)
	if err != nil {
		return false
	}
	form, ok := sigs.Signature(c)
	if !ok {
		return false
	}
	req.Method, req.Path, req.Signature = form.Method, form.Path, true
	return true
}

// Decision is what a policy decided for a request, and why.
type Decision struct {
	// Action is what to do: allow, deny or challenge; never limit, as a
	// limit rule lets the next rules decide.
	Action Action `json:"action"`
	// Rule names the rule that chose Action, or is DefaultRuleName when no
	// rule did and the policy's defaults apply.
	Rule string `json:"rule"`
	// Line is where Rule starts in the policy file; for the defaults it is
	// the line of the defaults block, or 0 when the file has none.
	Line int `json:"line,omitempty"`
	// Why lists the conditions of Rule, all of which held, such as
	// "class is hosting"; it is empty for the defaults and for a rule
	// without conditions. It is shared with the policy: do not modify it.
	Why []string `json:"why,omitempty"`
	// Status is the HTTP status of a deny.
	Status int `json:"status,omitempty"`
	// Message is the text of a deny; when empty, show the standard
	// refusal page.
	Message string `json:"message,omitempty"`
	// Difficulty is the difficulty, in bits, of a challenge issued to a
	// client without a pass, before any flood pressure is added.
	Difficulty int `json:"difficulty,omitempty"`
	// Credits is how many requests to protected endpoints the pass of a
	// challenge buys.
	Credits int `json:"credits,omitempty"`
	// Budgets names, in policy order, the budgets of the limit rules that
	// matched before Rule (each named after its rule). The caller counts
	// them with Budgets.Take: the "challenges" ones when it issues a
	// challenge, the "signatures" ones when it forwards a request to a
	// protected endpoint; when one is exhausted it answers 429 instead of
	// Action. The slice is shared with the policy: do not modify it.
	Budgets []string `json:"budgets,omitempty"`
	// Signature is the request's Signature: the decision is for a request
	// to a signature endpoint, matched in canonical form.
	Signature bool `json:"signature,omitempty"`
}

// evaluation is the state of one Decide: the request, its path and host
// as rules match them, and what CEL sees of it, built on first use.
type evaluation struct {
	req  *Request
	path string
	host string
	cel  *celRequest
	// canonical is set for a signature request, whose method and path are
	// canonical and are matched against the rules' canonical patterns.
	canonical bool
}

// Decide runs the request through the policy's rules, in order: the first
// rule that matches decides, except that a limit rule adds its budget to
// the decision and lets the following rules decide. When no rule decides,
// the defaults apply: a challenge of the default difficulty and credits.
//
// A request that is not a signature (req.Signature unset) is matched as
// it is, its path cleaned; a signature request is matched in canonical
// form (see Request.Signature).
//
// Decide allocates nothing unless a CEL condition is evaluated, the path
// is not clean, or the limit rules that match are not the policy's first
// ones.
func (p *Policy) Decide(req *Request) Decision {
	ev := evaluation{req: req, path: req.Path, host: stripPort(strings.TrimSuffix(req.Host, ".")), canonical: req.Signature}
	if !req.Signature {
		ev.path = cleanPath(req.Path)
	}
	var budgets []string
	for i := range p.rules {
		r := &p.rules[i]
		if !r.match.matches(&ev) {
			continue
		}
		if r.Action == ActionLimit {
			budgets = p.appendBudget(budgets, r)
			continue
		}
		return Decision{
			Action: r.Action, Rule: r.Name, Line: r.Line, Why: r.Conditions,
			Status: r.Status, Message: r.Message,
			Difficulty: r.Difficulty, Credits: r.Credits,
			Budgets: budgets, Signature: req.Signature,
		}
	}
	return Decision{
		Action: ActionChallenge, Rule: DefaultRuleName, Line: p.defaultsLine,
		Difficulty: p.defaults.Difficulty, Credits: p.defaults.Credits,
		Budgets: budgets, Signature: req.Signature,
	}
}

// appendBudget adds the budget of the limit rule r to budgets. As long as
// every limit rule so far has matched (global limits at the top of a
// policy match every request), budgets is the policy's list of limit names
// cut to its length, and the decision shares it instead of allocating its
// own. The shared list's capacity is cut too, so that appending copies it.
func (p *Policy) appendBudget(budgets []string, r *Rule) []string {
	if len(budgets) == r.limitIndex {
		return p.limitNames[: r.limitIndex+1 : r.limitIndex+1]
	}
	return append(budgets, r.Name)
}

// stripPort returns host without a trailing :port, keeping the brackets
// of an IPv6 literal ([2001:db8::1]).
func stripPort(host string) string {
	i := strings.LastIndexByte(host, ':')
	if i < 0 || strings.LastIndexByte(host, ']') > i {
		return host
	}
	if strings.HasPrefix(host, "[") || strings.IndexByte(host, ':') == i {
		return strings.TrimSuffix(host[:i], ".")
	}
	return host // a bare IPv6 address has colons but no port
}

// cleanPath returns p as path.Clean would, keeping a trailing slash, and
// without allocating when p is clean already. A path that does not start
// with / (such as * in OPTIONS *) is returned as it is.
func cleanPath(p string) string {
	if p == "" || p[0] != '/' || isCleanPath(p) {
		return p
	}
	cleaned := path.Clean(p)
	if strings.HasSuffix(p, "/") && cleaned != "/" {
		cleaned += "/"
	}
	return cleaned
}

// isCleanPath reports whether the absolute path p has no empty, "." or ".."
// segment, except for a trailing slash.
func isCleanPath(p string) bool {
	for i := 0; i < len(p); {
		// p[i] is the slash that starts a segment.
		j := strings.IndexByte(p[i+1:], '/')
		end := len(p)
		if j >= 0 {
			end = i + 1 + j
		}
		segment := p[i+1 : end]
		last := end == len(p)
		if (segment == "" && !last) || segment == "." || segment == ".." {
			return false
		}
		i = end
	}
	return true
}
