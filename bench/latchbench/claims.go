package latchbench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/email"
	"github.com/latch-dev/latch/jose"
	"github.com/latch-dev/latch/memory"
	"github.com/latch-dev/latch/password"
	"github.com/latch-dev/latch/sqlite"
)

// inProcess is what claims.go measures on a Service of its own: latch's
// server does not count store operations in /metrics, and the cost of a
// signature check is best seen without the network.
type inProcess struct {
	// Store operations per authenticated request.
	sessionOps       float64 // embedded default: SQLite behind the in-process cache
	sessionOpsShared float64 // the same store, no cache (a shared database without Redis)
	tokenOps         float64
	// ns per operation.
	sessionCached, sessionStore, tokenWarm float64
	cold                                   map[string]float64 // alg -> ns of a signature check
	coldSize                               map[string]int     // alg -> access token bytes
}

// counting counts the calls to a SessionStore.
type counting struct {
	latch.SessionStore
	n atomic.Int64
}

func (c *counting) CreateSession(ctx context.Context, s *latch.Session) error {
	c.n.Add(1)
	return c.SessionStore.CreateSession(ctx, s)
}
func (c *counting) SessionByID(ctx context.Context, id string) (*latch.Session, error) {
	c.n.Add(1)
	return c.SessionStore.SessionByID(ctx, id)
}
func (c *counting) SessionByTokenHash(ctx context.Context, hash []byte) (*latch.Session, error) {
	c.n.Add(1)
	return c.SessionStore.SessionByTokenHash(ctx, hash)
}
func (c *counting) SessionsByUser(ctx context.Context, userID string) ([]*latch.Session, error) {
	c.n.Add(1)
	return c.SessionStore.SessionsByUser(ctx, userID)
}
func (c *counting) TouchSessions(ctx context.Context, t []latch.SessionTouch) error {
	c.n.Add(1)
	return c.SessionStore.TouchSessions(ctx, t)
}
func (c *counting) ReplaceSessionToken(ctx context.Context, id string, tokenHash, csrfHash []byte) error {
	c.n.Add(1)
	return c.SessionStore.ReplaceSessionToken(ctx, id, tokenHash, csrfHash)
}
func (c *counting) RotateRefresh(ctx context.Context, r latch.RefreshRotation) (*latch.Session, error) {
	c.n.Add(1)
	return c.SessionStore.RotateRefresh(ctx, r)
}
func (c *counting) DeleteSession(ctx context.Context, id string) error {
	c.n.Add(1)
	return c.SessionStore.DeleteSession(ctx, id)
}

// measureInProcess builds two Services over one temporary SQLite database
// (one with the embedded default's session cache, one without), logs a
// user in both ways and times what a request costs each.
func measureInProcess(ctx context.Context, quick bool) (*inProcess, error) {
	span := time.Second
	if quick {
		span = 150 * time.Millisecond
	}
	dir, err := os.MkdirTemp("", "latch-bench-inproc-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(ctx, filepath.Join(dir, "latch.db"))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	const iss = "http://latch.bench"
	ks, err := keySet("EdDSA")
	if err != nil {
		return nil, err
	}
	hasher, err := password.New(password.Config{})
	if err != nil {
		return nil, err
	}
	build := func(sessions latch.SessionStore, single bool) (*latch.Service, error) {
		v, err := jose.NewVerifier(ks, iss, iss, jose.WithCache(100_000))
		if err != nil {
			return nil, err
		}
		svc, err := latch.New(latch.Config{Issuer: iss, SingleWriter: single}, latch.Deps{
			Users: db, Sessions: sessions, Revocations: db, Hasher: hasher,
			Signer: jose.NewSigner(ks), Verifier: v, NormalizeEmail: email.Normalize,
			CheckPassword: password.NewPolicy().Check, DummyHash: hasher.Dummy(),
		})
		if err != nil {
			return nil, err
		}
		return svc, svc.Start(ctx)
	}
	cached := &counting{SessionStore: db}
	cache := memory.NewSessionCache(cached)
	cctx, stopCache := context.WithCancel(ctx)
	defer stopCache()
	cache.Start(cctx, func(error) {})
	defer cache.Close()
	svc, err := build(cache, true)
	if err != nil {
		return nil, err
	}
	defer svc.Close()
	direct := &counting{SessionStore: db}
	svc2, err := build(direct, false)
	if err != nil {
		return nil, err
	}
	defer svc2.Close()

	const pw = "latch bench in-process password"
	if _, err := svc.Signup(ctx, "inproc@example.com", pw); err != nil {
		return nil, err
	}
	sess, err := svc.Login(ctx, latch.LoginRequest{Email: "inproc@example.com", Password: pw, Mode: latch.KindSession})
	if err != nil {
		return nil, err
	}
	tok, err := svc.Login(ctx, latch.LoginRequest{Email: "inproc@example.com", Password: pw, Mode: latch.KindToken})
	if err != nil {
		return nil, err
	}
	secret, access := sess.Secret, tok.Access.Token

	out := &inProcess{cold: map[string]float64{}, coldSize: map[string]int{}}
	// Store operations per request: count, N requests, count again. The
	// cache's batched idle-deadline writes (every half second) count too.
	opsPer := func(c *counting, f func() error) (float64, float64, error) {
		if err := f(); err != nil { // warm the caches
			return 0, 0, err
		}
		before := c.n.Load()
		n, ns, err := timeLoop(span, f)
		if err != nil {
			return 0, 0, err
		}
		if err := cache.Flush(ctx); err != nil {
			return 0, 0, err
		}
		return float64(c.n.Load()-before) / float64(n), ns, nil
	}
	if out.sessionOps, out.sessionCached, err = opsPer(cached, func() error { _, err := svc.AuthenticateSession(ctx, secret); return err }); err != nil {
		return nil, fmt.Errorf("session whoami: %w", err)
	}
	if out.sessionOpsShared, out.sessionStore, err = opsPer(direct, func() error { _, err := svc2.AuthenticateSession(ctx, secret); return err }); err != nil {
		return nil, fmt.Errorf("session whoami without the cache: %w", err)
	}
	if out.tokenOps, out.tokenWarm, err = opsPer(cached, func() error { _, err := svc.AuthenticateToken(ctx, access); return err }); err != nil {
		return nil, fmt.Errorf("token whoami: %w", err)
	}

	// A cold check is a signature check: a verifier without a cache.
	for _, alg := range []string{"EdDSA", "ES256", "RS256", "HS256"} {
		ks, err := keySet(alg)
		if err != nil {
			return nil, err
		}
		now := time.Now()
		t, err := jose.NewSigner(ks).Sign(ctx, &latch.AccessClaims{Issuer: iss, Subject: "01JBENCHUSER0000000000000",
			Audience: []string{iss}, IssuedAt: now, ExpiresAt: now.Add(15 * time.Minute), ID: "01JBENCHJTI00000000000000",
			SessionID: "01JBENCHSID00000000000000", Role: "user"})
		if err != nil {
			return nil, fmt.Errorf("signing with %s: %w", alg, err)
		}
		v, err := jose.NewVerifier(ks, iss, iss)
		if err != nil {
			return nil, err
		}
		if _, out.cold[alg], err = timeLoop(span, func() error { _, err := v.Verify(ctx, t); return err }); err != nil {
			return nil, fmt.Errorf("cold %s verify: %w", alg, err)
		}
		out.coldSize[alg] = len(t)
	}
	return out, nil
}

func keySet(alg string) (*jose.KeySet, error) {
	if alg == "HS256" {
		return jose.NewHMACKeySet([]byte("latch bench in-process HMAC key, 32+ bytes"))
	}
	k, err := jose.GenerateKey(alg, time.Now().UTC())
	if err != nil {
		return nil, err
	}
	return jose.NewKeySet(jose.KeySetConfig{Alg: alg, AccessTTL: 15 * time.Minute}, []*latch.SigningKey{k})
}

// timeLoop calls f for about span and returns the calls and ns per call.
func timeLoop(span time.Duration, f func() error) (int, float64, error) {
	start := time.Now()
	n := 0
	for batch := 1; ; batch *= 2 {
		for range batch {
			if err := f(); err != nil {
				return n, 0, err
			}
		}
		n += batch
		if el := time.Since(start); el >= span {
			return n, float64(el.Nanoseconds()) / float64(n), nil
		}
	}
}
