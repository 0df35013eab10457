// Package frameworks holds end-to-end tests of the shield in front of real
// web frameworks, run as they are deployed: the shield in a real Caddy, the
// petition in its own framework's process (Express 4 on Node.js, in
// express/), and an attacker that speaks raw HTTP so that every spelling of
// the signature endpoint reaches Caddy byte for byte. It has no code of its
// own.
package frameworks
