package latch

import (
	"context"
	"time"
)

// AccessClaims are the claims of an access token (RFC 9068). They carry no
// PII: the subject is the user ID, never the email.
type AccessClaims struct {
	Issuer    string
	Subject   string // user ID
	Audience  []string
	ExpiresAt time.Time
	IssuedAt  time.Time
	NotBefore time.Time // zero when absent
	ID        string    // jti
	SessionID string    // sid: the refresh family or session handle
	Role      string
}

// TokenSigner signs access tokens with the current key.
type TokenSigner interface {
	// Sign returns a compact JWS with header typ "at+jwt".
	Sign(ctx context.Context, c *AccessClaims) (string, error)
}

// TokenVerifier checks an access token's signature and claims (algorithm,
// kid, typ, iss, aud, exp, nbf, iat) but not revocation. Any failure
// wraps ErrUnauthenticated.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (*AccessClaims, error)
}

// PasswordHasher hashes and checks passwords.
type PasswordHasher interface {
	// Hash returns a PHC string.
	Hash(ctx context.Context, password string) (string, error)
	// Compare reports whether password matches the PHC string, and whether
	// the hash should be redone with the current parameters. A malformed
	// hash is an error, not a mismatch. It takes as long for a dummy hash.
	Compare(ctx context.Context, phc, password string) (ok, rehash bool, err error)
}
