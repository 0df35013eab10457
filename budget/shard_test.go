package budget

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// TestLRUShardMatchesModel runs random operations on one shard and on a
// plain slice kept in recency order, and compares them after each.
func TestLRUShardMatchesModel(t *testing.T) {
	for _, capacity := range []int{1, 2, 5, 33} {
		s, err := newShardedLRU[int](capacity, 1)
		if err != nil {
			t.Fatal(err)
		}
		sh := &s.shards[0]
		var model []string // most recent first
		values := map[string]int{}
		rng := rand.New(rand.NewPCG(1, uint64(capacity)))
		for step := range 20_000 {
			key := "k" + strconv.Itoa(rng.IntN(2*capacity+3))
			at := slices.Index(model, key)
			switch op := rng.IntN(4); op {
			case 0: // getOrAdd, then write
				v, added := sh.getOrAdd(s.key(key))
				if added != (at < 0) {
					t.Fatalf("cap %d step %d: getOrAdd(%s) added %v, model holds it: %v", capacity, step, key, added, at >= 0)
				}
				if added && *v != 0 {
					t.Fatalf("cap %d step %d: new entry %s not zeroed: %d", capacity, step, key, *v)
				}
				if !added && *v != values[key] {
					t.Fatalf("cap %d step %d: %s = %d, want %d", capacity, step, key, *v, values[key])
				}
				*v = step + 1
				if at >= 0 {
					model = slices.Delete(model, at, at+1)
				} else if len(model) == capacity {
					delete(values, model[len(model)-1])
					model = model[:len(model)-1]
				}
				model = slices.Insert(model, 0, key)
				values[key] = step + 1
			case 1: // get
				v, ok := sh.get(s.key(key))
				if ok != (at >= 0) || ok && *v != values[key] {
					t.Fatalf("cap %d step %d: get(%s) = %v", capacity, step, key, ok)
				}
				if ok {
					model = slices.Insert(slices.Delete(model, at, at+1), 0, key)
				}
			case 2: // peek
				v, ok := sh.peek(s.key(key))
				if ok != (at >= 0) || ok && *v != values[key] {
					t.Fatalf("cap %d step %d: peek(%s) = %v", capacity, step, key, ok)
				}
			case 3: // remove
				sh.remove(s.key(key))
				if at >= 0 {
					model = slices.Delete(model, at, at+1)
					delete(values, key)
				}
			}
			if sh.len() != len(model) {
				t.Fatalf("cap %d step %d: len %d, model %d", capacity, step, sh.len(), len(model))
			}
			// Walk the list from the head: it must be the model's order.
			i := 0
			for at := sh.head; at != none; at = sh.slots[at].next {
				if i >= len(model) || sh.slots[at].key != s.key(model[i]) {
					t.Fatalf("cap %d step %d: list differs from model %v at %d", capacity, step, model, i)
				}
				i++
			}
			if i != len(model) || len(sh.slots) > capacity {
				t.Fatalf("cap %d step %d: list of %d, model %d, %d slots", capacity, step, i, len(model), len(sh.slots))
			}
		}
	}
}
