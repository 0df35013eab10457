package shield

import (
	"fmt"
	"sync"
	"testing"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/policies"
)

// A 429's text is the language's TooMany for its wait, whoever asked
// first and however many ask at once; the kept texts stay bounded.
func TestTooManyTextIsKeptAndBounded(t *testing.T) {
	tooManyTexts.Store(nil)
	t.Cleanup(func() { tooManyTexts.Store(nil) })
	_, en := challenge.Negotiate("en")
	_, fr := challenge.Negotiate("fr")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for minutes := range 200 {
				for _, m := range []*challenge.Messages{en, fr} {
					if got, want := tooManyText(m, policies.CountSignatures, minutes+g%2), fmt.Sprintf(m.TooMany, minutes+g%2); got != want {
						t.Errorf("tooManyText(%d) = %q, want %q", minutes+g%2, got, want)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if kept := len(*tooManyTexts.Load()); kept > 2*201 {
		t.Errorf("%d texts kept for 2 languages and 201 waits", kept)
	}
	for minutes := range 2 * maxTooManyTexts {
		tooManyText(en, policies.CountSignatures, minutes)
	}
	if kept := len(*tooManyTexts.Load()); kept > maxTooManyTexts {
		t.Errorf("%d texts kept, the bound is %d", kept, maxTooManyTexts)
	}
	if got, want := tooManyText(fr, policies.CountChallenges, 3*maxTooManyTexts), fmt.Sprintf(fr.TooManyChecks, 3*maxTooManyTexts); got != want {
		t.Errorf("past the bound: %q, want %q", got, want)
	}
}
