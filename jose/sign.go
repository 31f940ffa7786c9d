package jose

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/latch-dev/latch"
)

// typAccessToken is the JWS typ of every access token (RFC 9068 §2.1). It
// keeps access tokens apart from every other JWT: a verifier that requires
// it never takes an ID token, a refresh token or a CSRF token for one.
const typAccessToken = "at+jwt"

var _ latch.TokenSigner = (*Signer)(nil)

// Signer signs access tokens with the current key of a KeySet. It is safe
// for concurrent use and picks up a Reload on the next token.
type Signer struct {
	keys *KeySet
}

// NewSigner returns a Signer over keys.
func NewSigner(keys *KeySet) *Signer {
	return &Signer{keys: keys}
}

// wireClaims is the exact payload of an access token, in a fixed order and
// with nothing else: the fewer claims, the less a token says to whoever
// holds it (no email, no PII).
type wireClaims struct {
	Iss  string `json:"iss"`
	Sub  string `json:"sub"`
	Aud  any    `json:"aud"` // a string for one audience, else an array (RFC 7519 §4.1.3)
	Exp  int64  `json:"exp"`
	Iat  int64  `json:"iat"`
	Nbf  *int64 `json:"nbf,omitempty"`
	Jti  string `json:"jti"`
	Sid  string `json:"sid"`
	Role string `json:"role"`
	// amr and auth_time (API.md §8): how and when the login behind the
	// token happened.
	AMR      []string `json:"amr,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
}

// Sign implements latch.TokenSigner: a compact JWS whose header is exactly
// {"alg","typ":"at+jwt","kid"} and whose claims are iss, sub, aud, exp, iat,
// nbf (only when set), jti, sid, role, and amr and auth_time (when set). Times are whole seconds. It refuses
// claims a Verifier would refuse, so a bug upstream fails here, loudly,
// rather than at every client.
func (s *Signer) Sign(_ context.Context, c *latch.AccessClaims) (string, error) {
	if err := checkClaims(c); err != nil {
		return "", err
	}
	w := wireClaims{
		Iss:  c.Issuer,
		Sub:  c.Subject,
		Exp:  c.ExpiresAt.Unix(),
		Iat:  c.IssuedAt.Unix(),
		Jti:  c.ID,
		Sid:  c.SessionID,
		Role: c.Role,
		AMR:  c.AMR,
	}
	if !c.AuthTime.IsZero() {
		w.AuthTime = c.AuthTime.Unix()
	}
	if len(c.Audience) == 1 {
		w.Aud = c.Audience[0]
	} else {
		w.Aud = c.Audience
	}
	if !c.NotBefore.IsZero() {
		nbf := c.NotBefore.Unix()
		w.Nbf = &nbf
	}
	payload, err := json.Marshal(&w)
	if err != nil {
		return "", fmt.Errorf("jose: encode claims: %w", err)
	}

	key := s.keys.snap.Load().sign
	if key == nil {
		return "", errors.New("jose: sign: this key set holds public keys only (NewPublicKeySet)")
	}
	enc := base64.RawURLEncoding
	var b strings.Builder
	b.Grow(len(key.header) + 1 + enc.EncodedLen(len(payload)) + 1 + enc.EncodedLen(512))
	b.WriteString(key.header)
	b.WriteByte('.')
	b.WriteString(enc.EncodeToString(payload))
	sig, err := s.keys.method.Sign(b.String(), key.key)
	if err != nil {
		return "", fmt.Errorf("jose: sign with key %s: %w", key.kid, err)
	}
	b.WriteByte('.')
	b.WriteString(enc.EncodeToString(sig))
	return b.String(), nil
}

// checkClaims refuses access claims that no Verifier would accept.
func checkClaims(c *latch.AccessClaims) error {
	switch {
	case c == nil:
		return errors.New("jose: sign: nil claims")
	case c.Issuer == "":
		return errors.New("jose: sign: empty issuer")
	case c.Subject == "" || c.ID == "" || c.SessionID == "":
		return errors.New("jose: sign: sub, jti and sid are required")
	case len(c.Audience) == 0 || slices.Contains(c.Audience, ""):
		return errors.New("jose: sign: audience missing or empty")
	case c.IssuedAt.IsZero() || c.ExpiresAt.IsZero():
		return errors.New("jose: sign: iat and exp are required")
	case !c.ExpiresAt.After(c.IssuedAt):
		return errors.New("jose: sign: exp must be after iat")
	}
	return nil
}
