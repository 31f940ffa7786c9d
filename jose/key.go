package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latch-dev/latch"
)

// Algorithm names, as they appear in the JWS "alg" header, in
// latch.SigningKey.Alg and in --jwt-alg. They are compared case-sensitively
// (RFC 7515 §4.1.1), so "eddsa" or "NONE" never match.
const (
	EdDSA = "EdDSA"
	ES256 = "ES256"
	RS256 = "RS256"
	HS256 = "HS256"
)

// RSABits is the modulus size of generated RS256 keys, and the smallest one
// a stored key may have: 2048 is the NIST floor through 2030 and keeps RS256
// signing, the expensive side, affordable.
const RSABits = 2048

// MinHMACSecret is the shortest --hs256-secret accepted, in bytes: HS256
// must not be weaker than its 256-bit hash (RFC 7518 §3.2).
const MinHMACSecret = 32

// methodFor returns golang-jwt's implementation of alg. It uses the package
// variables rather than jwt.GetSigningMethod so that an entry another package
// registers under the same name can never replace the one we verify with.
func methodFor(alg string) (jwt.SigningMethod, error) {
	switch alg {
	case EdDSA:
		return jwt.SigningMethodEdDSA, nil
	case ES256:
		return jwt.SigningMethodES256, nil
	case RS256:
		return jwt.SigningMethodRS256, nil
	case HS256:
		return jwt.SigningMethodHS256, nil
	}
	return nil, fmt.Errorf("jose: unsupported algorithm %q (want %s, %s, %s or %s)", alg, EdDSA, ES256, RS256, HS256)
}

// GenerateKey returns a fresh signing key for alg (EdDSA, ES256 or RS256)
// created at now, with its private part unsealed: pass it through
// Sealer.Seal before storing when a master key is configured. The kid is 128
// random bits, so keys made by instances that start together never collide
// (KeyStore.InitKey then keeps one of them). HS256 has no stored key: its
// secret comes from --hs256-secret.
func GenerateKey(alg string, now time.Time) (*latch.SigningKey, error) {
	var priv crypto.Signer
	switch alg {
	case EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("jose: generate %s key: %w", alg, err)
		}
		priv = k
	case ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("jose: generate %s key: %w", alg, err)
		}
		priv = k
	case RS256:
		k, err := rsa.GenerateKey(rand.Reader, RSABits)
		if err != nil {
			return nil, fmt.Errorf("jose: generate %s key: %w", alg, err)
		}
		priv = k
	case HS256:
		return nil, errors.New("jose: HS256 uses --hs256-secret, not a generated key")
	default:
		return nil, fmt.Errorf("jose: unsupported algorithm %q", alg)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("jose: encode %s private key: %w", alg, err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("jose: encode %s public key: %w", alg, err)
	}
	return &latch.SigningKey{
		ID:        newKID(),
		Alg:       alg,
		Private:   privDER,
		Public:    pubDER,
		CreatedAt: now,
	}, nil
}

// newKID returns 128 random bits in base64url: unguessable is not needed,
// unique across instances and restarts is.
func newKID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// parsePublic decodes a stored PKIX public key and checks that it is the
// kind of key alg needs, so a row with a mismatched Alg cannot smuggle, say,
// an RSA key into an EdDSA key set.
func parsePublic(alg string, der []byte) (crypto.PublicKey, error) {
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, err
	}
	if !keyFitsAlg(alg, pub) {
		return nil, fmt.Errorf("public key of type %T does not fit %s", pub, alg)
	}
	return pub, nil
}

// parsePrivate decodes a PKCS#8 private key, checks its type against alg and
// that it matches the stored public key: a row whose halves disagree would
// sign tokens nobody can verify.
func parsePrivate(alg string, der []byte, pub crypto.PublicKey) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok || !keyFitsAlg(alg, signer.Public()) {
		return nil, fmt.Errorf("private key of type %T does not fit %s", k, alg)
	}
	eq, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !eq.Equal(pub) {
		return nil, errors.New("private key does not match the public key")
	}
	return signer, nil
}

// keyFitsAlg reports whether a verification key has the type and size alg
// requires. The keyfunc checks it on every verification: this is what makes
// key confusion impossible even if the header checks were ever bypassed,
// since an HMAC key is only ever a []byte and a public key never is.
func keyFitsAlg(alg string, key any) bool {
	switch alg {
	case EdDSA:
		k, ok := key.(ed25519.PublicKey)
		return ok && len(k) == ed25519.PublicKeySize
	case ES256:
		k, ok := key.(*ecdsa.PublicKey)
		return ok && k.Curve == elliptic.P256()
	case RS256:
		k, ok := key.(*rsa.PublicKey)
		return ok && k.N.BitLen() >= RSABits
	case HS256:
		k, ok := key.([]byte)
		return ok && len(k) >= MinHMACSecret
	}
	return false
}
