package latch

import "context"

// MaxPasswordBytes bounds what is ever hashed: longer input is refused
// before hashing, so a megabyte password costs nothing, and no password is
// silently truncated (every byte up to the bound counts).
const MaxPasswordBytes = 1024

// PasswordHasher hashes and checks passwords.
type PasswordHasher interface {
	// Hash returns a PHC string.
	Hash(ctx context.Context, password string) (string, error)
	// Compare reports whether password matches the PHC string, and whether
	// the hash should be redone with the current parameters. A malformed
	// hash is an error, not a mismatch. It takes as long for a dummy hash.
	Compare(ctx context.Context, phc, password string) (ok, rehash bool, err error)
}

// HashAdmitter is implemented by a PasswordHasher that can tell, at once
// and without taking anything, that it would refuse a hash asked for now
// (password.Hasher: every slot busy and its queue full). A login asks it
// before anything else, so that under a flood a login the hasher would
// refuse costs no read of the account and no slot of the lockout: that
// work, done for every refused login of a burst, stood in the run queue
// in front of the requests that need no hash (docs/security.md, Floods).
type HashAdmitter interface {
	// Admit returns nil when a Hash or Compare asked for now could get a
	// slot, possibly after a wait, and otherwise the error that Hash and
	// Compare would return at once (wrapping a *RateLimitError). A nil
	// answer promises nothing: the hash may still be refused.
	Admit() error
}
