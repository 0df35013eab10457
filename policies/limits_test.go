package policies

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/memory"

	"github.com/rempart/rempart/budget"
)

const takePolicy = `rules:
  - name: per-ip
    action: limit
    counts: signatures
    per: ip
    rate: 1/hour
  - name: per-asn
    action: limit
    counts: signatures
    per: asn
    rate: 2/hour
  - name: challenges
    action: limit
    counts: challenges
    per: ip
    rate: 1/hour
`

// TestTakeIsAllOrNone: whatever the order of the budgets, a signature
// refused by its address's budget is not counted against its network's.
func TestTakeIsAllOrNone(t *testing.T) {
	p := mustParse(t, takePolicy)
	decided := p.Decide(&Request{}).Budgets
	reversed := make([]string, len(decided))
	for i, name := range decided {
		reversed[len(decided)-1-i] = name
	}
	for _, names := range [][]string{decided, reversed} {
		t.Run(strings.Join(names, ","), func(t *testing.T) {
			bs := newBudgets(t, p.Budgets()...)
			takeFor := func(ip string) Verdict {
				t.Helper()
				v, err := bs.Take(context.Background(), CountSignatures, names, client(ip, 16509, "hosting"), now)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			if v := takeFor("203.0.113.1"); !v.Allowed {
				t.Fatalf("first signature refused: %+v", v)
			}
			for range 3 {
				if v := takeFor("203.0.113.1"); v.Allowed || v.Budget != "per-ip" || v.RetryAfter != time.Hour {
					t.Fatalf("second signature from one address: %+v, want refused by per-ip for an hour", v)
				}
			}
			// The refused tries spent nothing: the network has one of its two.
			if v := takeFor("203.0.113.2"); !v.Allowed {
				t.Fatalf("another address of the network refused: %+v (were refused requests counted against per-asn?)", v)
			}
			if v := takeFor("203.0.113.3"); v.Allowed || v.Budget != "per-asn" {
				t.Fatalf("third address of the network: %+v, want refused by per-asn", v)
			}
			// Challenges are counted apart.
			v, err := bs.Take(context.Background(), CountChallenges, names, client("203.0.113.1", 16509, "hosting"), now)
			if err != nil || !v.Allowed {
				t.Fatalf("first challenge: %+v, %v", v, err)
			}
		})
	}
}

// TestTakeOneAddressDoesNotLockOutItsNetwork: a per-IP budget of 3/hour
// and a per-ASN budget of 10/hour; one address sends 50 signatures.
func TestTakeOneAddressDoesNotLockOutItsNetwork(t *testing.T) {
	b := newBudgets(t,
		Budget{Counts: CountSignatures, Per: budget.KeyASN, Rate: "10/hour"},
		Budget{Counts: CountSignatures, Per: budget.KeyIP, Rate: "3/hour"},
	)
	const tried = 50
	accepted := take(t, b, CountSignatures, client("203.0.113.1", 64500, ""), tried)
	t.Logf("one address: tried %d, accepted %d, expected 3", tried, accepted)
	if accepted != 3 {
		t.Errorf("one address: %d of %d accepted, want 3", accepted, tried)
	}
	states, err := b.Peek(context.Background(), []string{"signatures/asn"}, client("203.0.113.1", 64500, ""))
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 1 || states[0].Remaining != 7 {
		t.Errorf("ASN state after one address's %d tries: %+v, want 7 left", tried, states)
	}
	others := 0
	for i := range 20 {
		others += take(t, b, CountSignatures, client("203.0.113."+itoa(10+i), 64500, ""), 1)
	}
	t.Logf("20 other addresses: tried 20, accepted %d, expected 7", others)
	if others != 7 {
		t.Errorf("the network's other addresses got %d signatures through, want 7", others)
	}
}

// TestTakePrefixFloodKeepsHostingCap: a hosting ASN spends its challenge
// budget, then 400,000 distinct IPv6 /48s ask for challenges, twice what
// the prefix table holds; the hosting ASN's counter must not be forgotten,
// so its cap must hold when it comes back.
func TestTakePrefixFloodKeepsHostingCap(t *testing.T) {
	b := newBudgets(t,
		Budget{Counts: CountChallenges, Per: budget.KeyPrefix, Rate: "120/min"},
		Budget{Counts: CountChallenges, Per: budget.KeyASN, Rate: "10/hour", Class: "hosting"},
	)
	names := allNames(b)
	ctx := context.Background()
	slash48 := func(i int, asn uint32, class string) budget.Client {
		var a [16]byte
		a[0], a[1], a[2], a[3], a[4], a[5], a[15] = 0x20, 0x01, 0x0d, byte(i>>16), byte(i>>8), byte(i), 1
		addr := netip.AddrFrom16(a)
		return budget.Client{IP: addr, Prefix: netip.PrefixFrom(addr, 48).Masked(), ASN: asn, Class: class}
	}
	hosting := func(first, n int) (accepted int) {
		for i := range n {
			// Each request from a fresh /48 of the hosting network.
			v, err := b.Take(ctx, CountChallenges, names, slash48(1<<23+first+i, 16509, "hosting"), now)
			if err != nil {
				t.Fatal(err)
			}
			if v.Allowed {
				accepted++
			} else if v.Budget != "challenges/asn/hosting" {
				t.Fatalf("hosting request refused by %q", v.Budget)
			}
		}
		return accepted
	}
	before := hosting(0, 20)
	const flood = 400_000
	for i := range flood {
		v, err := b.Take(ctx, CountChallenges, names, slash48(i, 64501, ""), now)
		if err != nil {
			t.Fatal(err)
		}
		if !v.Allowed {
			t.Fatalf("flood prefix %d refused: %+v", i, v)
		}
	}
	after := hosting(20, 20)
	t.Logf("hosting ASN around a flood of %d /48s: tried 40, accepted %d before and %d after, expected 10 and 0", flood, before, after)
	if before != 10 || after != 0 {
		t.Errorf("hosting ASN got %d challenges before the flood and %d after, want 10 and 0 (its counter forgotten?)", before, after)
	}
}

// TestTakeIPv6PerIP: per ip, the addresses of one IPv6 /64 share a budget
// (by default), those of different /64s do not.
func TestTakeIPv6PerIP(t *testing.T) {
	perIP := Budget{Counts: CountSignatures, Per: budget.KeyIP, Rate: "3/hour"}
	v6 := func(s string) budget.Client {
		addr := netip.MustParseAddr(s)
		return budget.Client{IP: addr, Prefix: netip.PrefixFrom(addr, 48).Masked(), ASN: 64500}
	}
	// sum takes one signature from each address and returns how many got through.
	sum := func(b *Budgets, addrs ...string) int {
		n := 0
		for _, a := range addrs {
			n += take(t, b, CountSignatures, v6(a), 1)
		}
		return n
	}
	oneSlash64 := []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2:a:b:c:d", "2001:db8:1:2::1%eth0"}
	tests := []struct {
		name  string
		bits  int
		addrs []string
		want  int
	}{
		{"one /64, default bits", 0, oneSlash64, 3},
		{"different /64s, default bits", 0, []string{"2001:db8:1:2::1", "2001:db8:1:3::1", "2001:db8:1:4::1", "2001:db8:2:2::1", "2001:db9:1:2::1"}, 5},
		{"one /64, counted per address", 128, oneSlash64[:4], 4},
		{"one /48, counted per /48", 48, []string{"2001:db8:1:2::1", "2001:db8:1:3::1", "2001:db8:1:ffff::1", "2001:db8:1:4::1"}, 3},
		{"IPv4 counted per address", 48, []string{"192.0.2.1", "192.0.2.2", "::ffff:192.0.2.3", "192.0.2.4"}, 4},
		{"IPv4-mapped shares with IPv4", 0, []string{"192.0.2.1", "::ffff:192.0.2.1", "192.0.2.1", "::ffff:192.0.2.1"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBudgetsWith(t, BudgetOptions{IPv6IPBits: tt.bits}, perIP)
			if got := sum(b, tt.addrs...); got != tt.want {
				t.Errorf("tried %d, accepted %d, expected %d", len(tt.addrs), got, tt.want)
			}
		})
	}

	// Peek reads the counter Take counted.
	b := newBudgets(t, perIP)
	sum(b, "2001:db8:1:2::1", "2001:db8:1:2::2")
	states, err := b.Peek(context.Background(), allNames(b), v6("2001:db8:1:2::99"))
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 1 || states[0].Remaining != 1 {
		t.Errorf("another address of the /64: %+v, want 1 left", states)
	}
	ch := b.budgets[0].charge(v6("2001:db8:1:2::1"), b.ipv6Bits)
	if ch.Key != "ip:signatures/ip:2001:db8:1:2::/64" || ch.Kind != budget.KeyIP {
		t.Errorf("IPv6 per-ip charge %+v", ch)
	}
}

func TestTakeUnknownBudget(t *testing.T) {
	bs := newBudgets(t, mustParse(t, takePolicy).Budgets()...)
	c := client("192.0.2.1", 0, "")
	_, err := bs.Take(context.Background(), CountSignatures, []string{"per-ip", "gone"}, c, now)
	if err == nil || !strings.Contains(err.Error(), `budget "gone" is not in this set`) {
		t.Errorf("Take with an unknown name: %v", err)
	}
	// Nothing was counted.
	states, err := bs.Peek(context.Background(), []string{"per-ip"}, c)
	if err != nil || len(states) != 1 || states[0].Remaining != 1 {
		t.Errorf("after a failed take: %+v, %v; want per-ip untouched", states, err)
	}
}

func TestTakeSkipsBudgetsThatDoNotApply(t *testing.T) {
	src := "rules:\n  - name: per-class\n    action: limit\n    counts: signatures\n    per: class\n    rate: 1/hour\n"
	bs := newBudgets(t, mustParse(t, src).Budgets()...)
	for range 3 {
		// A client outside every class has no class counter to count.
		v, err := bs.Take(context.Background(), CountSignatures, []string{"per-class"}, budget.Client{}, now)
		if err != nil || !v.Allowed {
			t.Fatalf("client without class: %+v, %v", v, err)
		}
	}
}

func TestTakeNameListedTwiceCountsOnce(t *testing.T) {
	bs := newBudgets(t, Budget{Counts: CountSignatures, Per: budget.KeyIP, Rate: "2/hour", Name: "per-ip"})
	names := []string{"per-ip", "per-ip"}
	c := client("192.0.2.1", 0, "")
	for i := range 2 {
		if v, err := bs.Take(context.Background(), CountSignatures, names, c, now); err != nil || !v.Allowed {
			t.Fatalf("signature %d: %+v, %v", i+1, v, err)
		}
	}
	if v, _ := bs.Take(context.Background(), CountSignatures, names, c, now); v.Allowed {
		t.Fatal("third signature allowed by a 2/hour budget")
	}
}

// TestTakeConcurrent takes from many goroutines over the addresses of one
// network: under -race, no budget lets more through than its limit.
func TestTakeConcurrent(t *testing.T) {
	b := newBudgets(t,
		Budget{Counts: CountSignatures, Per: budget.KeyASN, Rate: "10/hour"},
		Budget{Counts: CountSignatures, Per: budget.KeyIP, Rate: "3/hour"},
	)
	names := allNames(b)
	const workers, perWorker, addresses = 16, 50, 8
	var accepted atomic.Int64
	var perAddress [addresses]atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			c := client("203.0.113."+itoa(w%addresses), 64500, "")
			for range perWorker {
				v, err := b.Take(context.Background(), CountSignatures, names, c, now)
				if err != nil {
					t.Error(err)
					return
				}
				if v.Allowed {
					accepted.Add(1)
					perAddress[w%addresses].Add(1)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("tried %d, accepted %d, expected 10", workers*perWorker, accepted.Load())
	if got := accepted.Load(); got != 10 {
		t.Errorf("accepted %d, want the network's 10", got)
	}
	for a := range perAddress {
		if n := perAddress[a].Load(); n > 3 {
			t.Errorf("address %d got %d through a 3/hour budget", a, n)
		}
	}
}

// TestTakeOverLimiterStore counts through a limiter store, as with Redis.
func TestTakeOverLimiterStore(t *testing.T) {
	store := budget.FromLimiter(memory.NewStoreWithOptions(limiter.StoreOptions{Prefix: "test"}))
	b, err := NewBudgets([]Budget{
		{Counts: CountSignatures, Per: budget.KeyASN, Rate: "10/hour"},
		{Counts: CountSignatures, Per: budget.KeyIP, Rate: "3/hour"},
	}, store, BudgetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := take(t, b, CountSignatures, client("203.0.113.1", 64500, ""), 50); got != 3 {
		t.Errorf("one address: %d of 50 accepted, want 3", got)
	}
	others := 0
	for i := range 20 {
		others += take(t, b, CountSignatures, client("203.0.113."+itoa(10+i), 64500, ""), 1)
	}
	if others != 7 {
		t.Errorf("other addresses: %d accepted, want 7", others)
	}
}

// failingStore fails every call, as a Redis that is down.
type failingStore struct{ exhausted int }

func (f failingStore) TakeAll(context.Context, []budget.Charge, time.Time) (budget.TakeResult, error) {
	if f.exhausted != 0 {
		return budget.TakeResult{Exhausted: f.exhausted}, nil
	}
	return budget.TakeResult{}, errors.New("connection refused")
}

func (failingStore) Peek(context.Context, string, budget.KeyKind, limiter.Rate) (limiter.Context, error) {
	return limiter.Context{}, errors.New("connection refused")
}

func TestTakeStoreErrors(t *testing.T) {
	bs := []Budget{{Counts: CountSignatures, Per: budget.KeyIP, Rate: "3/hour", Name: "per-ip"}}
	c := client("192.0.2.1", 0, "")
	for _, store := range []failingStore{{}, {exhausted: 5}} {
		b, err := NewBudgets(bs, store, BudgetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if v, err := b.Take(context.Background(), CountSignatures, []string{"per-ip"}, c, now); err == nil {
			t.Errorf("store %+v: Take = %+v, want an error", store, v)
		}
	}
	b, _ := NewBudgets(bs, failingStore{}, BudgetOptions{})
	if _, err := b.Peek(context.Background(), []string{"per-ip"}, c); err == nil || !strings.Contains(err.Error(), "reading budget per-ip") {
		t.Errorf("Peek over a failing store: %v", err)
	}
	// Nothing to count asks nothing of the store.
	if v, err := b.Take(context.Background(), CountChallenges, []string{"per-ip"}, c, now); err != nil || !v.Allowed {
		t.Errorf("Take with no budget counting challenges: %+v, %v", v, err)
	}
}
