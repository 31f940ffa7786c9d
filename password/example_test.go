package password_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/password"
)

func ExampleHasher() {
	h, err := password.New(password.Config{}) // OWASP defaults, GOMAXPROCS − 1 slots (at least 1)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	phc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		panic(err) // errors.Is(err, latch.ErrRateLimited): answer 429 with Retry-After
	}
	ok, rehash, err := h.Compare(ctx, phc, "correct horse battery staple")
	fmt.Println(ok, rehash, err)

	// An unknown email: compare against the dummy, so it costs what a wrong
	// password costs, and answer invalid_credentials either way.
	ok, _, err = h.Compare(ctx, h.Dummy(), "correct horse battery staple")
	fmt.Println(ok, err)
	// Output:
	// true false <nil>
	// false <nil>
}

func ExamplePolicy_Check() {
	p := password.NewPolicy()
	for _, pw := range []string{"short", "Password123", "Alice@Example.com", "correct horse battery staple"} {
		err := p.Check(pw, "alice@example.com")
		fmt.Println(errors.Is(err, latch.ErrWeakPassword), err)
	}
	// Output:
	// true weak password: shorter than 8 bytes
	// true weak password: among the most common passwords
	// true weak password: equal to the email
	// false <nil>
}
