package latch

import (
	"context"
	"time"
)

// SigningKey is one asymmetric token-signing key as stored. Private is a
// PKCS#8 DER key, sealed (encrypted) when a master key is configured; Public
// is the PKIX DER public key.
type SigningKey struct {
	ID        string // the JWS kid
	Alg       string // EdDSA, ES256 or RS256
	Private   []byte
	Sealed    bool // Private is encrypted with the master key
	Public    []byte
	CreatedAt time.Time
	RetiredAt time.Time // zero while it signs; then published until RetiredAt + access TTL
}

// KeyStore persists signing keys, shared by every instance on one database.
type KeyStore interface {
	// Keys returns every stored key, newest first.
	Keys(ctx context.Context) ([]*SigningKey, error)
	// InitKey stores k unless an unretired key of k.Alg exists, and returns
	// the key that signs from now on (k or the existing one). Instances that
	// start together on one database agree on one key.
	InitKey(ctx context.Context, k *SigningKey) (*SigningKey, error)
	// RotateKey retires every unretired key of k.Alg at k.CreatedAt and
	// stores k, atomically.
	RotateKey(ctx context.Context, k *SigningKey) error
	// DeleteKeysRetiredBefore removes keys retired before t.
	DeleteKeysRetiredBefore(ctx context.Context, t time.Time) (int, error)
}
