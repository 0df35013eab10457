//go:build rempart_unwatched

package caddymodule

// watching is off: see watching.go.
const watching = false
