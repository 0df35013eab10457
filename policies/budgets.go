package policies

import (
	"fmt"
	"time"

	"github.com/ulule/limiter/v3"

	"github.com/rempart/rempart/budget"
)

// Counter is what a budget counts.
type Counter string

// The things a budget can count.
const (
	// CountSignatures counts requests forwarded to protected endpoints.
	CountSignatures Counter = "signatures"
	// CountChallenges counts challenge pages issued.
	CountChallenges Counter = "challenges"
)

// Budget bounds how often a group of clients may do something, such as
// "every hosting ASN at most 10 signatures per hour".
type Budget struct {
	// Name identifies the budget in logs and keys its counters; it defaults
	// to a name made of the other fields, such as "signatures/asn/hosting".
	Name string `json:"name,omitempty"`
	// Counts is what the budget counts: "signatures" or "challenges".
	Counts Counter `json:"counts"`
	// Per is what each counter is kept for: "ip", "prefix", "asn" or
	// "class". A client whose ASN is unknown (no database, or an address it
	// does not cover) is counted by its network prefix instead.
	Per budget.KeyKind `json:"per"`
	// Rate is how many per period, such as "10/hour" or "300/min".
	Rate string `json:"rate"`
	// Class, when set, applies the budget only to clients in this network
	// class (such as "hosting").
	Class string `json:"class,omitempty"`

	rate limiter.Rate
}

// compile checks b and fills in what is derived from it.
func (b *Budget) compile() error {
	if b.Counts != CountSignatures && b.Counts != CountChallenges {
		return fmt.Errorf("budget counts %q: want signatures or challenges", b.Counts)
	}
	if _, err := b.Per.MarshalText(); err != nil {
		return fmt.Errorf("budget per: want ip, prefix, asn or class")
	}
	rate, err := budget.ParseRate(b.Rate)
	if err != nil {
		return fmt.Errorf("budget: %w", err)
	}
	b.rate = rate
	if b.Name == "" {
		b.Name = string(b.Counts) + "/" + b.Per.String()
		if b.Class != "" {
			b.Name += "/" + b.Class
		}
	}
	return nil
}

// appliesTo reports whether the budget counts client c.
func (b *Budget) appliesTo(c budget.Client) bool {
	if b.Class != "" && c.Class != b.Class {
		return false
	}
	return b.Per != budget.KeyClass || c.Class != ""
}

// charge returns the counter that counts c, with an IPv6 address counted
// per ip by its first ipv6Bits bits. A client whose ASN is unknown is
// counted per asn by its network prefix, in the prefix table.
func (b *Budget) charge(c budget.Client, ipv6Bits int) budget.Charge {
	per := b.Per
	if per == budget.KeyASN && c.ASN == 0 {
		per = budget.KeyPrefix
	}
	var key string
	if per == budget.KeyIP {
		key = budget.IPKey(b.Name, c, ipv6Bits)
	} else {
		key = per.Key(b.Name, c)
	}
	return budget.Charge{Key: key, Kind: per, Rate: b.rate}
}

// BudgetOptions tunes how a Budgets counts.
type BudgetOptions struct {
	// IPv6IPBits is how much of an IPv6 client's address a budget per ip
	// counts by: with the default 64, every address of a /64 shares one
	// counter, since whoever has one address of a /64 usually has all
	// 2^64 of them. 48 to 128; 128 counts each address apart. IPv4
	// clients are always counted by their whole address.
	IPv6IPBits int `json:"ipv6_ip_bits,omitempty"`
}

// DefaultIPv6IPBits is BudgetOptions.IPv6IPBits when left at zero.
const DefaultIPv6IPBits = 64

// Budgets checks clients against a set of budgets whose counters live in a
// budget.Store (budget.Tables in memory, or Redis shared by several
// instances through budget.FromLimiter).
type Budgets struct {
	budgets  []Budget
	store    budget.Store
	ipv6Bits int
}

// NewBudgets compiles bs over store. The store may be nil only when bs is
// empty.
func NewBudgets(bs []Budget, store budget.Store, opts BudgetOptions) (*Budgets, error) {
	if opts.IPv6IPBits == 0 {
		opts.IPv6IPBits = DefaultIPv6IPBits
	}
	if opts.IPv6IPBits < 48 || opts.IPv6IPBits > 128 {
		return nil, fmt.Errorf("budgets: IPv6 bits counted per ip must be between 48 and 128, got %d", opts.IPv6IPBits)
	}
	if store == nil && len(bs) > 0 {
		return nil, fmt.Errorf("budgets: no store to keep their counters")
	}
	out := &Budgets{store: store, budgets: make([]Budget, len(bs)), ipv6Bits: opts.IPv6IPBits}
	names := make(map[string]bool)
	for i, b := range bs {
		if err := b.compile(); err != nil {
			return nil, fmt.Errorf("budget %d: %w", i+1, err)
		}
		if names[b.Name] {
			return nil, fmt.Errorf("budget %d: name %q used twice", i+1, b.Name)
		}
		names[b.Name] = true
		out.budgets[i] = b
	}
	return out, nil
}

// Verdict is the outcome of counting one event against the budgets.
type Verdict struct {
	// Allowed is false when a budget is exhausted.
	Allowed bool
	// Budget names the exhausted budget.
	Budget string
	// RetryAfter is when the exhausted budget's window resets, at least a
	// second.
	RetryAfter time.Duration
}

// Len returns the number of budgets.
func (bs *Budgets) Len() int { return len(bs.budgets) }
