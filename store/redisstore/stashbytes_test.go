package redisstore_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/store"
	"github.com/rempart/rempart/store/redisstore"
	"github.com/rempart/rempart/store/redisstore/redistest"
)

// stashPort is the redis-server of the stash's bound tests: the clock
// skew tests' port, since the tests of a package run one after the other
// (6419 must stay dead for unreachable).
const stashPort = skewPort

// stashSite opens site on one instance with stash bounds cfg.
func stashSite(t *testing.T, srv *redistest.Server, site string, cfg challenge.StashConfig) *store.Site {
	t.Helper()
	b, err := redisstore.New(redisstore.Config{Client: srv.Client(t), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.OpenSite(context.Background(), site, store.SiteConfig{Stash: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

type heldSub struct {
	id   string
	bind challenge.Binding
}

// flood puts per submissions of size body bytes from each of networks
// networks, expiring from expires on, a millisecond apart: the order of
// their expiries is their age.
func flood(t *testing.T, site *store.Site, networks, per, size int, expires time.Time) []heldSub {
	t.Helper()
	var held []heldSub
	for o := range networks {
		owner := fmt.Sprintf("prefix:203.0.%d.0/24", o)
		bind := challenge.NewBinding(netip.MustParseAddr(fmt.Sprintf("203.0.%d.9", o)), 24, 48, "bot", "petition.example")
		for range per {
			sub := challenge.Submission{Method: "POST", Path: "/sign", Body: make([]byte, size), Expires: expires.Add(time.Duration(len(held)) * time.Millisecond)}
			id, err := site.Stash.Put(context.Background(), sub, bind, owner)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, heldSub{id, bind})
		}
	}
	return held
}

// kept counts the submissions of held still in the stash.
func kept(t *testing.T, site *store.Site, held []heldSub) int {
	t.Helper()
	n := 0
	for _, h := range held {
		if _, ok, err := site.Stash.Peek(context.Background(), h.id, h.bind, time.Now()); err != nil {
			t.Fatal(err)
		} else if ok {
			n++
		}
	}
	return n
}

// The stash holds at most MaxBytes in Redis, as in memory, and what is
// taken or expires leaves room: the count of bytes never stays inflated.
// 8 networks post 8 submissions of 2 KiB each, under every bound but the
// stash's 32 KiB.
func TestStashBytesBounded(t *testing.T) {
	srv := redistest.Start(t, stashPort)
	ctx := context.Background()
	cfg := challenge.StashConfig{MaxEntries: 4096, MaxBytes: 32 << 10}
	const networks, per, body = 8, 8, 2 << 10
	fits := cfg.MaxBytes / (body + len("POST") + len("/sign"))
	for _, tc := range []struct {
		name string
		// before runs first: what it held must not count against the
		// flood once taken or expired.
		before func(t *testing.T, site *store.Site)
	}{
		{"empty stash", func(*testing.T, *store.Site) {}},
		{"after taking a full stash", func(t *testing.T, site *store.Site) {
			held := flood(t, site, networks, per, body, time.Now().Add(time.Minute))
			for _, h := range held {
				if _, _, err := site.Stash.Take(ctx, h.id, h.bind, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"after a full stash expired", func(t *testing.T, site *store.Site) {
			expires := time.Now().Add(time.Second)
			flood(t, site, networks, per, body, expires)
			time.Sleep(time.Until(expires) + 100*time.Millisecond)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			site := stashSite(t, srv, fmt.Sprintf("bytes-%d", time.Now().UnixNano()), cfg)
			tc.before(t, site)
			held := flood(t, site, networks, per, body, time.Now().Add(time.Minute))
			n := kept(t, site, held)
			t.Logf("%s: submissions of %d bytes put %d, kept %d (%d bytes), expected %d (bound %d bytes)",
				tc.name, body, len(held), n, n*body, fits, cfg.MaxBytes)
			if n != fits {
				t.Errorf("kept %d, want %d", n, fits)
			}
		})
	}
}
