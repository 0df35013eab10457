package e2e

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/rempart/rempart/internal/browsertest"
)

// typeAndRefuse fills in the petition form and sends it, then waits for
// the 429 page's button back to the form.
func typeAndRefuse(ctx context.Context, name, email string) error {
	return chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.ID("petition")),
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.Click(chromedp.ID("sign")),
		chromedp.WaitVisible(chromedp.ID("rempart-back")),
	)
}

// backToForm selects the 429 page's button and returns what the form holds.
// The page may come back from the browser's back-forward cache, which
// chromedp's DOM queries do not see: it is read with scripts.
func backToForm(t *testing.T, ctx context.Context) (name, email string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("rempart-back"))); err != nil {
		t.Fatal(err)
	}
	// The browser restores the fields as the page shows.
	if err := browsertest.WaitTrue(ctx, `!!document.getElementById('petition') && document.getElementById('name').value !== ''`); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + ' ' + document.title`))
		t.Fatalf("back on %s, the form is empty or missing: %v", loc, err)
	}
	fields, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[document.getElementById('name').value, document.getElementById('email').value]`))
	if err != nil || len(fields) != 2 {
		t.Fatalf("reading the form: %v", err)
	}
	return fields[0], fields[1]
}

// A signer refused by a budget loses nothing: the 429 page's button goes
// back to the form, still filled in. Here the pass has a credit left, so
// the form's own post is refused (one page back).
func TestSignerRefusedByBudgetKeepsTypedFields(t *testing.T) {
	startPetition(t, "site budget-direct", "credits 2", "limit signatures per ip 1/hour")
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(shieldURL+"/"), sign("Alice")); err != nil {
		t.Fatal(err)
	}
	before := count(t)
	if err := typeAndRefuse(ctx, "Bruno", "bruno@example.org"); err != nil {
		t.Fatalf("the second signature was not refused by the budget with a way back: %v", err)
	}
	if name, email := backToForm(t, ctx); name != "Bruno" || email != "bruno@example.org" {
		t.Fatalf("back on the form: name %q, email %q, want what was typed", name, email)
	}
	if got := count(t); got != before {
		t.Fatalf("count went from %d to %d, want no signature over the budget", before, got)
	}
}

// The same when the refused signature was held while the browser solved a
// new challenge (the pass had no credit left): two pages back.
func TestSignerRefusedByBudgetAfterHoldKeepsTypedFields(t *testing.T) {
	startPetition(t, "site budget-held", "limit signatures per ip 1/hour")
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(shieldURL+"/"), sign("Alice")); err != nil {
		t.Fatal(err)
	}
	if err := typeAndRefuse(ctx, "Chloe", "chloe@example.org"); err != nil {
		t.Fatalf("the held signature was not refused by the budget with a way back: %v", err)
	}
	if name, email := backToForm(t, ctx); name != "Chloe" || email != "chloe@example.org" {
		t.Fatalf("back on the form: name %q, email %q, want what was typed", name, email)
	}
}
