// Package policies decides what the shield does with a request: which
// endpoints are protected (the signature endpoints, where every request
// must carry a proof of work), and which budgets bound what a client, a
// network or a class of networks may do. It does not import Caddy.
package policies
