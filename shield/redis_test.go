package shield

import (
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rempart/rempart/budget"
	"github.com/rempart/rempart/policies"
	"github.com/rempart/rempart/store"
	"github.com/rempart/rempart/store/memory"
	"github.com/rempart/rempart/store/redisstore"
	"github.com/rempart/rempart/store/redisstore/redistest"
)

// redisPort is this package's redis-server (store/redisstore's tests use
// 6410-6419, e2e's 6420-6429).
const redisPort = 6430

// The same flood, readers and signers through a shield keeping its state
// in memory and through one keeping it in Redis get the same answers,
// difficulties included; with Redis, each challenge page costs one round
// trip (its budget and its network's flood rate in one script), a network
// knocking on its exhausted budget about none, and a signature with a
// pass two.
func TestRedisShieldAnswersAsMemory(t *testing.T) {
	srv := redistest.Start(t, redisPort)
	client := srv.Client(t)
	calls := redistest.CountRoundTrips(client)
	rb := redisBackend(t, client)
	run := func(backend store.Backend) (outcomes []Outcome, pages int, floodTrips, signTrips int64) {
		h := newHarness(t, setup{
			protect: []string{"POST /sign"},
			limits: []policies.Budget{{Counts: policies.CountChallenges, Per: budget.KeyPrefix, Rate: "6/min"},
				{Counts: policies.CountSignatures, Per: budget.KeyIP, Rate: "3/hour"}},
			backend: backend, flood: flood,
		})
		// Redis refuses tokens issued up to redisstore.LossSkew after
		// its site was first opened (it cannot know them spent): a real
		// clock, past that.
		h.now = time.Now().Truncate(time.Second).Add(redisstore.LossSkew + 2*time.Second)
		flooder := h.browser("203.0.113.9", 64500, "hosting")
		floodStart := calls.Count()
		for range 20 {
			if w := flooder.do(http.MethodGet, "/", ""); w.Code == StatusChallenge {
				pages++
			}
			h.now = h.now.Add(100 * time.Millisecond)
		}
		floodTrips = calls.Count() - floodStart
		reader := h.browser("198.51.100.7", 64496, "")
		reader.pass("/")
		if w := reader.do(http.MethodGet, "/about", ""); w.Code != http.StatusOK {
			t.Errorf("a reader with a pass: %d", w.Code)
		}
		signStart := calls.Count()
		if w := reader.do(http.MethodPost, "/sign", "name=Grace"); w.Code != http.StatusOK {
			t.Errorf("a reader signing with their pass: %d", w.Code)
		}
		signTrips = calls.Count() - signStart
		signer := h.browser("192.0.2.1", 64501, "")
		if !signer.sign("/sign", "name=Ada") {
			t.Error("a signer's signature was not forwarded")
		}
		return h.outcomes, pages, floodTrips, signTrips
	}
	inMemory, memoryPages, _, _ := run(memory.Backend{})
	inRedis, redisPages, trips, signTrips := run(rb)

	sameAnswers(t, inMemory, inRedis)
	var rising bool
	for _, o := range inRedis {
		rising = rising || o.FloodExtra > 0
	}
	if !rising || memoryPages != 6 || redisPages != 6 {
		t.Errorf("the flood: %d and %d challenge pages of 20 (6 expected), difficulty rising: %v", memoryPages, redisPages, rising)
	}
	// One script a challenge page; the 14 refusals, over 1.4 s of the
	// harness's clock, ask Redis once a second: twice.
	t.Logf("the flood: 20 requests, %d challenge pages, %d Redis round trips (at most %d expected)", redisPages, trips, redisPages+2)
	if trips > int64(redisPages)+2 {
		t.Errorf("the flood made %d Redis round trips for %d challenge pages and %d refusals, want at most %d", trips, redisPages, 20-redisPages, redisPages+2)
	}
	// A signature with a pass: spend its credit, count its budgets.
	t.Logf("a signature with a pass: %d Redis round trips (2 expected)", signTrips)
	if signTrips != 2 {
		t.Errorf("a signature with a pass made %d Redis round trips, want 2 (spend, budgets)", signTrips)
	}
}

// In observe mode too, a shield on Redis records what one in memory does:
// the would-be challenges, their rising difficulty, and the would-be 429s.
func TestRedisShieldObservesAsMemory(t *testing.T) {
	srv := redistest.Start(t, redisPort)
	rb := redisBackend(t, srv.Client(t))
	run := func(backend store.Backend) []Outcome {
		h := newHarness(t, setup{
			protect: []string{"POST /sign"}, observe: true,
			limits:  []policies.Budget{{Counts: policies.CountChallenges, Per: budget.KeyPrefix, Rate: "6/min"}},
			backend: backend, flood: flood,
		})
		h.now = time.Now().Truncate(time.Second).Add(2 * time.Second)
		flooder := h.browser("203.0.113.9", 64500, "hosting")
		for range 20 {
			if w := flooder.do(http.MethodGet, "/", ""); w.Code != http.StatusOK {
				t.Errorf("observe mode answered %d", w.Code)
			}
			h.now = h.now.Add(100 * time.Millisecond)
		}
		return h.outcomes
	}
	inMemory, inRedis := run(memory.Backend{}), run(rb)
	sameAnswers(t, inMemory, inRedis)
	var limited int
	for _, o := range inRedis {
		if o.Action == ActionLimit {
			limited++
		}
	}
	if limited != 14 {
		t.Errorf("observe mode: %d would-be 429s of 20 requests on a budget of 6, want 14", limited)
	}
}

// flood is the flood tracking of the tests comparing Redis with memory.
var flood = budget.PressureConfig{Threshold: 2, HalfLife: time.Minute, MaxExtraBits: 6}

func redisBackend(t *testing.T, client *redis.Client) *redisstore.Backend {
	t.Helper()
	rb, err := redisstore.New(redisstore.Config{Client: client, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return rb
}

// sameAnswers checks that two shields answered the same requests alike.
func sameAnswers(t *testing.T, inMemory, inRedis []Outcome) {
	t.Helper()
	if len(inMemory) != len(inRedis) {
		t.Fatalf("%d answers in memory, %d with Redis", len(inMemory), len(inRedis))
	}
	for i, m := range inMemory {
		r := inRedis[i]
		if m.Action != r.Action || m.Status != r.Status || m.Difficulty != r.Difficulty || m.FloodExtra != r.FloodExtra || m.Budget != r.Budget {
			t.Errorf("answer %d: in memory %s %d (%d bits, +%d, budget %q), with Redis %s %d (%d bits, +%d, budget %q)", i+1,
				m.Action, m.Status, m.Difficulty, m.FloodExtra, m.Budget, r.Action, r.Status, r.Difficulty, r.FloodExtra, r.Budget)
		}
	}
}
