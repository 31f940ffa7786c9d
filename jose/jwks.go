package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// MaxJWKSSize bounds a JWKS document NewPublicKeySet and ReloadJWKS accept,
// and what a client should read from the network: latch publishes a few
// keys of well under 1 KiB each, so 1 MiB leaves room for any rotation and
// still stops a hostile or broken server from making us buffer gigabytes.
const MaxJWKSSize = 1 << 20

// maxRSABits bounds the modulus of a fetched RS256 key: verification cost
// grows with it, and no issuer needs more than 8192 bits.
const maxRSABits = 8192

// NewPublicKeySet builds a verification-only KeySet for alg (EdDSA, ES256 or
// RS256) from a JWKS document (RFC 7517 §5), typically the body of an
// issuer's /.well-known/jwks.json. Hand it to NewVerifier like any KeySet;
// Signer.Sign refuses it and KID returns "".
//
// Only keys that fit the pinned algorithm are taken: for EdDSA kty OKP with
// crv Ed25519, for ES256 kty EC with crv P-256 (the point must be on the
// curve), for RS256 kty RSA with a modulus of RSABits to 8192 bits; in every
// case the key's "alg" member must be present and equal alg exactly, "use",
// when present, must be "sig", and "key_ops", when present, must include
// "verify". Keys of any other type (oct keys in particular: a JWKS is public,
// so a symmetric key in it is a secret nobody should trust) or algorithm are
// skipped, so a token can never be checked with a key of another kind, and
// an HS256 token "signed" with a public key's bytes never verifies. Private
// members (d, p, q, k...) are never read: there is no field to decode them
// into.
//
// It fails when the document is not a JWKS, is larger than MaxJWKSSize,
// holds two keys with the same kid (a kid must name one key), holds a key of
// alg's type that is malformed or has no kid, or holds no usable key at all,
// which is what a mismatched --jwt-alg on the issuer looks like. HS256 is
// refused: a shared secret is never published.
func NewPublicKeySet(alg string, jwks []byte) (*KeySet, error) {
	if alg == HS256 {
		return nil, errors.New("jose: HS256 keys are a shared secret, never published in a JWKS")
	}
	method, err := methodFor(alg)
	if err != nil {
		return nil, err
	}
	ks := &KeySet{alg: alg, method: method, public: true}
	if err := ks.ReloadJWKS(jwks); err != nil {
		return nil, err
	}
	return ks, nil
}

// ReloadJWKS replaces the keys of a set made by NewPublicKeySet with those of
// a freshly fetched JWKS document, under the same rules. On error the
// previous keys stay in use, so a broken or truncated fetch never leaves a
// verifier without keys. A key that disappears from the document stops
// verifying at once: latch publishes a retired key for as long as its tokens
// may live, so a key it drops is one nobody should accept any more.
func (ks *KeySet) ReloadJWKS(jwks []byte) error {
	if !ks.public {
		return errors.New("jose: ReloadJWKS needs a key set made by NewPublicKeySet")
	}
	snap, err := ks.buildPublic(jwks)
	if err != nil {
		return err
	}
	ks.swap(snap)
	return nil
}

// jwkIn is a key as read from a JWKS. It has public members only: whatever
// private members a broken issuer might publish are dropped by the decoder.
type jwkIn struct {
	Kty    string   `json:"kty"`
	Crv    string   `json:"crv"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	Kid    string   `json:"kid"`
	Alg    string   `json:"alg"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
}

// ktyFor is the JWK key type and curve each algorithm takes (RFC 7518 §6,
// RFC 8037 §2).
func ktyFor(alg string) (kty, crv string) {
	switch alg {
	case EdDSA:
		return "OKP", "Ed25519"
	case ES256:
		return "EC", "P-256"
	case RS256:
		return "RSA", ""
	}
	return "", ""
}

func (ks *KeySet) buildPublic(doc []byte) (*keySnapshot, error) {
	if len(doc) > MaxJWKSSize {
		return nil, fmt.Errorf("jose: JWKS larger than %d bytes", MaxJWKSSize)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil || set.Keys == nil {
		return nil, errors.New("jose: not a JWKS document (want a JSON object with a \"keys\" array)")
	}
	wantKty, wantCrv := ktyFor(ks.alg)
	snap := &keySnapshot{verify: make(map[string]*verifyKey, len(set.Keys))}
	out := jwkSet{Keys: []jwk{}}
	kids := make(map[string]bool, len(set.Keys))
	for i, raw := range set.Keys {
		// Read the members that decide whether the key is ours leniently:
		// a key of some other type may use names we know with other
		// types, and it is none of our business.
		var head struct {
			Kty any `json:"kty"`
			Kid any `json:"kid"`
			Alg any `json:"alg"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, fmt.Errorf("jose: JWKS key %d is not a JSON object", i)
		}
		if kid, ok := head.Kid.(string); ok && kid != "" {
			if kids[kid] {
				return nil, fmt.Errorf("jose: JWKS has two keys with kid %.40q", kid)
			}
			kids[kid] = true
		}
		if kty, _ := head.Kty.(string); kty != wantKty {
			continue
		}
		if alg, _ := head.Alg.(string); alg != ks.alg {
			continue // another algorithm of the same key type (PS256, ES384 on P-256...), or none named
		}
		var k jwkIn
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, fmt.Errorf("jose: JWKS key %d: a member has the wrong JSON type", i)
		}
		if k.Crv != wantCrv || (k.Use != "" && k.Use != "sig") || (k.KeyOps != nil && !slices.Contains(k.KeyOps, "verify")) {
			continue
		}
		if k.Kid == "" || len(k.Kid) > maxKIDLen {
			return nil, fmt.Errorf("jose: JWKS key %d has no usable kid", i)
		}
		pub, err := k.publicKey()
		if err != nil {
			return nil, fmt.Errorf("jose: JWKS key %.40q: %w", k.Kid, err)
		}
		if !keyFitsAlg(ks.alg, pub) {
			return nil, fmt.Errorf("jose: JWKS key %.40q does not fit %s", k.Kid, ks.alg)
		}
		j, err := publicJWK(k.Kid, ks.alg, pub)
		if err != nil {
			return nil, fmt.Errorf("jose: JWKS key %.40q: %w", k.Kid, err)
		}
		snap.verify[k.Kid] = &verifyKey{key: pub}
		out.Keys = append(out.Keys, j)
	}
	if len(snap.verify) == 0 {
		return nil, fmt.Errorf("jose: the JWKS has no %s key (is the issuer's --jwt-alg %s?)", ks.alg, ks.alg)
	}
	var err error
	if snap.jwks, err = json.Marshal(out); err != nil {
		return nil, fmt.Errorf("jose: encode JWKS: %w", err)
	}
	return snap, nil
}

// publicKey decodes the key material of a JWK whose kty and crv were
// already checked.
func (k *jwkIn) publicKey() (crypto.PublicKey, error) {
	switch k.Kty {
	case "OKP":
		x, err := b64Member("x", k.X)
		if err != nil {
			return nil, err
		}
		if len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("x is %d bytes, want %d", len(x), ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(x), nil
	case "EC":
		x, err := b64Member("x", k.X)
		if err != nil {
			return nil, err
		}
		y, err := b64Member("y", k.Y)
		if err != nil {
			return nil, err
		}
		// RFC 7518 §6.2.1.2: exactly the size of the field, leading zeros kept.
		if len(x) != 32 || len(y) != 32 {
			return nil, errors.New("x and y must be 32 bytes each")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, errors.New("not a point on P-256")
		}
		return pub, nil
	case "RSA":
		n, err := b64Member("n", k.N)
		if err != nil {
			return nil, err
		}
		e, err := b64Member("e", k.E)
		if err != nil {
			return nil, err
		}
		if len(n) == 0 || n[0] == 0 {
			return nil, errors.New("n is empty or not minimal")
		}
		if len(e) == 0 || len(e) > 4 || e[0] == 0 {
			return nil, errors.New("e is empty, not minimal or too large")
		}
		var exp int64
		for _, b := range e {
			exp = exp<<8 | int64(b)
		}
		// An even or tiny exponent is not an RSA key anyone generates;
		// crypto/rsa would refuse to verify with it anyway.
		if exp < 3 || exp&1 == 0 || exp > 1<<31-1 {
			return nil, fmt.Errorf("e = %d is not a usable exponent", exp)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}
		if bits := pub.N.BitLen(); bits < RSABits || bits > maxRSABits {
			return nil, fmt.Errorf("modulus of %d bits, want %d to %d", bits, RSABits, maxRSABits)
		}
		return pub, nil
	}
	return nil, fmt.Errorf("unsupported kty %q", k.Kty)
}

// b64Member decodes a base64url member strictly: no padding, no standard
// alphabet, no line breaks (which encoding/base64 would otherwise skip), no
// stray bits, so each key has a single spelling.
func b64Member(name, s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("%s is missing", name)
	}
	if strings.ContainsAny(s, "\r\n=") {
		return nil, fmt.Errorf("%s is not base64url", name)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s is not base64url", name)
	}
	return b, nil
}
