// Package e2e holds the end-to-end tests: the demo petition behind the
// shield in a real Caddy, signed by a real headless Chromium that knows
// nothing of the protocol. It has no code of its own.
package e2e
