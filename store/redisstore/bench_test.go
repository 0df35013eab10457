package redisstore_test

import (
	"context"
	"crypto/rand"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/store"
	"github.com/rempart/rempart/store/memory"
	"github.com/rempart/rempart/store/redisstore"
	"github.com/rempart/rempart/store/redisstore/redistest"
	"github.com/rempart/rempart/store/storetest"
)

// benchPort is the benchmarks' redis-server.
const benchPort = conformancePort + 3

// BenchmarkStores measures each decision's store operation in memory and
// in Redis (one round trip each, over loopback):
//
//	go test -run '^$' -bench Stores -benchmem ./store/redisstore/
func BenchmarkStores(b *testing.B) {
	srv := redistest.Start(b, benchPort)
	rb, err := redisstore.New(redisstore.Config{Client: srv.Client(b), Timeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	for _, backend := range []struct {
		name string
		b    store.Backend
	}{{"memory", memory.Backend{}}, {"redis", rb}} {
		site, err := backend.b.OpenSite(context.Background(), "bench", store.SiteConfig{SpentSize: 1 << 20,
			Stash: challenge.StashConfig{MaxEntries: 4096, MaxBytes: 32 << 20}})
		if err != nil {
			b.Fatal(err)
		}
		issued := time.Now().Add(time.Second)
		b.Run(backend.name+"/spend", func(b *testing.B) {
			for b.Loop() {
				var id [challenge.IDSize]byte
				_, _ = rand.Read(id[:])
				if _, err := site.Passes.Use(context.Background(), id, 1, issued, issued.Add(time.Hour), time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
		bind := challenge.NewBinding(netip.MustParseAddr("198.51.100.7"), 24, 48, "bench", "petition.example")
		b.Run(backend.name+"/hold+take", func(b *testing.B) {
			sub := challenge.Submission{Method: "POST", Path: "/sign", ContentType: "application/x-www-form-urlencoded",
				Body: []byte("name=Ada+Lovelace&email=ada%40example.org"), Expires: time.Now().Add(time.Hour)}
			for i := 0; b.Loop(); i++ {
				id, err := site.Stash.Put(context.Background(), sub, bind, "asn:"+strconv.Itoa(i%1000))
				if err != nil {
					b.Fatal(err)
				}
				if _, ok, err := site.Stash.Take(context.Background(), id, bind, time.Now()); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
		b.Run(backend.name+"/budgets", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				charges := []budget.Charge{
					{Key: "ip" + strconv.Itoa(i), Kind: budget.KeyIP, Rate: limiter.Rate{Limit: 20, Period: time.Hour}},
					{Key: "as" + strconv.Itoa(i%500), Kind: budget.KeyASN, Rate: limiter.Rate{Limit: 1 << 40, Period: time.Hour}},
				}
				if _, err := site.Budgets.TakeAll(context.Background(), charges, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
		// A network over its budget, as in a flood: Redis is asked once
		// a second, the rest is answered from what it said.
		b.Run(backend.name+"/budgets-exhausted", func(b *testing.B) {
			charges := []budget.Charge{{Key: "as64500", Kind: budget.KeyASN, Rate: limiter.Rate{Limit: 1, Period: time.Hour}}}
			_, _ = site.Budgets.TakeAll(context.Background(), charges, time.Now())
			for b.Loop() {
				if res, err := site.Budgets.TakeAll(context.Background(), charges, time.Now()); err != nil || res.Allowed {
					b.Fatal(res, err)
				}
			}
		})
		if site.Close != nil {
			_ = site.Close()
		}
	}
}

// BenchmarkRedisMemoryPerClient reports the Redis memory one signer costs
// while its records live: a solved challenge, a spent pass, and a per-ip
// budget counter (the default policy's), as used_memory grows over many
// clients:
//
//	go test -run '^$' -bench MemoryPerClient -benchtime 100000x ./store/redisstore/
func BenchmarkRedisMemoryPerClient(b *testing.B) {
	srv := redistest.Start(b, benchPort+1)
	client := srv.Client(b)
	rb, err := redisstore.New(redisstore.Config{Client: client, Timeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	site, err := rb.OpenSite(context.Background(), "petition", storetest.Config)
	if err != nil {
		b.Fatal(err)
	}
	defer site.Close()
	usedMemory := func() float64 {
		info, err := client.Info(context.Background(), "memory").Result()
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				n, _ := strconv.ParseFloat(v, 64)
				return n
			}
		}
		b.Fatal("no used_memory")
		return 0
	}
	before := usedMemory()
	issued := time.Now().Add(time.Second)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		var id [challenge.IDSize]byte
		_, _ = rand.Read(id[:])
		if _, err := site.Challenges.Use(context.Background(), id, 1, issued, issued.Add(5*time.Minute), time.Now()); err != nil {
			b.Fatal(err)
		}
		_, _ = rand.Read(id[:])
		if _, err := site.Passes.Use(context.Background(), id, 1, issued, issued.Add(time.Hour), time.Now()); err != nil {
			b.Fatal(err)
		}
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		charges := []budget.Charge{{Key: budget.KeyIP.Key("signatures-per-ip", budget.Client{IP: ip}), Kind: budget.KeyIP, Rate: limiter.Rate{Limit: 20, Period: time.Hour}}}
		if _, err := site.Budgets.TakeAll(context.Background(), charges, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perClient := (usedMemory() - before) / float64(b.N)
	b.ReportMetric(perClient, "bytes/client")
	b.ReportMetric(perClient*1e6/(1<<20), "MiB/million-clients")
}
