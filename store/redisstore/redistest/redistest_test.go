package redistest

import (
	"context"
	"testing"
)

// TestRestartKeepsData: a stopped and restarted server keeps its data,
// as a production Redis with persistence does.
func TestRestartKeepsData(t *testing.T) {
	s := Start(t, 6416)
	c := s.Client(t)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.HSet(ctx, "h", "c", "x").Err(); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	s.Restart()
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("after restart: %q, %v", v, err)
	}
	if v, err := c.HGet(ctx, "h", "c").Result(); err != nil || v != "x" {
		t.Fatalf("hash after restart: %q, %v", v, err)
	}
}
