package caddymodule_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rempart/rempart/asn/asntest"
	"github.com/rempart/rempart/internal/shieldtest"
)

// The incident, scaled to a test: 218 servers in 3 hosting networks, and
// 500 people in 20 residential networks, all solving valid proofs. The
// addresses reach the shield through a trusted proxy (127.0.0.1) in
// X-Forwarded-For, as behind a load balancer.

var hostingNetworks = []asntest.Network{
	{Prefix: netip.MustParsePrefix("52.94.0.0/16"), ASN: 16509, Org: "Amazon.com, Inc."},
	{Prefix: netip.MustParsePrefix("167.99.0.0/16"), ASN: 14061, Org: "DigitalOcean, LLC"},
	{Prefix: netip.MustParsePrefix("88.198.0.0/16"), ASN: 24940, Org: "Hetzner Online GmbH"},
}

func residentialNetworks() []asntest.Network {
	var nets []asntest.Network
	for i := range 20 {
		nets = append(nets, asntest.Network{
			Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{90, byte(i), 0, 0}), 16),
			ASN:    uint32(64600 + i),
			Org:    fmt.Sprintf("Residential ISP %d", i),
		})
	}
	return nets
}

// addressIn returns the n-th client address in network p: one per /24, so
// that no two clients share a pass binding.
func addressIn(p netip.Prefix, n int) string {
	a := p.Addr().As4()
	return netip.AddrFrom4([4]byte{a[0], a[1], byte(n), byte(n%250 + 1)}).String()
}

var bitsAttr = regexp.MustCompile(`data-bits="([0-9]+)"`)

// signer plays one client: challenge, proof, signature. It returns whether
// the signature was forwarded, and the difficulty it was asked for.
func signer(t *testing.T, ip string) (forwarded bool, difficulty int) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(method, target, contentType string, body io.Reader) (int, string) {
		req, _ := http.NewRequest(method, shieldURL+target, body)
		req.Header.Set("X-Forwarded-For", ip)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, page := get(http.MethodGet, "/", "", nil)
	if status != http.StatusForbidden {
		return false, 0
	}
	if m := bitsAttr.FindStringSubmatch(page); m != nil {
		difficulty, _ = strconv.Atoi(m[1])
	}
	proof, err := shieldtest.SolvePage([]byte(page))
	if err != nil {
		t.Error(err)
		return false, 0
	}
	if status, _ := get(http.MethodPost, proof.Action, "application/x-www-form-urlencoded", strings.NewReader(proof.Form.Encode())); status != http.StatusSeeOther {
		t.Errorf("%s: proof refused with %d", ip, status)
		return false, difficulty
	}
	status, _ = get(http.MethodPost, "/sign", "application/x-www-form-urlencoded", strings.NewReader("name=n&email=e%40example.org"))
	return status == http.StatusOK, difficulty
}

func TestAttackFromHostingNetworksIsBounded(t *testing.T) {
	db := filepath.Join(t.TempDir(), "asn.mmdb")
	residential := residentialNetworks()
	asntest.WriteMMDB(t, db, append(append([]asntest.Network{}, hostingNetworks...), residential...))

	var forwarded atomic.Int64
	backend := countingPetition(t, &forwarded)
	initTestCaddy(t, testCaddyfile(t.TempDir(), trustForwardedFor+`
		rempart {
			asn_db `+db+`
		}`, fmt.Sprintf(`
	http://localhost:9180 {
		rempart {
			secret attack-test-secret-0123456789
			difficulty 4
			protect POST /sign
			limit signatures per asn 10/hour class hosting
			limit signatures per asn 300/min
			limit signatures per ip 3/hour
			flood {
				threshold 20/min
				max_extra_bits 6
			}
		}
		reverse_proxy %s
	}`, backend)))

	type result struct {
		hosting    bool
		forwarded  bool
		difficulty int
	}
	var clients []struct {
		ip      string
		hosting bool
	}
	for i := range 218 {
		clients = append(clients, struct {
			ip      string
			hosting bool
		}{addressIn(hostingNetworks[i%3].Prefix, i/3), true})
	}
	for i := range 500 {
		clients = append(clients, struct {
			ip      string
			hosting bool
		}{addressIn(residential[i%20].Prefix, i/20), false})
	}
	results := make([]result, len(clients))
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				ok, bits := signer(t, clients[i].ip)
				results[i] = result{clients[i].hosting, ok, bits}
			}
		})
	}
	for i := range clients {
		next <- i
	}
	close(next)
	wg.Wait()

	var hostingSigned, residentialSigned, maxHostingBits, maxResidentialBits int
	for _, r := range results {
		switch {
		case r.hosting:
			maxHostingBits = max(maxHostingBits, r.difficulty)
			if r.forwarded {
				hostingSigned++
			}
		default:
			maxResidentialBits = max(maxResidentialBits, r.difficulty)
			if r.forwarded {
				residentialSigned++
			}
		}
	}
	t.Logf("hosting: %d of 218 signed, difficulty up to %d bits; residential: %d of 500 signed, up to %d bits",
		hostingSigned, maxHostingBits, residentialSigned, maxResidentialBits)
	if hostingSigned > 30 {
		t.Errorf("hosting networks got %d signatures through, budget is 3 ASNs x 10/hour = 30", hostingSigned)
	}
	if hostingSigned == 0 {
		t.Error("no hosting signature got through: the budget should allow 10 per ASN")
	}
	if residentialSigned != 500 {
		t.Errorf("%d of 500 residential signers got through, want every one", residentialSigned)
	}
	if got := forwarded.Load(); got != int64(hostingSigned+residentialSigned) {
		t.Errorf("backend received %d signatures, clients saw %d forwarded", got, hostingSigned+residentialSigned)
	}
	if maxHostingBits <= 4 {
		t.Errorf("hosting networks flooded yet their difficulty never rose above the base 4 bits")
	}
}
