// Package shield is rempart's request core, plain Go with no Caddy in it.
// Every request follows one path:
//
//	request -> client (address as the server resolved it, binding, ASN,
//	class) -> one policy decision (is it a signature, what difficulty,
//	which budgets) -> one action (pass, spend, challenge, hold, limit,
//	deny, refuse) -> the next handler
//
// and ends in one Outcome, the single place where the shield is observed.
//
// What a signature is, and what a pass is worth, are decided here and only
// here: a request is a signature when its canonical method and path (see
// policies.Canonicalize) name a signature endpoint of the policy, whatever
// its spelling; a pass pays for a signature only when it was bought with at
// least the work the signature's decision asks for.
package shield
