package memory_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/store"
	"github.com/rempart/rempart/store/memory"
	"github.com/rempart/rempart/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Open: func(*testing.T) store.Backend { return memory.Backend{} },
		// A bounded record forgets by eviction: spend more ids than it
		// holds, all issued with the lost one.
		Lose: func(t *testing.T, site *store.Site, _ string, issued time.Time) {
			for range storetest.Config.SpentSize {
				var id [challenge.IDSize]byte
				_, _ = rand.Read(id[:])
				if ok, err := site.Passes.Use(context.Background(), id, 1, issued, issued.Add(time.Hour), time.Now()); err != nil || !ok {
					t.Fatalf("filling the record: %v, %v", ok, err)
				}
			}
		},
	})
}
