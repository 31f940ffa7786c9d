package verify_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/jose"
	"github.com/latch-dev/latch/verify"
)

// The whole check, runnable: a stand-in issuer publishes its JWKS the way
// latch does, and a Verifier accepts its token and refuses a forged one.
// (This one ignores revocations; a real service passes WithClient, as in
// the other examples, and follows latch's revocation stream.)
func Example() {
	ctx := context.Background()
	now := time.Now()

	// The stand-in for latch: a signing key, its JWKS at the well-known path.
	key, err := jose.GenerateKey(jose.EdDSA, now)
	if err != nil {
		log.Fatal(err)
	}
	keys, err := jose.NewKeySet(jose.KeySetConfig{Alg: jose.EdDSA, AccessTTL: 15 * time.Minute}, []*latch.SigningKey{key})
	if err != nil {
		log.Fatal(err)
	}
	issuer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(keys.JWKS())
	}))
	defer issuer.Close()
	token, err := jose.NewSigner(keys).Sign(ctx, &latch.AccessClaims{
		Issuer: issuer.URL, Audience: []string{issuer.URL}, Subject: "user-1", Role: "admin",
		IssuedAt: now, ExpiresAt: now.Add(15 * time.Minute), ID: "token-1", SessionID: "family-1",
	})
	if err != nil {
		log.Fatal(err)
	}

	// The resource server's side.
	v, err := verify.New(ctx, issuer.URL, verify.WithoutRevocation())
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	c, err := v.Verify(ctx, token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Subject, c.Role, c.SessionID)

	forged := token[:len(token)-4] + "AAAA" // another signature
	_, err = v.Verify(ctx, forged)
	fmt.Println(errors.Is(err, verify.ErrInvalidToken))
	// Output:
	// user-1 admin family-1
	// true
}

// A resource server verifies latch tokens locally and follows revocations
// with its --client credentials.
func ExampleNew() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := verify.New(ctx, "https://auth.example.com",
		verify.WithClient("billing-api", "secret-from-the-environment"),
		verify.WithAudience("https://billing.example.com"),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
}

// Middleware guards handlers; they find the verified claims in the context.
func ExampleVerifier_Middleware() {
	ctx := context.Background()
	v, err := verify.New(ctx, "https://auth.example.com", verify.WithClient("billing-api", "secret"))
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	mux := http.NewServeMux()
	mux.Handle("GET /api/invoices", v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verify.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "invoices of %s\n", c.Subject)
	})))
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !v.Healthy() {
			w.WriteHeader(http.StatusServiceUnavailable) // revocations unknown: take no traffic
		}
	})
	log.Fatal(http.ListenAndServe(":9090", mux))
}

// Verify suits callers that do not speak HTTP, such as a gRPC interceptor
// or a message consumer.
func ExampleVerifier_Verify() {
	ctx := context.Background()
	v, err := verify.New(ctx, "https://auth.example.com", verify.WithClient("worker", "secret"))
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	token := "eyJ..." // from the message's metadata
	c, err := v.Verify(ctx, token)
	switch {
	case errors.Is(err, verify.ErrStale):
		// Revocations cannot be checked right now: retry later, do not drop.
	case err != nil:
		// Invalid or revoked: refuse the message.
	default:
		fmt.Println("acting for", c.Subject)
	}
}
