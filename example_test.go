package latch_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/email"
	"github.com/latch-dev/latch/jose"
	"github.com/latch-dev/latch/memory"
	"github.com/latch-dev/latch/password"
)

// A complete Service on the in-memory stores (as `latch serve --db memory:`
// builds it; the command uses sqlite or postgres stores the same way).
func ExampleNew() {
	ctx := context.Background()
	const issuer = "https://auth.example.com"

	// Signing keys: one EdDSA key, kept in a KeySet that signs and verifies.
	key, err := jose.GenerateKey(jose.EdDSA, time.Now())
	if err != nil {
		log.Fatal(err)
	}
	keys, err := jose.NewKeySet(jose.KeySetConfig{Alg: jose.EdDSA, AccessTTL: latch.DefaultAccessTTL}, []*latch.SigningKey{key})
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := jose.NewVerifier(keys, issuer, issuer, jose.WithCache(10_000))
	if err != nil {
		log.Fatal(err)
	}
	// argon2id with OWASP's parameters (m = 19 MiB, t = 2, p = 1).
	hasher, err := password.New(password.Config{})
	if err != nil {
		log.Fatal(err)
	}

	svc, err := latch.New(latch.Config{
		Issuer:       issuer,
		SingleWriter: true, // this process is the only writer of these stores
	}, latch.Deps{
		Users:          &memory.UserStore{},
		Sessions:       &memory.SessionStore{},
		Revocations:    &memory.RevocationStore{},
		Hasher:         hasher,
		Signer:         jose.NewSigner(keys),
		Verifier:       verifier,
		NormalizeEmail: email.Normalize,
		CheckPassword:  password.NewPolicy().Check,
		Throttle:       memory.NewLoginThrottle(5, 15*time.Minute),
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer svc.Close()

	u, err := svc.Signup(ctx, " Ada@Example.com ", "correct horse battery")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(u.Email, u.Role)
	// Output: ada@example.com user
}

// A cookie login: the secret goes into the cookie, the CSRF token to the
// page; each request resolves the cookie; logout ends it at once.
func ExampleService_AuthenticateSession() {
	ctx := context.Background()
	svc := exampleService()
	defer svc.Close()
	if _, err := svc.Signup(ctx, "ada@example.com", "correct horse battery"); err != nil {
		log.Fatal(err)
	}

	res, err := svc.Login(ctx, latch.LoginRequest{
		Email: "ada@example.com", Password: "correct horse battery", Mode: latch.KindSession,
		UserAgent: "Firefox", IP: "192.0.2.1",
	})
	if err != nil {
		log.Fatal(err)
	}
	cookie, csrf := res.Secret, res.CSRFToken

	p, err := svc.AuthenticateSession(ctx, cookie)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.User.Email, p.Method, p.SessionID == res.Session.ID)
	fmt.Println("csrf ok:", svc.CheckCSRF(p, csrf) == nil, "forged:", svc.CheckCSRF(p, "forged") == nil)

	if err := svc.Logout(ctx, p); err != nil {
		log.Fatal(err)
	}
	_, err = svc.AuthenticateSession(ctx, cookie)
	fmt.Println(errors.Is(err, latch.ErrUnauthenticated))
	// Output:
	// ada@example.com session true
	// csrf ok: true forged: false
	// true
}

// A token login: an access token for APIs and a refresh token that is
// spent by each refresh; presenting a spent one revokes the family.
func ExampleService_Refresh() {
	ctx := context.Background()
	svc := exampleService()
	defer svc.Close()
	if _, err := svc.Signup(ctx, "ada@example.com", "correct horse battery"); err != nil {
		log.Fatal(err)
	}
	res, err := svc.Login(ctx, latch.LoginRequest{Email: "ada@example.com", Password: "correct horse battery", Mode: latch.KindToken})
	if err != nil {
		log.Fatal(err)
	}
	p, err := svc.AuthenticateToken(ctx, res.Access.Token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Method, p.Claims.Role)

	next, err := svc.Refresh(ctx, res.Secret)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("rotated:", next.Refresh != res.Secret)

	// The spent token comes back (a thief, or a client that raced itself).
	_, err = svc.Refresh(ctx, res.Secret)
	fmt.Println(errors.Is(err, latch.ErrRefreshReused))
	// The whole family is revoked: the new access token too.
	_, err = svc.AuthenticateToken(ctx, next.Access.Token)
	fmt.Println(errors.Is(err, latch.ErrUnauthenticated))
	// Output:
	// token user
	// rotated: true
	// true
	// true
}

// Wrong passwords and unknown addresses get the same error.
func ExampleService_Login() {
	ctx := context.Background()
	svc := exampleService()
	defer svc.Close()
	if _, err := svc.Signup(ctx, "ada@example.com", "correct horse battery"); err != nil {
		log.Fatal(err)
	}
	_, wrong := svc.Login(ctx, latch.LoginRequest{Email: "ada@example.com", Password: "incorrect horse", Mode: latch.KindSession})
	_, unknown := svc.Login(ctx, latch.LoginRequest{Email: "bob@example.com", Password: "incorrect horse", Mode: latch.KindSession})
	fmt.Println(errors.Is(wrong, latch.ErrInvalidCredentials), errors.Is(unknown, latch.ErrInvalidCredentials))
	// Output: true true
}

// exampleService is ExampleNew's Service, started; the caller closes it.
func exampleService() *latch.Service {
	const issuer = "https://auth.example.com"
	key, err := jose.GenerateKey(jose.EdDSA, time.Now())
	if err != nil {
		log.Fatal(err)
	}
	keys, err := jose.NewKeySet(jose.KeySetConfig{Alg: jose.EdDSA, AccessTTL: latch.DefaultAccessTTL}, []*latch.SigningKey{key})
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := jose.NewVerifier(keys, issuer, issuer, jose.WithCache(10_000))
	if err != nil {
		log.Fatal(err)
	}
	hasher, err := password.New(password.Config{})
	if err != nil {
		log.Fatal(err)
	}
	svc, err := latch.New(latch.Config{Issuer: issuer, SingleWriter: true}, latch.Deps{
		Users: &memory.UserStore{}, Sessions: &memory.SessionStore{}, Revocations: &memory.RevocationStore{},
		Hasher: hasher, Signer: jose.NewSigner(keys), Verifier: verifier,
		NormalizeEmail: email.Normalize, CheckPassword: password.NewPolicy().Check,
		Throttle: memory.NewLoginThrottle(5, 15*time.Minute),
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	return svc
}
