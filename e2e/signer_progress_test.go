package e2e

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The progress text says what the bar shows, percent by percent: it used
// to move every 25 % only, and said "0 %" while the bar moved.
func TestSignerProgressTextFollowsBar(t *testing.T) {
	// A proof long enough to watch (it is not waited for).
	startPetition(t, "difficulty 28")
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(shieldURL+"/")); err != nil {
		t.Fatal(err)
	}
	number := regexp.MustCompile(`\d+`)
	seen := map[int]bool{}
	for i := 0; i < 600 && len(seen) < 4; i++ {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
			Value float64
			Text  string
		}](`({Value: document.getElementById('rempart-progress').value, Text: document.getElementById('rempart-status').textContent})`))
		if err != nil {
			t.Fatal(err)
		}
		if s.Value > 0 {
			m := number.FindString(s.Text)
			if got, _ := strconv.Atoi(m); m == "" || got != int(s.Value) {
				t.Fatalf("the bar shows %v %% and the text says %q", s.Value, s.Text)
			}
			seen[int(s.Value)] = true
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	if len(seen) < 2 {
		t.Fatalf("the bar moved through %d values in a minute; cannot compare", len(seen))
	}
}
