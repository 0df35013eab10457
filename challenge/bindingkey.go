package challenge

import "crypto/sha256"

// BindingKey condenses a binding into the key a held submission is bound
// to, so that a store outside this package (Redis) releases a submission
// only to the client that sent it, exactly as Stash does.
func BindingKey(b Binding) [sha256.Size]byte { return clientKey(b) }
