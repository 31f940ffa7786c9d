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
