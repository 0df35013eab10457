package caddymodule

import (
	"context"
	"testing"

	"github.com/rempart/rempart/store"
)

// A reload that asks for another spent_size keeps the records in force,
// whose size it cannot change without letting spent tokens be replayed,
// and says so: an admin who raised it under a flood must not believe the
// larger records are in force.
func TestResizedRecordsAreSaid(t *testing.T) {
	tests := []struct {
		name          string
		st            Store
		first, reload int
		warns         bool
	}{
		{"same size", MemoryStore{}, 1 << 20, 1 << 20, false},
		{"larger in memory", MemoryStore{}, 1 << 10, 1 << 20, true},
		{"smaller in memory", MemoryStore{}, 1 << 20, 1 << 10, true},
		{"shared store", &RedisStore{poolKey: "resized"}, 1 << 10, 1 << 20, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resizedWarning(tt.st, store.SiteConfig{SpentSize: tt.first}, store.SiteConfig{SpentSize: tt.reload})
			if (got != "") != tt.warns {
				t.Fatalf("warning %q, want one: %v", got, tt.warns)
			}
		})
	}

	// The state kept across the reload is the first one, of the first size.
	site := t.Name()
	sized := func(n int) store.SiteConfig {
		h := Handler{SpentSize: n}
		return h.stateConfig()
	}
	key, first, err := loadSiteState(context.Background(), MemoryStore{}, site, sized(1<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = siteStates.Delete(key) }()
	_, again, err := loadSiteState(context.Background(), MemoryStore{}, site, sized(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = siteStates.Delete(key) }()
	if again != first || again.sized.SpentSize != 1<<10 {
		t.Fatalf("the reload got a state of %d ids (the same: %v), want the first, of %d", again.sized.SpentSize, again == first, 1<<10)
	}
	if resizedWarning(MemoryStore{}, again.sized, sized(1<<20)) == "" {
		t.Fatal("the reload's other size is not said")
	}
}
