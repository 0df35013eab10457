// Package browsertest gives tests a real headless Chromium (through
// chromedp) and the axe-core accessibility checker, so that e2e and
// caddymodule/observetest drive the same browser, with the same flags, and
// judge pages with the same axe-core release.
//
// It is a helper for tests only: nothing outside _test.go files imports it.
package browsertest
