// Package budget counts what a network may do: fixed-window budgets kept per
// IP, per prefix, per ASN or per class of client, and a proof-of-work
// difficulty that rises with a network's flood and falls back as it calms.
//
// It is plain Go and knows nothing of Caddy; the caddymodule package adapts it.
//
// # Bounded memory and what eviction means
//
// Every table here is a least-recently-used cache with a fixed capacity,
// split into shards that each hold their own lock, and nothing runs in the
// background: expired windows are reset when they are next touched. A flood
// of distinct keys therefore costs a fixed amount of memory, but it evicts:
// a key pushed out by a million newer ones has its count forgotten and
// starts a fresh window when it comes back. An attacker who rotates through
// many addresses can thus reset per-IP budgets at will. That is why the
// budgets that matter are keyed by ASN, class or prefix: a few keys, which
// stay hot, and so stay counted, precisely while their network floods; and
// why [Tables] keeps each kind of key in a table of its own, so that a flood
// of addresses or prefixes never evicts a network's counter. The
// same holds for [Pressure]: a network forgotten under a flood of other
// networks falls back to the base difficulty.
package budget
