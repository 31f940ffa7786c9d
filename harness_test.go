package latch_test

import (
	"context"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/email"
	"github.com/latch-dev/latch/internal/testkit"
	"github.com/latch-dev/latch/jose"
	"github.com/latch-dev/latch/memory"
	"github.com/latch-dev/latch/password"
)

// domain is a Service on the memory stores with a hand-moved clock, built
// the one way every Service is built: latch.New.
type domain struct {
	*latch.Service
	Clock *testkit.Clock
	// Mono is the monotonic clock (Deps.Elapsed: its time since the start):
	// the real time that passes, which Clock's steps do not move.
	Mono     *testkit.Clock
	Users    *memory.UserStore
	Sessions *memory.SessionStore
	Revs     *memory.RevocationStore
	Cache    *memory.SessionCache // nil without withCache
	Keys     *jose.KeySet
	Deps     latch.Deps // as given to New
	Throttle latch.LoginThrottle
}

// domainOption changes the Config or the Deps before New.
type domainOption func(*latch.Config, *latch.Deps, *domainSetup)

type domainSetup struct {
	alg   string
	cache bool
}

func withConfig(f func(*latch.Config)) domainOption {
	return func(c *latch.Config, _ *latch.Deps, _ *domainSetup) { f(c) }
}

func withDeps(f func(*latch.Deps)) domainOption {
	return func(_ *latch.Config, d *latch.Deps, _ *domainSetup) { f(d) }
}

// withAlg signs with alg instead of EdDSA.
func withAlg(alg string) domainOption {
	return func(_ *latch.Config, _ *latch.Deps, s *domainSetup) { s.alg = alg }
}

// withCache puts the single-writer session cache in front of the store, as
// `latch serve` does on SQLite.
func withCache() domainOption {
	return func(c *latch.Config, _ *latch.Deps, s *domainSetup) { s.cache, c.SingleWriter = true, true }
}

// cheapHasher is the cheapest argon2id there is: these tests are not about hashing.
func cheapHasher(t testing.TB) *password.Hasher {
	t.Helper()
	h, err := password.New(password.Config{Params: password.Params{Memory: 8, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

const testIssuer = "https://latch.test"

// newDomain builds and starts a Service; it is closed when the test ends.
func newDomain(t testing.TB, opts ...domainOption) *domain {
	t.Helper()
	ctx := context.Background()
	start := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	d := &domain{Clock: testkit.NewClock(start), Mono: testkit.NewClock(start),
		Users: &memory.UserStore{}, Sessions: &memory.SessionStore{}, Revs: &memory.RevocationStore{},
		Throttle: memory.NewLoginThrottle(5, 15*time.Minute)}
	setup := domainSetup{alg: jose.EdDSA}
	cfg := latch.Config{Issuer: testIssuer, SingleWriter: false, FollowInterval: -1}
	hasher := cheapHasher(t)
	deps := latch.Deps{Users: d.Users, Sessions: d.Sessions, Revocations: d.Revs, Hasher: hasher,
		NormalizeEmail: email.Normalize, CheckPassword: password.NewPolicy().Check, Throttle: d.Throttle,
		Now: d.Clock.Now, Elapsed: func() time.Duration { return d.Mono.Now().Sub(start) }}
	for _, o := range opts {
		o(&cfg, &deps, &setup)
	}
	now := deps.Now // nil: the real clock, for benchmarks
	if now == nil {
		now, deps.Elapsed = time.Now, nil
	}
	var keys *jose.KeySet
	var err error
	if setup.alg == jose.HS256 {
		keys, err = jose.NewHMACKeySet([]byte("0123456789abcdef0123456789abcdef-tests"))
	} else {
		var k *latch.SigningKey
		if k, err = jose.GenerateKey(setup.alg, now()); err != nil {
			t.Fatal(err)
		}
		keys, err = jose.NewKeySet(jose.KeySetConfig{Alg: setup.alg, AccessTTL: time.Hour, Now: now}, []*latch.SigningKey{k})
	}
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := jose.NewVerifier(keys, testIssuer, testIssuer, jose.WithCache(1000))
	if err != nil {
		t.Fatal(err)
	}
	verifier.Now = now
	deps.Signer, deps.Verifier, d.Keys = jose.NewSigner(keys), verifier, keys
	if setup.cache {
		d.Cache = memory.NewSessionCache(deps.Sessions)
		deps.Sessions = d.Cache
		t.Cleanup(func() { _ = d.Cache.Close() })
	}
	d.Deps = deps
	if d.Service, err = latch.New(cfg, deps); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// signup creates an account or fails the test.
func (d *domain) signup(t testing.TB, addr, pw string) *latch.User {
	t.Helper()
	u, err := d.Signup(context.Background(), addr, pw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// login logs in or fails the test.
func (d *domain) login(t testing.TB, addr, pw string, mode latch.SessionKind) *latch.LoginResult {
	t.Helper()
	res, err := d.Login(context.Background(), latch.LoginRequest{Email: addr, Password: pw, Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	return res
}
