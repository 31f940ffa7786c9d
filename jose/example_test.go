package jose_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/jose"
)

// The whole life of an access token: a key, a key set, a signed token, and
// a strict verifier that caches what it has verified.
func Example() {
	ctx := context.Background()
	const issuer = "https://auth.example.com"
	now := time.Now()

	key, err := jose.GenerateKey(jose.EdDSA, now) // stored as a latch.SigningKey row
	if err != nil {
		log.Fatal(err)
	}
	keys, err := jose.NewKeySet(jose.KeySetConfig{Alg: jose.EdDSA, AccessTTL: 15 * time.Minute}, []*latch.SigningKey{key})
	if err != nil {
		log.Fatal(err)
	}

	token, err := jose.NewSigner(keys).Sign(ctx, &latch.AccessClaims{
		Issuer: issuer, Audience: []string{issuer}, Subject: "user-1", Role: "admin",
		IssuedAt: now, ExpiresAt: now.Add(15 * time.Minute), ID: "token-1", SessionID: "family-1",
	})
	if err != nil {
		log.Fatal(err)
	}

	// WithCache: a token seen before skips the signature check (about
	// 150 ns instead of 65 µs for EdDSA, BENCHMARKS.md).
	v, err := jose.NewVerifier(keys, issuer, issuer, jose.WithCache(10_000))
	if err != nil {
		log.Fatal(err)
	}
	c, err := v.Verify(ctx, token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Subject, c.Role, c.SessionID)
	if _, err := v.Verify(ctx, token); err == nil {
		fmt.Println("cached:", v.CacheLen())
	}
	// Output:
	// user-1 admin family-1
	// cached: 1
}

// Every refusal wraps latch.ErrUnauthenticated and names its reason.
func ExampleVerifier_Verify_refusals() {
	ctx := context.Background()
	const issuer = "https://auth.example.com"
	now := time.Now()
	key, _ := jose.GenerateKey(jose.EdDSA, now)
	keys, _ := jose.NewKeySet(jose.KeySetConfig{Alg: jose.EdDSA, AccessTTL: time.Hour}, []*latch.SigningKey{key})
	sign := func(iss string, exp time.Time) string {
		tok, err := jose.NewSigner(keys).Sign(ctx, &latch.AccessClaims{
			Issuer: iss, Audience: []string{iss}, Subject: "user-1", Role: "user",
			IssuedAt: exp.Add(-15 * time.Minute), ExpiresAt: exp, ID: "t", SessionID: "f",
		})
		if err != nil {
			log.Fatal(err)
		}
		return tok
	}
	v, _ := jose.NewVerifier(keys, issuer, issuer)

	// A valid token's claims under an "alg": "none" header, unsigned.
	claims := strings.Split(sign(issuer, now.Add(15*time.Minute)), ".")[1]
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + claims + "."

	reasons := []struct {
		err  error
		name string
	}{{jose.ErrExpired, "ErrExpired"}, {jose.ErrAlgorithm, "ErrAlgorithm"}, {jose.ErrIssuer, "ErrIssuer"}}
	for _, tc := range []struct {
		name  string
		token string
	}{
		{"expired", sign(issuer, now.Add(-time.Hour))},
		{"alg none", none},
		{"another issuer", sign("https://evil.example", now.Add(15*time.Minute))},
	} {
		_, err := v.Verify(ctx, tc.token)
		fmt.Printf("%s: unauthenticated=%v", tc.name, errors.Is(err, latch.ErrUnauthenticated))
		for _, r := range reasons {
			if errors.Is(err, r.err) {
				fmt.Printf(" jose.%s", r.name)
			}
		}
		fmt.Println()
	}
	// Output:
	// expired: unauthenticated=true jose.ErrExpired
	// alg none: unauthenticated=true jose.ErrAlgorithm
	// another issuer: unauthenticated=true jose.ErrIssuer
}

// Rotation: a new key signs at once; the retired one stays published, and
// its tokens keep verifying, until the last of them has expired.
func ExampleKeySet_Reload() {
	ctx := context.Background()
	const issuer = "https://auth.example.com"
	t0 := time.Now().Add(-time.Minute)
	old, _ := jose.GenerateKey(jose.EdDSA, t0)
	keys, _ := jose.NewKeySet(jose.KeySetConfig{Alg: jose.EdDSA, AccessTTL: 15 * time.Minute}, []*latch.SigningKey{old})
	claims := &latch.AccessClaims{Issuer: issuer, Audience: []string{issuer}, Subject: "user-1", Role: "user",
		IssuedAt: t0, ExpiresAt: t0.Add(15 * time.Minute), ID: "t", SessionID: "f"}
	before, _ := jose.NewSigner(keys).Sign(ctx, claims)

	// What `latch keys rotate` stores: the old key retired, a new one.
	now := time.Now()
	retired := *old
	retired.RetiredAt = now
	next, _ := jose.GenerateKey(jose.EdDSA, now)
	if err := keys.Reload([]*latch.SigningKey{next, &retired}); err != nil {
		log.Fatal(err)
	}

	var jwks struct{ Keys []struct{ Kid string } }
	if err := json.Unmarshal(keys.JWKS(), &jwks); err != nil {
		log.Fatal(err)
	}
	fmt.Println("published:", len(jwks.Keys), "signing with the new key:", keys.KID() == next.ID)
	v, _ := jose.NewVerifier(keys, issuer, issuer)
	_, err := v.Verify(ctx, before)
	fmt.Println("old token still valid:", err == nil)
	// Output:
	// published: 2 signing with the new key: true
	// old token still valid: true
}

// A resource server without access to latch's database verifies from the
// published JWKS alone (the verify package does this, and follows
// revocations too).
func ExampleNewPublicKeySet() {
	ctx := context.Background()
	const issuer = "https://auth.example.com"
	now := time.Now()
	key, _ := jose.GenerateKey(jose.ES256, now)
	issuerKeys, _ := jose.NewKeySet(jose.KeySetConfig{Alg: jose.ES256, AccessTTL: 15 * time.Minute}, []*latch.SigningKey{key})
	token, _ := jose.NewSigner(issuerKeys).Sign(ctx, &latch.AccessClaims{Issuer: issuer, Audience: []string{issuer},
		Subject: "user-1", Role: "user", IssuedAt: now, ExpiresAt: now.Add(15 * time.Minute), ID: "t", SessionID: "f"})

	jwks := issuerKeys.JWKS() // what GET /.well-known/jwks.json serves
	public, err := jose.NewPublicKeySet(jose.ES256, jwks)
	if err != nil {
		log.Fatal(err)
	}
	v, _ := jose.NewVerifier(public, issuer, issuer)
	c, err := v.Verify(ctx, token)
	fmt.Println(c.Subject, err)
	// Output: user-1 <nil>
}
