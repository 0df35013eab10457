package redisstore_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/store"
	"github.com/rempart/rempart/store/memory"
	"github.com/rempart/rempart/store/redisstore/redistest"
)

// When the stash is full, the submission that goes is the oldest of the
// network holding the most, in Redis as in memory: a flood, from one
// network or from many, under every network's share, never pushes out a
// signer's one submission while its browser solves.
func TestStashFloodKeepsSigner(t *testing.T) {
	srv := redistest.Start(t, stashPort)
	ctx := context.Background()
	for _, tc := range []struct {
		name          string
		cfg           challenge.StashConfig
		networks, per int
		body          int
	}{
		{"one network", challenge.StashConfig{MaxEntries: 64, MaxBytes: 1 << 20, PerOwner: 8}, 1, 256, 100},
		{"many networks over the entries", challenge.StashConfig{MaxEntries: 64, MaxBytes: 1 << 20, PerOwner: 8}, 16, 8, 100},
		{"many networks over the bytes", challenge.StashConfig{MaxEntries: 64, MaxBytes: 32 << 10, PerOwner: 8}, 4, 8, 2 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			site := stashSite(t, srv, fmt.Sprintf("fair-%d", time.Now().UnixNano()), tc.cfg)
			mem, err := memory.Backend{}.OpenSite(ctx, "fair", store.SiteConfig{SpentSize: 64, Stash: tc.cfg})
			if err != nil {
				t.Fatal(err)
			}
			signer := challenge.NewBinding(netip.MustParseAddr("198.51.100.7"), 24, 48, "Firefox", "petition.example")
			sig := challenge.Submission{Method: "POST", Path: "/sign", Body: []byte("name=Ada"), Expires: time.Now().Add(5 * time.Minute)}
			ids := make([]string, 2)
			for i, s := range []*store.Site{site, mem} {
				if ids[i], err = s.Stash.Put(ctx, sig, signer, "asn:3215"); err != nil {
					t.Fatal(err)
				}
			}
			expires := sig.Expires.Add(time.Millisecond)
			held := flood(t, site, tc.networks, tc.per, tc.body, expires)
			flood(t, mem, tc.networks, tc.per, tc.body, expires)
			_, inRedis, err := site.Stash.Take(ctx, ids[0], signer, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			_, inMemory, _ := mem.Stash.Take(ctx, ids[1], signer, time.Now())
			t.Logf("%s: flood of %d submissions from %d networks, %d kept: signer's submission kept by Redis %v, by memory %v, expected true",
				tc.name, len(held), tc.networks, kept(t, site, held), inRedis, inMemory)
			if !inRedis {
				t.Error("the flood pushed out the signer's submission")
			}
		})
	}
}
