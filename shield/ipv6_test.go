package shield

import (
	"fmt"
	"testing"

	"github.com/rempart/rempart/policies"
)

// Under the default policy an IPv6 client is counted per ip by its /64,
// and a server routed a /48 has 65,536 of them: the /48 is counted too,
// outside the hosting networks.
func TestDefaultPolicyCountsAnIPv6SlashFortyEight(t *testing.T) {
	h := newHarness(t, setup{protect: []string{"POST /sign"}, policy: string(policies.DefaultSource())})
	const subnets, each, want = 10, 25, 60
	tried, accepted := 0, 0
	for s := range subnets {
		b := h.browser(fmt.Sprintf("2001:db8:77:%x::1", s), 3215, "")
		for range each {
			tried++
			if b.sign("/sign", signBody) {
				accepted++
			}
		}
	}
	t.Logf("signatures from %d /64s of one /48: tried %d / accepted %d / expected %d (per /64 alone: %d)", subnets, tried, accepted, want, subnets*20)
	if accepted != want {
		t.Errorf("accepted %d, want %d", accepted, want)
	}
}
