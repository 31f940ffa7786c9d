package latch

import (
	"context"
	"time"
)

// Leeway is the clock skew tolerated on a token's exp, nbf and iat (RFC 8725
// asks for a small one; API.md fixes it at 60 s). Revocation entries live
// this much past the expiry of the last token they can refuse.
const Leeway = 60 * time.Second

// MaxTokenBytes bounds any presented token (access or refresh); longer ones
// are refused unread. latch's own tokens are well under 1 KiB.
const MaxTokenBytes = 8 << 10

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
	AMR       []string  // amr: how the login behind the token authenticated
	AuthTime  time.Time // auth_time: when that login happened; zero when absent
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

// IssuedToken is a signed access token.
type IssuedToken struct {
	Token  string
	Claims *AccessClaims
}
