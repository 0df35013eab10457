package shield

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/store"
)

// unansweredTake is a stash whose next take fails with the store
// unavailable, after taking (made: the answer was lost, as Redis loses
// the answers of what it ran just before it stops) or without (not made).
type unansweredTake struct {
	store.Stash
	armed atomic.Bool
	made  bool
}

func (s *unansweredTake) Take(ctx context.Context, id string, b challenge.Binding, now time.Time) (challenge.Submission, bool, error) {
	if !s.armed.CompareAndSwap(true, false) {
		return s.Stash.Take(ctx, id, b, now)
	}
	if s.made {
		_, _, _ = s.Stash.Take(ctx, id, b, now)
	}
	return challenge.Submission{}, false, fmt.Errorf("releasing a held submission: %w", store.ErrUnavailable)
}

// unansweredState is a memory state whose stash's takes go unanswered
// once armed, made or not as made says.
func unansweredState(t *testing.T, made bool) (*State, *unansweredTake) {
	t.Helper()
	state, err := NewState(StateConfig{SpentSize: 1 << 10, Stash: challenge.StashConfig{MaxEntries: 64, MaxBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	stash := &unansweredTake{Stash: state.Stash, made: made}
	state.Stash = stash
	return state, stash
}

// A held submission whose take goes unanswered is neither lost nor sent
// twice: the shield goes on with the copy it read, the pass's one credit
// decides, and re-posting it once more, credit spent, sends nothing.
func TestUnansweredTakeLosesNothing(t *testing.T) {
	for _, made := range []bool{true, false} {
		t.Run(fmt.Sprintf("take made %v", made), func(t *testing.T) {
			state, stash := unansweredState(t, made)
			h := newHarness(t, setup{protect: []string{"POST /sign"}, state: state})
			signer := h.browser("198.51.100.7", 64496, "")
			held := signer.do(http.MethodPost, "/sign", signBody)
			if held.Code != StatusChallenge {
				t.Fatalf("signer: %d, want a challenge", held.Code)
			}
			verify := signer.solve(held)
			before := h.forwardedCount()
			stash.armed.Store(true)
			w := signer.follow(verify, "")
			// The browser goes on as it is told: a fresh challenge (the
			// store could not say the credit was spent) is solved again.
			for tries := 0; w.Code == StatusChallenge && tries < 3; tries++ {
				w = signer.follow(signer.solve(w), "")
			}
			again := signer.follow(verify, "") // the same re-post, its credit spent
			forwarded := h.forwardedCount() - before
			t.Logf("held submission, take unanswered: tried 2 re-posts, forwarded %d, expected 1 (answers %d, then %d)", forwarded, w.Code, again.Code)
			if forwarded != 1 || w.Code != http.StatusOK {
				t.Fatalf("forwarded %d, first answer %d %s; want the signature sent once", forwarded, w.Code, w.Body)
			}
			if last := h.forwarded[len(h.forwarded)-1]; last.Method != http.MethodPost || last.Body != signBody {
				t.Fatalf("forwarded %+v, want the held POST", last)
			}
		})
	}
}

// A submission held in enforce mode and released by its re-post in observe
// mode (a switch between the two, or two instances on one store in a
// rollout) is not lost when the store does not answer the take: observe
// mode lets every request through, and this one is the held signature.
func TestObserveModeUnansweredTakeLosesNothing(t *testing.T) {
	for _, made := range []bool{true, false} {
		t.Run(fmt.Sprintf("take made %v", made), func(t *testing.T) {
			state, stash := unansweredState(t, made)
			enforce := newHarness(t, setup{protect: []string{"POST /sign"}, state: state})
			observe := newHarness(t, setup{protect: []string{"POST /sign"}, state: state, observe: true})
			signer := enforce.browser("198.51.100.7", 64496, "")
			held := signer.do(http.MethodPost, "/sign", signBody)
			if held.Code != StatusChallenge {
				t.Fatalf("signer: %d, want a challenge", held.Code)
			}
			verify := signer.solve(held)
			signer.h = observe
			stash.armed.Store(true)
			w := signer.follow(verify, "")
			sent := 0
			for _, f := range observe.forwarded {
				if f.Method == http.MethodPost && f.Path == "/sign" && f.Body == signBody {
					sent++
				}
			}
			t.Logf("held submission released in observe mode, take unanswered: 1 re-post, %d forwarded, %d of them the held signature, expected 1 (answer %d)",
				len(observe.forwarded), sent, w.Code)
			if sent != 1 || w.Code != http.StatusOK {
				t.Fatalf("forwarded %+v, answer %d; want the held POST once", observe.forwarded, w.Code)
			}
		})
	}
}
