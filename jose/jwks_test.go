package jose_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/jose"
)

// serverKeys is what an issuer publishes: k1 current, k0 retired but still
// within the access token lifetime, so both are in its JWKS.
func serverKeys(t *testing.T, alg string) (ks *jose.KeySet, k0, k1 *latch.SigningKey) {
	t.Helper()
	k0, k1 = MustKey(t, alg, 0), MustKey(t, alg, 1)
	k0.RetiredAt = t0.Add(2 * time.Hour)
	ks, err := jose.NewKeySet(jose.KeySetConfig{
		Alg: alg, AccessTTL: testTTL, Now: func() time.Time { return k0.RetiredAt },
	}, []*latch.SigningKey{k0, k1})
	if err != nil {
		t.Fatal(err)
	}
	return ks, k0, k1
}

// MustPublicKeySet calls jose.NewPublicKeySet and fails the test on error.
func MustPublicKeySet(t *testing.T, alg string, doc []byte) *jose.KeySet {
	t.Helper()
	ks, err := jose.NewPublicKeySet(alg, doc)
	if err != nil {
		t.Fatalf("NewPublicKeySet(%s, %s): %v", alg, doc, err)
	}
	return ks
}

// publicVerifier is a verifier over a key set fetched as JWKS, at f's clock.
func publicVerifier(t *testing.T, ks *jose.KeySet, now time.Time) *jose.Verifier {
	t.Helper()
	v, err := jose.NewVerifier(ks, testIssuer, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	v.Now = func() time.Time { return now }
	return v
}

// jwksEntries decodes a JWKS into generic members, for tests that add keys.
func jwksEntries(t *testing.T, doc []byte) []obj {
	t.Helper()
	var set struct {
		Keys []obj `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatal(err)
	}
	return set.Keys
}

func jwksDoc(t *testing.T, keys ...obj) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signWith signs the fixture's standard claims with a stored key.
func signWith(t *testing.T, alg string, k *latch.SigningKey, now time.Time) string {
	t.Helper()
	priv, _ := mustParse(t, k)
	p := obj{
		"iss": testIssuer, "sub": "user-1", "aud": testAudience,
		"exp": now.Add(testTTL).Unix(), "iat": now.Unix(),
		"jti": "jti-1", "sid": "sid-1", "role": "user",
	}
	return craft(t, methodOf(alg), priv, obj{"alg": alg, "typ": "at+jwt", "kid": k.ID}, p)
}

// TestNewPublicKeySet_RoundTrip: a verifier built from the JWKS a server
// KeySet publishes accepts exactly the tokens the server's own verifier
// accepts, for every key the server publishes, and cannot sign.
func TestNewPublicKeySet_RoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, alg := range asymmetric {
		t.Run(alg, func(t *testing.T) {
			server, k0, k1 := serverKeys(t, alg)
			pub := MustPublicKeySet(t, alg, server.JWKS())
			now := k0.RetiredAt
			v := publicVerifier(t, pub, now)

			if got, want := string(pub.JWKS()), string(server.JWKS()); got != want {
				t.Errorf("re-published JWKS = %s, want the server's %s", got, want)
			}
			if pub.Alg() != alg {
				t.Errorf("Alg = %s", pub.Alg())
			}
			tok, err := jose.NewSigner(server).Sign(ctx, &latch.AccessClaims{
				Issuer: testIssuer, Subject: "user-1", Audience: []string{testAudience},
				IssuedAt: now, ExpiresAt: now.Add(testTTL), ID: "jti-1", SessionID: "sid-1", Role: "admin",
			})
			if err != nil {
				t.Fatal(err)
			}
			c, err := v.Verify(ctx, tok)
			if err != nil {
				t.Fatalf("token of the current key: %v", err)
			}
			if c.Subject != "user-1" || c.Role != "admin" || c.SessionID != "sid-1" || c.ID != "jti-1" {
				t.Errorf("claims = %+v", c)
			}
			if _, err := v.Verify(ctx, signWith(t, alg, k0, now)); err != nil {
				t.Errorf("token of the retired, still published key: %v", err)
			}
			if _, err := v.Verify(ctx, signWith(t, alg, k1, now)); err != nil {
				t.Errorf("token of k1: %v", err)
			}
			stranger := MustKey(t, alg, 2)
			if _, err := v.Verify(ctx, signWith(t, alg, stranger, now)); !errors.Is(err, jose.ErrKid) {
				t.Errorf("token of an unpublished key: %v, want ErrKid", err)
			}

			if pub.KID() != "" {
				t.Errorf("KID = %q, want \"\" for a verification-only set", pub.KID())
			}
			if _, err := jose.NewSigner(pub).Sign(ctx, &latch.AccessClaims{
				Issuer: testIssuer, Subject: "u", Audience: []string{testAudience},
				IssuedAt: now, ExpiresAt: now.Add(time.Minute), ID: "j", SessionID: "s",
			}); err == nil {
				t.Error("a public key set signed a token")
			}
			if err := pub.Reload([]*latch.SigningKey{k1}); err == nil {
				t.Error("Reload from stored keys worked on a public key set")
			}
			if err := server.ReloadJWKS(server.JWKS()); err == nil {
				t.Error("ReloadJWKS worked on a server key set")
			}
		})
	}
}

// TestKeySet_ReloadJWKS: a new key is picked up, a dropped one stops
// verifying, and a broken document leaves the previous keys in place.
func TestKeySet_ReloadJWKS(t *testing.T) {
	ctx := context.Background()
	alg := jose.EdDSA
	server, k0, k1 := serverKeys(t, alg)
	now := k0.RetiredAt
	entries := jwksEntries(t, server.JWKS()) // [k1, k0]

	pub := MustPublicKeySet(t, alg, jwksDoc(t, entries[1])) // k0 only
	v := publicVerifier(t, pub, now)
	tok1 := signWith(t, alg, k1, now)
	if _, err := v.Verify(ctx, tok1); !errors.Is(err, jose.ErrKid) {
		t.Fatalf("before reload: %v, want ErrKid", err)
	}
	if err := pub.ReloadJWKS(jwksDoc(t, entries[0])); err != nil { // k1 only
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, tok1); err != nil {
		t.Errorf("after reload, the new key: %v", err)
	}
	if _, err := v.Verify(ctx, signWith(t, alg, k0, now)); !errors.Is(err, jose.ErrKid) {
		t.Errorf("after reload, the dropped key: %v, want ErrKid", err)
	}
	for _, bad := range []string{`{"keys":[]}`, `not json`, `{"keys":[{"kty":"OKP"`} {
		if err := pub.ReloadJWKS([]byte(bad)); err == nil {
			t.Errorf("ReloadJWKS(%s) succeeded", bad)
		}
	}
	if _, err := v.Verify(ctx, tok1); err != nil {
		t.Errorf("a failed reload changed the keys: %v", err)
	}
}

// TestNewPublicKeySet_Filter: only keys of the pinned algorithm's type,
// curve and alg are taken; tokens naming any other key are refused for
// their kid, whatever their header says.
func TestNewPublicKeySet_Filter(t *testing.T) {
	ctx := context.Background()
	server, k0, _ := serverKeys(t, jose.EdDSA)
	now := k0.RetiredAt
	good := jwksEntries(t, server.JWKS())[0]
	ec := jwksEntries(t, mustServerJWKS(t, jose.ES256))[0]
	rsaKey := jwksEntries(t, mustServerJWKS(t, jose.RS256))[0]

	x25519 := good.with("crv", "X25519", "kid", "x25519")
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pt, _ := p384.PublicKey.Bytes()
	ec384 := obj{"kty": "EC", "crv": "P-384", "x": b64(pt[1:49]), "y": b64(pt[49:]), "kid": "p384", "alg": "ES384", "use": "sig"}
	doc := jwksDoc(t,
		good,
		ec, rsaKey, x25519, ec384,
		good.with("kid", "no-alg", "alg", del),
		good.with("kid", "other-alg", "alg", "ES256"),
		good.with("kid", "enc", "use", "enc"),
		good.with("kid", "wrap-only", "key_ops", []string{"wrapKey"}),
		obj{"kty": "oct", "k": b64(testSecret), "kid": "hmac", "alg": "HS256"},
		obj{"kty": "future", "kid": "odd", "x": 42},
	)
	pub := MustPublicKeySet(t, jose.EdDSA, doc)
	if got := jwksKids(t, pub); len(got) != 1 || got[0] != good["kid"] {
		t.Fatalf("kept kids %v, want only %v", got, good["kid"])
	}
	v := publicVerifier(t, pub, now)
	priv, _ := mustParse(t, MustKey(t, jose.EdDSA, 1))
	for _, kid := range []string{"no-alg", "other-alg", "enc", "wrap-only", "x25519"} {
		tok := craft(t, methodOf(jose.EdDSA), priv, obj{"alg": jose.EdDSA, "typ": "at+jwt", "kid": kid}, payloadAt(now))
		if _, err := v.Verify(ctx, tok); !errors.Is(err, jose.ErrKid) {
			t.Errorf("token naming the skipped key %s: %v, want ErrKid", kid, err)
		}
	}

	// The same document read for ES256 and RS256 keeps their keys only.
	for alg, want := range map[string]any{jose.ES256: ec["kid"], jose.RS256: rsaKey["kid"]} {
		if got := jwksKids(t, MustPublicKeySet(t, alg, doc)); len(got) != 1 || got[0] != want {
			t.Errorf("%s kept %v, want [%v]", alg, got, want)
		}
	}
}

func payloadAt(now time.Time) obj {
	return obj{
		"iss": testIssuer, "sub": "user-1", "aud": testAudience,
		"exp": now.Add(testTTL).Unix(), "iat": now.Unix(),
		"jti": "jti-1", "sid": "sid-1", "role": "user",
	}
}

func mustServerJWKS(t *testing.T, alg string) []byte {
	t.Helper()
	ks, _, _ := serverKeys(t, alg)
	return ks.JWKS()
}

// TestNewPublicKeySet_KeyConfusion (SECURITY 13, 14): with keys taken from a
// JWKS, an HS256 token is refused whatever it was signed with (a published
// oct key, the public key's JWK, raw or DER bytes), and a key published
// under one type never verifies tokens of another algorithm.
func TestNewPublicKeySet_KeyConfusion(t *testing.T) {
	ctx := context.Background()
	for _, alg := range asymmetric {
		t.Run(alg, func(t *testing.T) {
			server, k0, k1 := serverKeys(t, alg)
			now := k0.RetiredAt
			entries := jwksEntries(t, server.JWKS())
			secret := []byte(strings.Repeat("s", 40))
			doc := jwksDoc(t, append(entries, obj{"kty": "oct", "k": b64(secret), "kid": "hmac", "alg": "HS256", "use": "sig"})...)
			v := publicVerifier(t, MustPublicKeySet(t, alg, doc), now)

			_, pubKey := mustParse(t, k1)
			der, err := x509.MarshalPKIXPublicKey(pubKey)
			if err != nil {
				t.Fatal(err)
			}
			jwkJSON, _ := json.Marshal(entries[0])
			var rawPub []byte
			switch k := pubKey.(type) {
			case ed25519.PublicKey:
				rawPub = k
			case *ecdsa.PublicKey:
				rawPub, _ = k.Bytes()
			case *rsa.PublicKey:
				rawPub = k.N.Bytes()
			}
			cases := map[string]struct {
				kid string
				key []byte
			}{
				"published oct key":  {"hmac", secret},
				"public key as JWK":  {k1.ID, jwkJSON},
				"public key as DER":  {k1.ID, der},
				"public key raw":     {k1.ID, rawPub},
				"whole JWKS as HMAC": {k1.ID, doc},
			}
			for name, tc := range cases {
				tok := craft(t, jwt.SigningMethodHS256, tc.key, obj{"alg": "HS256", "typ": "at+jwt", "kid": tc.kid}, payloadAt(now))
				if _, err := v.Verify(ctx, tok); !errors.Is(err, jose.ErrAlgorithm) {
					t.Errorf("%s: %v, want ErrAlgorithm", name, err)
				}
			}

			// A real key of this algorithm relabelled as another key type
			// is skipped, not reinterpreted.
			relabelled := entries[0].with("kty", map[string]string{jose.EdDSA: "EC", jose.ES256: "OKP", jose.RS256: "OKP"}[alg])
			if _, err := jose.NewPublicKeySet(alg, jwksDoc(t, relabelled)); err == nil {
				t.Error("a key with the wrong kty was accepted")
			}
			other := otherAlg(alg)
			if _, err := jose.NewPublicKeySet(other, server.JWKS()); err == nil {
				t.Errorf("a %s set took keys from a %s JWKS", other, alg)
			}
		})
	}
}

// TestNewPublicKeySet_PrivateMembers: private members a broken issuer might
// publish are neither used nor re-published.
func TestNewPublicKeySet_PrivateMembers(t *testing.T) {
	server, k0, _ := serverKeys(t, jose.EdDSA)
	priv, _ := mustParse(t, k0)
	entry := jwksEntries(t, server.JWKS())[1].with("d", b64(priv.(ed25519.PrivateKey).Seed()))
	pub := MustPublicKeySet(t, jose.EdDSA, jwksDoc(t, entry))
	if strings.Contains(string(pub.JWKS()), `"d"`) {
		t.Errorf("private member re-published: %s", pub.JWKS())
	}
	if _, err := jose.NewSigner(pub).Sign(context.Background(), &latch.AccessClaims{
		Issuer: testIssuer, Subject: "u", Audience: []string{testAudience},
		IssuedAt: t0, ExpiresAt: t0.Add(time.Minute), ID: "j", SessionID: "s",
	}); err == nil {
		t.Error("a public key set signed with a published private member")
	}
}

// TestNewPublicKeySet_Errors: documents that cannot be trusted whole are
// refused rather than partly used.
func TestNewPublicKeySet_Errors(t *testing.T) {
	ed := jwksEntries(t, mustServerJWKS(t, jose.EdDSA))[0]
	ec := jwksEntries(t, mustServerJWKS(t, jose.ES256))[0]
	rs := jwksEntries(t, mustServerJWKS(t, jose.RS256))[0]
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	offCurve := ec.with("y", b64(make([]byte, 32)))
	cases := []struct {
		name string
		alg  string
		doc  []byte
	}{
		{"HS256", jose.HS256, []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"a","alg":"HS256"}]}`)},
		{"unknown alg", "none", jwksDoc(t, ed)},
		{"not JSON", jose.EdDSA, []byte(`<html>`)},
		{"no keys member", jose.EdDSA, []byte(`{}`)},
		{"keys not an array", jose.EdDSA, []byte(`{"keys":{}}`)},
		{"key not an object", jose.EdDSA, []byte(`{"keys":[1]}`)},
		{"empty", jose.EdDSA, []byte(`{"keys":[]}`)},
		{"too large", jose.EdDSA, []byte(`{"keys":[` + strings.Repeat(" ", jose.MaxJWKSSize) + `]}`)},
		{"duplicate kid", jose.EdDSA, jwksDoc(t, ed, ed.with("x", b64(make([]byte, 32))))},
		{"duplicate kid across types", jose.EdDSA, jwksDoc(t, ed, ec.with("kid", ed["kid"]))},
		{"no kid", jose.EdDSA, jwksDoc(t, ed.with("kid", del))},
		{"x too short", jose.EdDSA, jwksDoc(t, ed.with("x", b64(make([]byte, 31))))},
		{"x padded", jose.EdDSA, jwksDoc(t, ed.with("x", ed["x"].(string)+"="))},
		{"x with a line break", jose.EdDSA, jwksDoc(t, ed.with("x", ed["x"].(string)[:10]+"\n"+ed["x"].(string)[10:]))},
		{"x wrong type", jose.EdDSA, jwksDoc(t, ed.with("x", 7))},
		{"EC point off the curve", jose.ES256, jwksDoc(t, offCurve)},
		{"EC y missing", jose.ES256, jwksDoc(t, ec.with("y", del))},
		{"RSA 1024 bits", jose.RS256, jwksDoc(t, rs.with("n", b64(small.N.Bytes())))},
		{"RSA even e", jose.RS256, jwksDoc(t, rs.with("e", b64([]byte{1, 0, 0})))},
		{"RSA e = 1", jose.RS256, jwksDoc(t, rs.with("e", b64([]byte{1})))},
		{"RSA n leading zero", jose.RS256, jwksDoc(t, rs.with("n", b64(append([]byte{0}, new(big.Int).Lsh(big.NewInt(1), 2047).Bytes()...))))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if ks, err := jose.NewPublicKeySet(tc.alg, tc.doc); err == nil {
				t.Errorf("accepted, kids %s", ks.JWKS())
			}
		})
	}
}
