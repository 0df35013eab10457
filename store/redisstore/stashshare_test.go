package redisstore_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/store/redisstore/redistest"
)

// stashSharePort is the redis-server of TestStashByteFloodKeepsSigner.
const stashSharePort = conformancePort + 5

// When the stash is over its bytes, the submission that goes is the oldest
// of the network holding the largest share of either bound, not only of
// the entries: 520 networks posting one 64 KiB body each (past 32 MiB
// after 512, with every network holding one entry) never push out a
// signer's one small submission, and the newest submission is kept.
func TestStashByteFloodKeepsSigner(t *testing.T) {
	srv := redistest.Start(t, stashSharePort)
	ctx := context.Background()
	cfg := challenge.StashConfig{MaxEntries: 4096, MaxBytes: 32 << 20}
	const networks, body = 520, 64 << 10
	site := stashSite(t, srv, fmt.Sprintf("share-%d", time.Now().UnixNano()), cfg)

	signer := challenge.NewBinding(netip.MustParseAddr("198.51.100.7"), 24, 48, "Firefox", "petition.example")
	sig := challenge.Submission{Method: "POST", Path: "/sign", Body: []byte("name=Ada"), Expires: time.Now().Add(5 * time.Minute)}
	id, err := site.Stash.Put(ctx, sig, signer, "asn:3215")
	if err != nil {
		t.Fatal(err)
	}
	var held []heldSub
	for o := range networks {
		addr := netip.AddrFrom4([4]byte{10, byte(o >> 8), byte(o), 9})
		owner := fmt.Sprintf("prefix:10.%d.%d.0/24", o>>8, o&0xff)
		bind := challenge.NewBinding(addr, 24, 48, "bot", "petition.example")
		sub := challenge.Submission{Method: "POST", Path: "/sign", Body: make([]byte, body),
			Expires: sig.Expires.Add(time.Duration(o+1) * time.Millisecond)}
		fid, err := site.Stash.Put(ctx, sub, bind, owner)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, heldSub{fid, bind})
	}
	each := body + len("POST") + len("/sign")
	fits := (cfg.MaxBytes - len(sig.Body) - len("POST") - len("/sign")) / each
	n := kept(t, site, held)
	last := held[len(held)-1]
	_, newest, err := site.Stash.Peek(ctx, last.id, last.bind, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, taken, err := site.Stash.Take(ctx, id, signer, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("flood of %d submissions of %d bytes from %d networks: tried %d, kept %d, expected %d (bound %d bytes); newest kept %v; signer's submission taken %v, expected true",
		len(held), each, networks, len(held), n, fits, cfg.MaxBytes, newest, taken)
	if !taken {
		t.Error("the byte flood pushed out the signer's submission")
	}
	if !newest {
		t.Error("the newest submission was pushed out")
	}
	if n != fits {
		t.Errorf("kept %d of the flood, want %d", n, fits)
	}
}
