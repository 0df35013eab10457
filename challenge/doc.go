// Package challenge issues and checks rempart's proof-of-work challenges and
// pass tokens, and serves the page and solver a browser runs to earn a pass.
//
// Everything here is stateless and signed: a challenge is a random id, a
// difficulty and an expiry, authenticated by an HMAC that also covers the
// client it was issued to (network prefix, User-Agent, host). The HMAC doubles
// as the puzzle seed: a browser must find a nonce such that
// SHA-256(seed || nonce) has at least the challenge's number of leading zero
// bits. Verifying a proof therefore costs one HMAC and one SHA-256, so the
// verify endpoint cannot itself become the target of a flood.
//
// The package does not import Caddy; caddymodule adapts it.
package challenge
