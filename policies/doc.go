// Package policies decides what the shield does with a request. For now it
// knows which endpoints are protected: the signature endpoints where every
// request must carry a proof of work. It does not import Caddy.
package policies
