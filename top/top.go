// Package top finds the heaviest networks of a flood in bounded memory: a
// space-saving sketch (Metwally, Agrawal, El Abbadi, 2005) whose counts
// decay exponentially, so that the list shows who is sending now, not who
// sent most since the start.
//
// A Tracker keeps at most Capacity keys. A key it does not hold replaces
// the lightest one and inherits its count (its error bound). Once the list
// is full, it does so at random, with probability w/(lightest+w) for an
// event of weight w (randomized admission, Ben Basat, Einziger, Friedman,
// Kassner, 2017): a heavy key gets in after about as many events as the
// lightest key weighs, and a flood of one-off keys, the common case of a
// flood from many networks, costs one map lookup per event instead of a
// replacement and a sift of the heap each. Admit always replaces, for the
// events a caller must see tracked. Each key also counts its events per
// kind (the shield's actions), which lets the caller rank the tracked
// keys by one kind.
package top

import (
	"errors"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"time"
)

// Kinds bounds how many kinds of events a key counts separately.
const Kinds = 16

// Defaults for the Config fields left at zero.
const (
	DefaultCapacity = 256
	DefaultHalfLife = time.Minute
)

// maxCapacity bounds a Tracker: its memory is about 300 bytes a key.
const maxCapacity = 1 << 16

// Config sizes a Tracker.
type Config struct {
	// Capacity is how many keys are tracked. Default: DefaultCapacity.
	Capacity int
	// HalfLife is how fast past events are forgotten: an event weighs half
	// as much after one half-life. Default: DefaultHalfLife.
	HalfLife time.Duration
	// Seed seeds the admission's random draws; 0 draws a seed. Tests set
	// it to replay a run.
	Seed uint64
}

// Info describes a key, as the caller last updated it.
type Info struct {
	// ASN, Org and Class describe the network, when known.
	ASN   uint32
	Org   string
	Class string
	// Difficulty is the last difficulty the key was asked for, and Extra
	// the bits a flood added to it.
	Difficulty, Extra int
	// Budget names the last budget the key went over, and BudgetAt when.
	Budget   string
	BudgetAt time.Time
}

// Entry is one tracked key as of a moment.
type Entry[K comparable] struct {
	Key K
	// Weight is the decayed number of events: with events arriving steadily
	// at r per second, it settles at r × HalfLife / ln 2.
	Weight float64
	// Error bounds how much of Weight may belong to the keys this one
	// replaced: the true weight is between Weight-Error and Weight.
	Error float64
	// ByKind is the decayed weight of each kind of event since the key
	// was tracked.
	ByKind [Kinds]float64
	Info   Info
}

// Tracker is a bounded, decaying heavy-hitter list. It is safe for
// concurrent use.
type Tracker[K comparable] struct {
	mu       sync.Mutex
	capacity int
	halfLife float64 // seconds
	// Weights are kept scaled by 2^((t-landmark)/halfLife), so that an old
	// count never needs updating; they are renormalised before the scale
	// overflows.
	landmark time.Time
	// lastAt and lastScale keep the latest scale: a flood adds many
	// events within one millisecond, and Exp2 is the dearest part of one.
	lastAt    time.Time
	lastScale float64
	byKey     map[K]*entry[K]
	heap      entries[K]
	rng       *rand.Rand // admission draws, under mu
}

type entry[K comparable] struct {
	key   K
	error float64
	kinds [Kinds]float64
	info  Info
	index int
}

// New returns an empty Tracker.
func New[K comparable](cfg Config) (*Tracker[K], error) {
	if cfg.Capacity == 0 {
		cfg.Capacity = DefaultCapacity
	}
	if cfg.HalfLife == 0 {
		cfg.HalfLife = DefaultHalfLife
	}
	if cfg.Capacity < 1 || cfg.Capacity > maxCapacity {
		return nil, errors.New("top: capacity must be between 1 and 65536")
	}
	if cfg.HalfLife < time.Second {
		return nil, errors.New("top: half-life must be at least 1s")
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &Tracker[K]{capacity: cfg.Capacity, halfLife: cfg.HalfLife.Seconds(), byKey: make(map[K]*entry[K], cfg.Capacity),
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}, nil
}

// renormAt is the scale beyond which weights are brought back to 1: far
// from float64's limit, near enough that no precision is lost.
const renormAt = 1 << 60

// scaleReuse is how long a scale is used again: its error then is under
// 2^(1ms/HalfLife), a hundred-thousandth for a minute's half-life.
const scaleReuse = time.Millisecond

// scale is the weight of one event at now, relative to the landmark.
func (t *Tracker[K]) scale(now time.Time) float64 {
	if d := now.Sub(t.lastAt); d >= 0 && d < scaleReuse && t.lastScale != 0 {
		return t.lastScale
	}
	if t.landmark.IsZero() {
		t.landmark = now
	}
	s := math.Exp2(now.Sub(t.landmark).Seconds() / t.halfLife)
	if s > renormAt {
		for i := range t.heap {
			e := t.heap[i].e
			t.heap[i].weight /= s
			e.error /= s
			for k := range e.kinds {
				e.kinds[k] /= s
			}
		}
		t.landmark, s = now, 1
	}
	if s < 1 { // a clock that went back counts as now
		s = 1
	}
	t.lastAt, t.lastScale = now, s
	return s
}

// Add counts one event of kind for key, and lets set, when not nil,
// update the key's Info. It returns the Info as it was before (zero for a
// key not tracked until now, or not admitted now). A kind out of range
// counts in the key's weight only. A key the full tracker does not hold
// is admitted at random (see the package doc).
func (t *Tracker[K]) Add(key K, kind int, now time.Time, set func(*Info)) (prev Info) {
	return t.add(key, kind, 1, now, false, set)
}

// Admit is Add for an event whose key must be tracked, such as one that
// changes its Info: a key the full tracker does not hold always takes the
// lightest one's place.
func (t *Tracker[K]) Admit(key K, kind int, now time.Time, set func(*Info)) (prev Info) {
	return t.add(key, kind, 1, now, true, set)
}

// AddN counts n events of kind for key at once, as n calls of Add (Admit
// when admit is set) would, at the cost of one: for a caller that samples
// a flood's events and counts each one it keeps for those it skipped.
func (t *Tracker[K]) AddN(key K, kind, n int, now time.Time, admit bool, set func(*Info)) (prev Info) {
	return t.add(key, kind, float64(max(n, 1)), now, admit, set)
}

func (t *Tracker[K]) add(key K, kind int, n float64, now time.Time, admit bool, set func(*Info)) (prev Info) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := n * t.scale(now)
	e, ok := t.byKey[key]
	switch {
	case ok:
	case len(t.heap) < t.capacity:
		e = &entry[K]{key: key, index: len(t.heap)}
		t.byKey[key] = e
		t.heap = append(t.heap, slot[K]{e: e})
	case !admit && t.rng.Float64()*(t.heap[0].weight+w) >= w:
		return Info{} // not admitted: the lightest key stays
	default:
		// Space saving: the new key takes the lightest one's place and
		// inherits its weight as its error.
		e = t.heap[0].e
		delete(t.byKey, e.key)
		*e = entry[K]{key: key, error: t.heap[0].weight, index: 0}
		t.byKey[key] = e
	}
	t.heap[e.index].weight += w
	if kind >= 0 && kind < Kinds {
		e.kinds[kind] += w
	}
	prev = e.info
	if set != nil {
		set(&e.info)
	}
	t.heap.fix(e.index)
	return prev
}

// Len is how many keys are tracked.
func (t *Tracker[K]) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.heap)
}

// Top returns at most n entries, heaviest first: by the weight of kind
// when kind is in range, else by their whole weight.
func (t *Tracker[K]) Top(n, kind int, now time.Time) []Entry[K] {
	t.mu.Lock()
	s := t.scale(now)
	out := make([]Entry[K], 0, len(t.heap))
	for _, sl := range t.heap {
		e := sl.e
		x := Entry[K]{Key: e.key, Weight: sl.weight / s, Error: e.error / s, Info: e.info}
		for k := range e.kinds {
			x.ByKind[k] = e.kinds[k] / s
		}
		if kind >= 0 && kind < Kinds && x.ByKind[kind] == 0 {
			continue
		}
		out = append(out, x)
	}
	t.mu.Unlock()
	rank := func(e *Entry[K]) float64 {
		if kind >= 0 && kind < Kinds {
			return e.ByKind[kind]
		}
		return e.Weight
	}
	sort.SliceStable(out, func(i, j int) bool {
		if ri, rj := rank(&out[i]), rank(&out[j]); ri != rj {
			return ri > rj
		}
		return i < j
	})
	if n >= 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// entries is a min-heap by weight. Weights only grow, so an entry only
// ever moves down; fix also moves one up, for a new entry at the end.
// Each slot holds its entry's weight, so that sifting compares weights
// side by side in one array instead of following a pointer per entry:
// in a flood of new networks every event sifts the heap.
type entries[K comparable] []slot[K]

type slot[K comparable] struct {
	weight float64
	e      *entry[K]
}

func (h entries[K]) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h entries[K]) up(i int) {
	x := h[i]
	for i > 0 {
		parent := (i - 1) / 2
		if h[parent].weight <= x.weight {
			break
		}
		h[i] = h[parent]
		h[i].e.index = i
		i = parent
	}
	h[i], x.e.index = x, i
}

// down sinks h[i] below its lighter children; it reports whether it moved.
func (h entries[K]) down(i int) bool {
	x, start, n := h[i], i, len(h)
	for {
		child := 2*i + 1
		if child >= n {
			break
		}
		if right := child + 1; right < n && h[right].weight < h[child].weight {
			child = right
		}
		if x.weight <= h[child].weight {
			break
		}
		h[i] = h[child]
		h[i].e.index = i
		i = child
	}
	h[i], x.e.index = x, i
	return i > start
}
