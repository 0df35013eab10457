// Package policies decides what the shield does with a request: which
// endpoints are protected (the signature endpoints, where every request
// must carry a proof of work), which budgets bound what a client, a
// network or a class of networks may do, and the policy files that
// security staff write (docs/policy.md): rules evaluated in order, first
// match wins, compiled once at load and checked by their own tests. It
// does not import Caddy.
package policies
