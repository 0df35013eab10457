package policies

import (
	"fmt"
	"strings"
)

// Explain decides for req and says why, for people: the request, the
// network it comes from, each limit rule that applies and the rule that
// decides, with the conditions that held, and the action. It is what
// `rempart policy explain` and the admin API print:
//
//	request:  POST /sign (host petition.example.org)
//	network:  203.0.113.7, AS16509 "AMAZON-02", class hosting
//	limit:    hosting-signatures (line 21), signatures per asn at 10/h, because class is hosting
//	decided:  rule hosting-harder (line 27), because class is hosting
//	action:   challenge at 20 bits (default 18 +2), the pass buys 1 signature
func (p *Policy) Explain(req *Request) string {
	d := p.Decide(req)
	var b strings.Builder
	host := ""
	if req.Host != "" {
		host = " (host " + req.Host + ")"
	}
	kind := ""
	if req.Signature {
		kind = ", a signature"
	}
	fmt.Fprintf(&b, "request:  %s %s%s%s\n", req.Method, req.Path, host, kind)
	fmt.Fprintf(&b, "network:  %s\n", describeNetwork(req))
	for _, name := range d.Budgets {
		r := p.rule(name)
		fmt.Fprintf(&b, "limit:    %s (line %d), %s per %s at %s%s\n",
			r.Name, r.Line, r.Budget.Counts, r.Budget.Per, r.Budget.Rate, because(r.Conditions))
	}
	if d.Rule == DefaultRuleName {
		fmt.Fprintf(&b, "decided:  by the defaults, as no rule decides this request\n")
	} else {
		fmt.Fprintf(&b, "decided:  rule %s (line %d)%s\n", d.Rule, d.Line, because(d.Why))
	}
	fmt.Fprintf(&b, "action:   %s\n", p.describeAction(d))
	return b.String()
}

// describeNetwork says who the request comes from.
func describeNetwork(req *Request) string {
	parts := []string{"no address"}
	if req.IP.IsValid() {
		parts[0] = req.IP.String()
	}
	if req.ASN == 0 {
		parts = append(parts, "network unknown")
	} else {
		as := fmt.Sprintf("AS%d", req.ASN)
		if req.Org != "" {
			as += fmt.Sprintf(" %q", req.Org)
		}
		parts = append(parts, as)
	}
	if req.Class != "" {
		parts = append(parts, "class "+req.Class)
	}
	return strings.Join(parts, ", ")
}

// because lists conditions that held, or says that there were none.
func because(conditions []string) string {
	if len(conditions) == 0 {
		return ", which matches every request"
	}
	return ", because " + strings.Join(conditions, " and ")
}

// describeAction says what the decision does, with its parameters.
func (p *Policy) describeAction(d Decision) string {
	switch d.Action {
	case ActionAllow:
		return "allow, without any challenge or pass"
	case ActionDeny:
		message := "the standard refusal page"
		if d.Message != "" {
			message = fmt.Sprintf("%q", d.Message)
		}
		return fmt.Sprintf("deny with status %d and %s", d.Status, message)
	}
	origin := "the default"
	switch r := p.rule(d.Rule); {
	case r != nil && r.DifficultyDelta != 0:
		origin = fmt.Sprintf("default %d %+d", p.defaults.Difficulty, r.DifficultyDelta)
	case d.Difficulty != p.defaults.Difficulty:
		origin = fmt.Sprintf("set by the rule; the default is %d", p.defaults.Difficulty)
	}
	signatures := "signatures"
	if d.Credits == 1 {
		signatures = "signature"
	}
	return fmt.Sprintf("challenge at %d bits (%s), the pass buys %d %s", d.Difficulty, origin, d.Credits, signatures)
}
