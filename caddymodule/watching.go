//go:build !rempart_unwatched

package caddymodule

// watching says whether the lookout observes the shield (metrics, top
// networks, interval log, placeholders, events). Only the benchmark of
// what watching costs (bench/observe-cost.sh) builds without it, with the
// rempart_unwatched tag, to compare the same code with and without.
const watching = true
