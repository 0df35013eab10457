//go:build !race

// Package race tells tests whether the race detector is on: it makes
// every allocation count differ, so allocation tests skip under it.
package race

// Enabled is true when the binary is built with -race.
const Enabled = false
