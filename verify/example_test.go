package verify_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/latch-dev/latch/verify"
)

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
