package jose

import (
	"bytes"
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latch-dev/latch"
)

// KeySetConfig configures NewKeySet. The zero value of each field but
// AccessTTL means its default.
type KeySetConfig struct {
	// Alg is the one algorithm tokens are signed and verified with: EdDSA
	// (the default when empty), ES256 or RS256. Stored keys of any other
	// algorithm are ignored, so switching --jwt-alg never lets an old
	// algorithm back in. HS256 key sets come from NewHMACKeySet.
	Alg string
	// AccessTTL is the access token lifetime. A retired key stays published
	// and accepted until RetiredAt + AccessTTL, when the last token it can
	// have signed has expired.
	AccessTTL time.Duration
	// Sealer opens sealed private keys; nil when no --master-key is set.
	Sealer *Sealer
	// Now returns the current time; it defaults to time.Now. It decides,
	// at each Reload, which retired keys are still published.
	Now func() time.Time
}

// KeySet holds the key that signs and the keys that verify, built from the
// stored signing keys: the current key is the newest unretired key of the
// configured algorithm; the published keys are every unretired key of that
// algorithm (another instance may not have reloaded yet) plus the retired
// ones whose RetiredAt + AccessTTL is still ahead.
//
// It is safe for concurrent use. Reload builds a new immutable snapshot and
// swaps it in atomically, so signing and verification never take a lock.
type KeySet struct {
	alg    string
	method jwt.SigningMethod
	cfg    KeySetConfig // zero for an HMAC set
	hmac   bool
	public bool // built from a fetched JWKS (NewPublicKeySet): verifies only
	snap   atomic.Pointer[keySnapshot]
}

// keySnapshot is one immutable generation of a KeySet.
type keySnapshot struct {
	sign   *signKey
	verify map[string]*verifyKey // by kid
	jwks   []byte
}

// signKey is the current signing key with its encoded JWS header, which is
// the same for every token it signs and so is built once.
type signKey struct {
	kid    string
	key    any // crypto.Signer, or []byte for HS256
	header string
}

// verifyKey is one key a token may name in its kid.
type verifyKey struct {
	key      any       // ed25519.PublicKey, *ecdsa.PublicKey, *rsa.PublicKey or []byte
	notAfter time.Time // zero while unretired; RetiredAt + AccessTTL after
}

// NewKeySet builds a key set for cfg.Alg from the stored keys. It fails when
// no unretired key of that algorithm exists, when the current key's private
// part does not open (see Sealer.Open) or does not match its public part, or
// when a published key is malformed: a broken key row is refused at start,
// not discovered by a user.
func NewKeySet(cfg KeySetConfig, keys []*latch.SigningKey) (*KeySet, error) {
	if cfg.Alg == "" {
		cfg.Alg = EdDSA
	}
	if cfg.Alg == HS256 {
		return nil, errors.New("jose: HS256 key sets come from NewHMACKeySet")
	}
	method, err := methodFor(cfg.Alg)
	if err != nil {
		return nil, err
	}
	if cfg.AccessTTL <= 0 {
		return nil, errors.New("jose: KeySetConfig.AccessTTL must be positive")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ks := &KeySet{alg: cfg.Alg, method: method, cfg: cfg}
	if err := ks.Reload(keys); err != nil {
		return nil, err
	}
	return ks, nil
}

// NewHMACKeySet builds the HS256 key set from --hs256-secret. The secret
// must be at least MinHMACSecret bytes. Its kid is derived from an HMAC of
// the secret, so it is stable across instances and restarts yet reveals
// nothing about the secret. It publishes no JWKS (a shared secret is not
// public) and cannot be reloaded.
func NewHMACKeySet(secret []byte) (*KeySet, error) {
	if len(secret) < MinHMACSecret {
		return nil, fmt.Errorf("jose: --hs256-secret must be at least %d bytes, got %d", MinHMACSecret, len(secret))
	}
	key := bytes.Clone(secret)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("latch hs256 kid v1"))
	kid := base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
	header, err := encodeHeader(HS256, kid)
	if err != nil {
		return nil, err
	}
	ks := &KeySet{alg: HS256, method: jwt.SigningMethodHS256, hmac: true}
	ks.snap.Store(&keySnapshot{
		sign:   &signKey{kid: kid, key: key, header: header},
		verify: map[string]*verifyKey{kid: {key: key}},
		jwks:   []byte(`{"keys":[]}`),
	})
	return ks, nil
}

// Alg returns the one algorithm this set signs and accepts.
func (ks *KeySet) Alg() string { return ks.alg }

// KID returns the kid of the current signing key, for logs and the
// `latch keys` command; "" for a verification-only set (NewPublicKeySet).
func (ks *KeySet) KID() string {
	if sk := ks.snap.Load().sign; sk != nil {
		return sk.kid
	}
	return ""
}

// JWKS returns the JSON Web Key Set to serve at /.well-known/jwks.json:
// {"keys":[...]} with public members only, current key first. It is
// computed at Reload; the returned slice is the caller's to keep.
func (ks *KeySet) JWKS() []byte { return bytes.Clone(ks.snap.Load().jwks) }

// Reload rebuilds the set from the stored keys (KeyStore.Keys), typically
// after a rotation or periodically so every instance learns of new and
// retired keys. On error the previous set stays in use.
func (ks *KeySet) Reload(keys []*latch.SigningKey) error {
	if ks.hmac {
		return errors.New("jose: an HS256 key set has no stored keys to reload")
	}
	if ks.public {
		return errors.New("jose: a key set built from a JWKS reloads with ReloadJWKS")
	}
	snap, err := ks.build(keys, ks.cfg.Now())
	if err != nil {
		return err
	}
	ks.swap(snap)
	return nil
}

// swap installs snap unless it holds exactly the keys already in force, so
// that a periodic reload that finds nothing new keeps the current snapshot
// (and the verified-token caches tied to it).
func (ks *KeySet) swap(snap *keySnapshot) {
	if old := ks.snap.Load(); old != nil && old.same(snap) {
		return
	}
	ks.snap.Store(snap)
}

// same reports whether a and b sign with the same key and verify with the
// same keys under the same deadlines.
func (a *keySnapshot) same(b *keySnapshot) bool {
	if !bytes.Equal(a.jwks, b.jwks) || (a.sign == nil) != (b.sign == nil) || len(a.verify) != len(b.verify) {
		return false
	}
	if a.sign != nil && a.sign.kid != b.sign.kid {
		return false
	}
	for kid, ka := range a.verify {
		kb, ok := b.verify[kid]
		if !ok || !ka.notAfter.Equal(kb.notAfter) {
			return false
		}
	}
	return true
}

func (ks *KeySet) build(keys []*latch.SigningKey, now time.Time) (*keySnapshot, error) {
	var mine []*latch.SigningKey
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if k == nil || k.Alg != ks.alg {
			continue
		}
		if k.ID == "" {
			return nil, fmt.Errorf("jose: a stored %s signing key has no kid", ks.alg)
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("jose: two stored signing keys share kid %s", k.ID)
		}
		seen[k.ID] = true
		mine = append(mine, k)
	}
	// Newest first, unretired before retired, so the current key leads the
	// JWKS; kid breaks ties so every instance picks the same current key.
	slices.SortFunc(mine, func(a, b *latch.SigningKey) int {
		if ar, br := !a.RetiredAt.IsZero(), !b.RetiredAt.IsZero(); ar != br {
			if ar {
				return 1
			}
			return -1
		}
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	if len(mine) == 0 || !mine[0].RetiredAt.IsZero() {
		return nil, fmt.Errorf("jose: no unretired %s signing key is stored", ks.alg)
	}

	snap := &keySnapshot{verify: make(map[string]*verifyKey, len(mine))}
	set := jwkSet{Keys: []jwk{}}
	for _, k := range mine {
		var notAfter time.Time
		if !k.RetiredAt.IsZero() {
			notAfter = k.RetiredAt.Add(ks.cfg.AccessTTL)
			if !now.Before(notAfter) {
				continue // every token it signed has expired
			}
		}
		pub, err := parsePublic(ks.alg, k.Public)
		if err != nil {
			return nil, fmt.Errorf("jose: signing key %s: %w", k.ID, err)
		}
		j, err := publicJWK(k.ID, ks.alg, pub)
		if err != nil {
			return nil, fmt.Errorf("jose: signing key %s: %w", k.ID, err)
		}
		snap.verify[k.ID] = &verifyKey{key: pub, notAfter: notAfter}
		set.Keys = append(set.Keys, j)
	}

	cur := mine[0]
	opened, err := ks.cfg.Sealer.Open(cur)
	if err != nil {
		return nil, err
	}
	priv, err := parsePrivate(ks.alg, opened.Private, snap.verify[cur.ID].key)
	if err != nil {
		return nil, fmt.Errorf("jose: signing key %s: %w", cur.ID, err)
	}
	header, err := encodeHeader(ks.alg, cur.ID)
	if err != nil {
		return nil, err
	}
	snap.sign = &signKey{kid: cur.ID, key: priv, header: header}
	if snap.jwks, err = json.Marshal(set); err != nil {
		return nil, fmt.Errorf("jose: encode JWKS: %w", err)
	}
	return snap, nil
}

// encodeHeader returns the base64url JWS header of every token signed by
// kid: exactly alg, typ and kid (RFC 9068 §2.1), nothing a verifier could be
// tempted to act on.
func encodeHeader(alg, kid string) (string, error) {
	b, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	}{alg, typAccessToken, kid})
	if err != nil {
		return "", fmt.Errorf("jose: encode header: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// jwkSet is the JSON shape of a JWKS (RFC 7517 §5).
type jwkSet struct {
	Keys []jwk `json:"keys"`
}

// jwk has public members only: there is no field a private part could
// leak into.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// publicJWK encodes a public key as a JWK (RFC 7518 §6, RFC 8037 §2).
func publicJWK(kid, alg string, pub crypto.PublicKey) (jwk, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	j := jwk{Kid: kid, Alg: alg, Use: "sig"}
	switch k := pub.(type) {
	case ed25519.PublicKey:
		j.Kty, j.Crv, j.X = "OKP", "Ed25519", b64(k)
	case *ecdsa.PublicKey:
		pt, err := k.Bytes() // 0x04 || X || Y, each 32 bytes for P-256
		if err != nil || len(pt) != 65 {
			return jwk{}, fmt.Errorf("encode P-256 public key: %v", err)
		}
		j.Kty, j.Crv, j.X, j.Y = "EC", "P-256", b64(pt[1:33]), b64(pt[33:])
	case *rsa.PublicKey:
		e := []byte{byte(k.E >> 24), byte(k.E >> 16), byte(k.E >> 8), byte(k.E)}
		for len(e) > 1 && e[0] == 0 {
			e = e[1:] // minimal big-endian, as RFC 7518 §6.3.1.2 asks
		}
		j.Kty, j.N, j.E = "RSA", b64(k.N.Bytes()), b64(e)
	default:
		return jwk{}, fmt.Errorf("no JWK encoding for %T", pub)
	}
	return j, nil
}
