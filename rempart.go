// Package rempart brings rempart's Caddy modules into a Caddy build:
//
//	xcaddy build --with github.com/rempart/rempart
//
// The modules themselves live in caddymodule; the shield's logic lives in
// plain Go packages (challenge, policies) that do not depend on Caddy.
package rempart

import (
	// Registers the rempart handler and its Caddyfile directive.
	_ "github.com/rempart/rempart/caddymodule"
)
