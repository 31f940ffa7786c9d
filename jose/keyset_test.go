package jose_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/jose"
)

// jwksKeys decodes a JWKS into its keys' members.
func jwksKeys(t *testing.T, ks *jose.KeySet) []map[string]string {
	t.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	dec := json.NewDecoder(bytes.NewReader(ks.JWKS()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&set); err != nil {
		t.Fatalf("JWKS %s: %v", ks.JWKS(), err)
	}
	if set.Keys == nil {
		t.Fatalf("JWKS %s: keys is not an array", ks.JWKS())
	}
	return set.Keys
}

func jwksKids(t *testing.T, ks *jose.KeySet) []string {
	t.Helper()
	var kids []string
	for _, k := range jwksKeys(t, ks) {
		kids = append(kids, k["kid"])
	}
	return kids
}

// TestKeySet_Rotation: after a rotation the new key signs, tokens of the
// retired key verify until RetiredAt + AccessTTL and not after, and the
// JWKS publishes both keys, then only the new one (SECURITY 22).
func TestKeySet_Rotation(t *testing.T) {
	for _, alg := range asymmetric {
		t.Run(alg, func(t *testing.T) {
			ctx := context.Background()
			now := t0.Add(2 * time.Hour)
			clock := func() time.Time { return now }
			old := MustKey(t, alg, 0)
			ks, err := jose.NewKeySet(jose.KeySetConfig{Alg: alg, AccessTTL: testTTL, Now: clock}, []*latch.SigningKey{old})
			if err != nil {
				t.Fatal(err)
			}
			signer := jose.NewSigner(ks)
			verifier, err := jose.NewVerifier(ks, testIssuer, testAudience)
			if err != nil {
				t.Fatal(err)
			}
			verifier.Now = clock
			sign := func(exp time.Duration) string {
				t.Helper()
				tok, err := signer.Sign(ctx, &latch.AccessClaims{
					Issuer: testIssuer, Subject: "user-1", Audience: []string{testAudience},
					IssuedAt: now, ExpiresAt: now.Add(exp), ID: "jti", SessionID: "sid",
				})
				if err != nil {
					t.Fatal(err)
				}
				return tok
			}
			verify := func(tok string) error {
				_, err := verifier.Verify(ctx, tok)
				return err
			}

			byOld := sign(testTTL)
			// A token the old key signed with a lifetime beyond the access
			// TTL (an older --access-ttl, say): it shows the key's own
			// window closing, independently of exp.
			byOldLong := sign(24 * time.Hour)

			now = now.Add(time.Minute)
			rotatedAt := now
			newer := MustKey(t, alg, 1)
			newer.CreatedAt = rotatedAt
			old.RetiredAt = rotatedAt
			if err := ks.Reload([]*latch.SigningKey{newer, old}); err != nil {
				t.Fatal(err)
			}
			if ks.KID() != newer.ID {
				t.Fatalf("current kid = %s, want the new key %s", ks.KID(), newer.ID)
			}
			if got, want := jwksKids(t, ks), []string{newer.ID, old.ID}; !slices.Equal(got, want) {
				t.Fatalf("JWKS kids after rotation = %v, want %v", got, want)
			}
			byNew := sign(testTTL)
			if h, _, _ := segments(t, byNew); !strings.Contains(string(decodeSeg(t, h)["kid"]), newer.ID) {
				t.Fatal("a token signed after the rotation is not signed by the new key")
			}
			for name, tok := range map[string]string{"old": byOld, "old long": byOldLong, "new": byNew} {
				if err := verify(tok); err != nil {
					t.Errorf("right after the rotation, %s token: %v", name, err)
				}
			}

			now = rotatedAt.Add(testTTL - time.Second)
			if err := verify(byOldLong); err != nil {
				t.Errorf("1s before the retired key's window ends: %v", err)
			}
			now = rotatedAt.Add(testTTL)
			if err := verify(byOldLong); !errors.Is(err, jose.ErrKid) {
				t.Errorf("once the retired key's window ended: %v, want ErrKid", err)
			}
			if err := verify(byNew); err != nil {
				t.Errorf("new token: %v", err)
			}

			if err := ks.Reload([]*latch.SigningKey{newer, old}); err != nil {
				t.Fatal(err)
			}
			if got, want := jwksKids(t, ks), []string{newer.ID}; !slices.Equal(got, want) {
				t.Errorf("JWKS kids once the old key's tokens expired = %v, want %v", got, want)
			}
			if err := verify(byOldLong); !errors.Is(err, jose.ErrKid) {
				t.Errorf("after Reload: %v, want ErrKid", err)
			}

			// A failed Reload keeps the set that works.
			if err := ks.Reload(nil); err == nil {
				t.Error("Reload with no keys succeeded")
			}
			if ks.KID() != newer.ID || verify(byNew) != nil {
				t.Error("a failed Reload changed the key set")
			}
		})
	}
}

// TestKeySet_ConcurrentReload runs verification and signing while the set
// is reloaded, for the race detector.
func TestKeySet_ConcurrentReload(t *testing.T) {
	f := newFixture(t, jose.EdDSA)
	tok := f.MustSign(t, f.accessClaims())
	newer := MustKey(t, jose.EdDSA, 1)
	newer.CreatedAt = f.now
	old := *f.stored
	old.RetiredAt = f.now
	generations := [][]*latch.SigningKey{{f.stored}, {newer, &old}}

	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 200 {
				if i == 0 {
					if err := f.keys.Reload(generations[j%2]); err != nil {
						t.Error(err)
						return
					}
					continue
				}
				if _, err := f.verifier.Verify(context.Background(), tok); err != nil {
					t.Error(err)
					return
				}
				if _, err := f.signer.Sign(context.Background(), f.accessClaims()); err != nil {
					t.Error(err)
					return
				}
				_ = f.keys.JWKS()
			}
		})
	}
	wg.Wait()
}

// TestKeySet_JWKS: public members only, decodable back to the very key,
// unique kids, kid/alg/use present (SECURITY 22).
func TestKeySet_JWKS(t *testing.T) {
	for _, alg := range asymmetric {
		t.Run(alg, func(t *testing.T) {
			k0, k1 := MustKey(t, alg, 0), MustKey(t, alg, 1)
			k0.RetiredAt = t0.Add(2 * time.Hour)
			other := MustKey(t, otherAlg(alg), 0) // another algorithm: never published
			ks, err := jose.NewKeySet(jose.KeySetConfig{
				Alg: alg, AccessTTL: testTTL, Now: func() time.Time { return k0.RetiredAt },
			}, []*latch.SigningKey{k1, k0, other})
			if err != nil {
				t.Fatal(err)
			}
			keys := jwksKeys(t, ks)
			if got, want := jwksKids(t, ks), []string{k1.ID, k0.ID}; !slices.Equal(got, want) {
				t.Fatalf("kids = %v, want %v", got, want)
			}
			wantMembers := map[string][]string{
				jose.EdDSA: {"alg", "crv", "kid", "kty", "use", "x"},
				jose.ES256: {"alg", "crv", "kid", "kty", "use", "x", "y"},
				jose.RS256: {"alg", "e", "kid", "kty", "n", "use"},
			}[alg]
			for i, stored := range []*latch.SigningKey{k1, k0} {
				j := keys[i]
				if got := sortedKeys(j); !slices.Equal(got, wantMembers) {
					t.Errorf("members = %v, want exactly %v (public only)", got, wantMembers)
				}
				if j["alg"] != alg || j["use"] != "sig" {
					t.Errorf("alg/use = %s/%s", j["alg"], j["use"])
				}
				_, pub := mustParse(t, stored)
				if got := jwkPublic(t, j); !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(got) {
					t.Errorf("JWK %v does not decode to the stored public key", j)
				}
			}
		})
	}
	t.Run("HS256 publishes nothing", func(t *testing.T) {
		ks, err := jose.NewHMACKeySet(testSecret)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(ks.JWKS()); got != `{"keys":[]}` {
			t.Errorf("JWKS = %s", got)
		}
	})
	t.Run("caller's copy", func(t *testing.T) {
		f := newFixture(t, jose.EdDSA)
		b := f.keys.JWKS()
		b[0] = 'X'
		if f.keys.JWKS()[0] != '{' {
			t.Error("changing the returned JWKS changed the key set's")
		}
	})
}

func otherAlg(alg string) string {
	if alg == jose.EdDSA {
		return jose.ES256
	}
	return jose.EdDSA
}

// jwkPublic decodes a public JWK the way a relying party would.
func jwkPublic(t *testing.T, j map[string]string) any {
	t.Helper()
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("JWK member %q: %v", s, err)
		}
		return b
	}
	switch j["kty"] {
	case "OKP":
		if j["crv"] != "Ed25519" {
			t.Fatalf("crv = %s", j["crv"])
		}
		return ed25519.PublicKey(dec(j["x"]))
	case "EC":
		x, y := dec(j["x"]), dec(j["y"])
		if j["crv"] != "P-256" || len(x) != 32 || len(y) != 32 {
			t.Fatalf("EC JWK crv %s, x %d bytes, y %d bytes", j["crv"], len(x), len(y))
		}
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), slices.Concat([]byte{4}, x, y))
		if err != nil {
			t.Fatal(err)
		}
		return k
	case "RSA":
		return &rsa.PublicKey{N: new(big.Int).SetBytes(dec(j["n"])), E: int(new(big.Int).SetBytes(dec(j["e"])).Int64())}
	}
	t.Fatalf("kty %q", j["kty"])
	return nil
}

func TestKeySet_Current(t *testing.T) {
	a, b := MustKey(t, jose.EdDSA, 0), MustKey(t, jose.EdDSA, 1) // b is newer
	ks, err := jose.NewKeySet(jose.KeySetConfig{AccessTTL: testTTL}, []*latch.SigningKey{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if ks.Alg() != jose.EdDSA {
		t.Errorf("default alg = %s", ks.Alg())
	}
	if ks.KID() != b.ID {
		t.Errorf("current = %s, want the newest unretired key %s", ks.KID(), b.ID)
	}
	// Both unretired keys are published: another instance may still sign
	// with the older one until it reloads.
	if got := jwksKids(t, ks); !slices.Equal(got, []string{b.ID, a.ID}) {
		t.Errorf("kids = %v", got)
	}
	b.RetiredAt = t0.Add(3 * time.Hour)
	if ks, err = jose.NewKeySet(jose.KeySetConfig{AccessTTL: testTTL, Now: func() time.Time { return b.RetiredAt }}, []*latch.SigningKey{a, b}); err != nil {
		t.Fatal(err)
	}
	if ks.KID() != a.ID {
		t.Errorf("current = %s, want the only unretired key %s", ks.KID(), a.ID)
	}
}

func TestNewKeySet_Errors(t *testing.T) {
	cfg := jose.KeySetConfig{Alg: jose.EdDSA, AccessTTL: testTTL}
	k := MustKey(t, jose.EdDSA, 0)
	k1 := MustKey(t, jose.EdDSA, 1)
	es := MustKey(t, jose.ES256, 0)
	retired := MustKey(t, jose.EdDSA, 0)
	retired.RetiredAt = time.Now()
	dup := MustKey(t, jose.EdDSA, 1)
	dup.ID = k.ID
	mismatched := MustKey(t, jose.EdDSA, 0)
	mismatched.Public = k1.Public
	wrongType := MustKey(t, jose.EdDSA, 0)
	wrongType.Public = es.Public
	corrupt := MustKey(t, jose.EdDSA, 0)
	corrupt.Private = corrupt.Private[:10]
	noKid := MustKey(t, jose.EdDSA, 0)
	noKid.ID = ""

	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallPriv, _ := x509.MarshalPKCS8PrivateKey(small)
	smallPub, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	weakRSA := &latch.SigningKey{ID: "weak", Alg: jose.RS256, Private: smallPriv, Public: smallPub, CreatedAt: t0}

	tests := []struct {
		name string
		cfg  jose.KeySetConfig
		keys []*latch.SigningKey
	}{
		{"no keys", cfg, nil},
		{"only retired keys", cfg, []*latch.SigningKey{retired}},
		{"only keys of another alg", cfg, []*latch.SigningKey{es}},
		{"duplicate kid", cfg, []*latch.SigningKey{k, dup}},
		{"halves do not match", cfg, []*latch.SigningKey{mismatched}},
		{"public key of another type", cfg, []*latch.SigningKey{wrongType}},
		{"corrupt private key", cfg, []*latch.SigningKey{corrupt}},
		{"no kid", cfg, []*latch.SigningKey{noKid}},
		{"RSA 1024", jose.KeySetConfig{Alg: jose.RS256, AccessTTL: testTTL}, []*latch.SigningKey{weakRSA}},
		{"HS256", jose.KeySetConfig{Alg: jose.HS256, AccessTTL: testTTL}, []*latch.SigningKey{k}},
		{"alg none", jose.KeySetConfig{Alg: "none", AccessTTL: testTTL}, []*latch.SigningKey{k}},
		{"alg eddsa", jose.KeySetConfig{Alg: "eddsa", AccessTTL: testTTL}, []*latch.SigningKey{k}},
		{"no AccessTTL", jose.KeySetConfig{Alg: jose.EdDSA}, []*latch.SigningKey{k}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := jose.NewKeySet(tt.cfg, tt.keys); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestNewHMACKeySet(t *testing.T) {
	if _, err := jose.NewHMACKeySet(bytes.Repeat([]byte{'x'}, jose.MinHMACSecret-1)); err == nil {
		t.Error("a 31-byte secret was accepted")
	}
	a, err := jose.NewHMACKeySet(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := jose.NewHMACKeySet(bytes.Clone(testSecret))
	other, _ := jose.NewHMACKeySet(append(bytes.Clone(testSecret), '!'))
	if a.KID() != again.KID() {
		t.Error("the kid of one secret changes between instances")
	}
	if a.KID() == other.KID() {
		t.Error("two secrets share a kid")
	}
	if strings.Contains(string(testSecret), a.KID()) || strings.Contains(a.KID(), string(testSecret[:8])) {
		t.Errorf("kid %q shows the secret", a.KID())
	}
	if a.Alg() != jose.HS256 {
		t.Errorf("alg = %s", a.Alg())
	}
	if err := a.Reload([]*latch.SigningKey{MustKey(t, jose.EdDSA, 0)}); err == nil {
		t.Error("an HS256 set reloaded stored keys")
	}
}

func TestGenerateKey(t *testing.T) {
	for _, alg := range asymmetric {
		t.Run(alg, func(t *testing.T) {
			k := MustKey(t, alg, 0)
			if k.Alg != alg || k.Sealed || !k.CreatedAt.Equal(t0) || !k.RetiredAt.IsZero() {
				t.Errorf("key = %+v", k)
			}
			if kid, err := base64.RawURLEncoding.DecodeString(k.ID); err != nil || len(kid) != 16 {
				t.Errorf("kid %q is not 128 bits of base64url", k.ID)
			}
			priv, pub := mustParse(t, k)
			switch alg {
			case jose.EdDSA:
				_ = priv.(ed25519.PrivateKey)
			case jose.ES256:
				if priv.(*ecdsa.PrivateKey).Curve != elliptic.P256() {
					t.Error("not P-256")
				}
			case jose.RS256:
				if n := pub.(*rsa.PublicKey).N.BitLen(); n != jose.RSABits {
					t.Errorf("RSA key of %d bits", n)
				}
			}
		})
	}
	t.Run("unique kids", func(t *testing.T) {
		seen := map[string]bool{}
		for range 500 {
			k, err := jose.GenerateKey(jose.EdDSA, t0)
			if err != nil {
				t.Fatal(err)
			}
			if seen[k.ID] {
				t.Fatalf("kid %s twice", k.ID)
			}
			seen[k.ID] = true
		}
	})
	for _, alg := range []string{jose.HS256, "none", "ES384", "eddsa", ""} {
		t.Run("refuses "+alg, func(t *testing.T) {
			if _, err := jose.GenerateKey(alg, t0); err == nil {
				t.Error("generated")
			}
		})
	}
}

func TestSealer(t *testing.T) {
	const master = "correct horse battery staple, but random"
	s, err := jose.NewSealer(master)
	if err != nil {
		t.Fatal(err)
	}
	plain := MustKey(t, jose.EdDSA, 0)
	orig := bytes.Clone(plain.Private)
	sealed, err := s.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("round trip", func(t *testing.T) {
		if !sealed.Sealed || bytes.Contains(sealed.Private, orig[16:]) || sealed.ID != plain.ID || !bytes.Equal(sealed.Public, plain.Public) {
			t.Fatalf("sealed key = %+v", sealed)
		}
		if plain.Sealed || !bytes.Equal(plain.Private, orig) {
			t.Fatal("Seal changed its argument")
		}
		opened, err := s.Open(sealed)
		if err != nil {
			t.Fatal(err)
		}
		if opened.Sealed || !bytes.Equal(opened.Private, orig) {
			t.Error("Open did not give back the private key")
		}
		again, _ := s.Seal(plain)
		if bytes.Equal(again.Private, sealed.Private) {
			t.Error("two seals of one key are identical: the nonce is not random")
		}
		if _, err := s.Seal(sealed); err == nil {
			t.Error("sealed a sealed key")
		}
		if o, err := s.Open(plain); err != nil || !bytes.Equal(o.Private, orig) {
			t.Errorf("opening an unsealed key: %v", err)
		}
	})
	t.Run("key set opens it", func(t *testing.T) {
		ks, err := jose.NewKeySet(jose.KeySetConfig{AccessTTL: testTTL, Sealer: s}, []*latch.SigningKey{sealed})
		if err != nil {
			t.Fatal(err)
		}
		v, _ := jose.NewVerifier(ks, testIssuer, testAudience)
		v.Now = func() time.Time { return t0 }
		tok, err := jose.NewSigner(ks).Sign(context.Background(), &latch.AccessClaims{
			Issuer: testIssuer, Subject: "u", Audience: []string{testAudience},
			IssuedAt: t0, ExpiresAt: t0.Add(time.Minute), ID: "j", SessionID: "s",
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Error(err)
		}
	})
	t.Run("no master key", func(t *testing.T) {
		var none *jose.Sealer
		_, err := none.Open(sealed)
		if !errors.Is(err, jose.ErrKeyEncrypted) {
			t.Fatalf("err = %v", err)
		}
		if want := "signing key " + plain.ID + " is encrypted: set --master-key"; err.Error() != want {
			t.Errorf("message = %q, want %q", err, want)
		}
		_, err = jose.NewKeySet(jose.KeySetConfig{AccessTTL: testTTL}, []*latch.SigningKey{sealed})
		if !errors.Is(err, jose.ErrKeyEncrypted) {
			t.Errorf("NewKeySet without a sealer: %v", err)
		}
		kept, err := none.Seal(plain)
		if err != nil || kept.Sealed || !bytes.Equal(kept.Private, orig) {
			t.Errorf("nil Sealer.Seal = %+v, %v; want the key in clear", kept, err)
		}
	})
	t.Run("wrong master key", func(t *testing.T) {
		wrong, _ := jose.NewSealer(master + "!")
		_, err := wrong.Open(sealed)
		if !errors.Is(err, jose.ErrWrongMasterKey) || !strings.Contains(err.Error(), plain.ID) || !strings.Contains(err.Error(), "wrong master key") {
			t.Errorf("err = %v", err)
		}
		_, err = jose.NewKeySet(jose.KeySetConfig{AccessTTL: testTTL, Sealer: wrong}, []*latch.SigningKey{sealed})
		if !errors.Is(err, jose.ErrWrongMasterKey) {
			t.Errorf("NewKeySet with the wrong master key: %v", err)
		}
	})
	t.Run("blob moved to another key row", func(t *testing.T) {
		moved := MustKey(t, jose.EdDSA, 1)
		moved.Private, moved.Sealed = bytes.Clone(sealed.Private), true
		if _, err := s.Open(moved); !errors.Is(err, jose.ErrWrongMasterKey) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("tampered", func(t *testing.T) {
		for _, i := range []int{0, 1, 20, len(sealed.Private) - 1} {
			bad := *sealed
			bad.Private = bytes.Clone(sealed.Private)
			bad.Private[i] ^= 1
			if _, err := s.Open(&bad); !errors.Is(err, jose.ErrWrongMasterKey) {
				t.Errorf("byte %d flipped: %v", i, err)
			}
		}
		bad := *sealed
		bad.Private = nil
		if _, err := s.Open(&bad); !errors.Is(err, jose.ErrWrongMasterKey) {
			t.Errorf("empty blob: %v", err)
		}
	})
	t.Run("short master key", func(t *testing.T) {
		for _, mk := range []string{"", "short", strings.Repeat("x", jose.MinMasterKey-1)} {
			if _, err := jose.NewSealer(mk); err == nil {
				t.Errorf("master key %q accepted", mk)
			}
		}
	})
}
