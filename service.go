package latch

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Leeway is the clock skew allowed when checking token times (RFC 8725 asks
// for a small one; API.md fixes it at 60 s).
const Leeway = 60 * time.Second

// Config holds the lifetimes and limits of the auth service (API.md §1).
type Config struct {
	Issuer                 string
	Audience               []string
	AccessTTL              time.Duration
	RefreshTTL             time.Duration
	RefreshAbsoluteTTL     time.Duration
	RefreshReuseGrace      time.Duration
	SessionIdleTimeout     time.Duration
	SessionAbsoluteTimeout time.Duration
	MaxSessionsPerUser     int // 0 = unlimited

	// CacheSessions keeps sessions and users in process memory in front of
	// the store, with last-use writes batched. Only correct when this
	// process is the only writer (the embedded single-node default).
	CacheSessions bool
	// FollowInterval, when > 0, polls the durable revocation log this often
	// for revocations made by other instances.
	FollowInterval time.Duration
}

// Service is the authentication service: signup, login, sessions, tokens,
// revocation. It holds no HTTP knowledge. Set the fields, call Start, and
// Close when done.
type Service struct {
	Config Config

	Users       UserStore
	Sessions    SessionStore
	Revocations RevocationStore
	Hasher      PasswordHasher
	Signer      TokenSigner
	Verifier    TokenVerifier
	Throttle    LoginThrottle // optional
	Bus         RevocationBus // optional: fans revocations out to other instances
	// BusHealthy (optional) reports whether Bus is up. While it is, an
	// account cached before the UserStore became unavailable is still used
	// once its entry is due for a reload, so that sessions from a hot copy
	// and access tokens keep working in a database outage: no revocation
	// can be made meanwhile (they are written to the database first), and
	// the bus has carried those made before (disabling an account revokes
	// its sub). Without it, or while it reports false, such lookups fail
	// closed (ErrUnavailable).
	BusHealthy func() bool

	// NormalizeEmail trims, normalises and validates an address; errors
	// wrap ErrInvalidEmail.
	NormalizeEmail func(string) (string, error)
	// CheckPassword applies the password policy; errors wrap ErrWeakPassword.
	CheckPassword func(password, normalizedEmail string) error
	// DummyHash is a PHC string hashed with the current parameters, compared
	// against for unknown emails so that they take as long as wrong passwords.
	DummyHash string

	Logger *slog.Logger
	Now    func() time.Time // defaults to time.Now
	Rand   io.Reader        // defaults to crypto/rand

	// OnLogin, when set, is told the outcome of every login attempt
	// ("success", "invalid_credentials", "locked", "disabled", "error"), for metrics.
	OnLogin func(outcome string)

	revoked RevocationList
	cache   *sessionCache
	tokens  *tokenCache
	users   *userCache

	subMu sync.Mutex
	subs  map[*subscriber]struct{}

	logMu     sync.Mutex // serialises followLog
	logCursor int64      // Seq of the last entry read from the durable log
	kick      chan struct{}

	stop chan struct{}
	wg   sync.WaitGroup
}

// Principal is an authenticated caller.
type Principal struct {
	User      *User
	Method    SessionKind   // KindSession (cookie) or KindToken (bearer)
	SessionID string        // the session handle or the token's sid
	Session   *Session      // the cookie session (KindSession only)
	Claims    *AccessClaims // KindToken only
	ExpiresAt time.Time     // when the credential dies if unused
}

// Start loads the revocation log into memory and starts the background
// loops (janitor, batched session writes, revocation follower).
func (s *Service) Start(ctx context.Context) error {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Rand == nil {
		s.Rand = rand.Reader
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	s.stop = make(chan struct{})
	s.subs = map[*subscriber]struct{}{}
	s.kick = make(chan struct{}, 1)
	s.tokens = newTokenCache(100_000)
	ttl := time.Duration(0)
	if !s.Config.CacheSessions {
		ttl = time.Second // other instances may change role or status
	}
	s.users = newUserCache(s.Users, ttl, s.Now, s.BusHealthy)
	if s.Config.CacheSessions {
		s.cache = newSessionCache(s.Sessions)
	}
	if err := s.followLog(ctx); err != nil {
		return fmt.Errorf("loading the revocation log: %w", err)
	}
	s.followLoop()
	s.loop(time.Minute, s.janitor)
	if s.cache != nil {
		s.loop(500*time.Millisecond, func(ctx context.Context) error { return s.cache.flush(ctx) })
	}
	if s.Bus != nil {
		s.followBus()
	}
	return nil
}

// Close stops the background loops and writes pending session updates.
func (s *Service) Close() error {
	if s.stop == nil {
		return nil
	}
	close(s.stop)
	s.wg.Wait()
	if s.cache != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return s.cache.flush(ctx)
	}
	return nil
}

func (s *Service) loop(every time.Duration, fn func(context.Context) error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), every+5*time.Second)
				if err := fn(ctx); err != nil {
					s.Logger.Warn("background task failed", "err", err)
				}
				cancel()
			}
		}
	}()
}

// janitor deletes what has expired.
func (s *Service) janitor(ctx context.Context) error {
	now := s.Now()
	s.revoked.Prune(now)
	s.tokens.prune(now)
	// A minute of slack: the stored idle deadlines lag batched slides (by up
	// to a second), and a session in use must never be deleted under it.
	if _, err := s.Sessions.DeleteExpiredSessions(ctx, now.Add(-time.Minute)); err != nil {
		return err
	}
	if s.cache != nil {
		s.cache.prune(now)
	}
	_, err := s.Revocations.DeleteExpiredRevocations(ctx, now)
	return err
}

// followLoop reads the durable log whenever kicked (after this process or
// the bus added entries) and, with Config.FollowInterval, on a timer for
// what other instances added.
func (s *Service) followLoop() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		var tick <-chan time.Time
		if s.Config.FollowInterval > 0 {
			t := time.NewTicker(s.Config.FollowInterval)
			defer t.Stop()
			tick = t.C
		}
		for {
			select {
			case <-s.stop:
				return
			case <-s.kick:
			case <-tick:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := s.followLog(ctx); err != nil {
				s.Logger.Warn("following the revocation log", "err", err)
			}
			cancel()
		}
	}()
}

// kickFollower asks followLoop for a prompt read of the durable log.
func (s *Service) kickFollower() {
	select {
	case s.kick <- struct{}{}:
	default: // a read is already due
	}
}

// RevokedCount is the number of live entries in the revocation set.
func (s *Service) RevokedCount() int { return s.revoked.Len() }

// newSecret returns n random bytes, base64url encoded.
func (s *Service) newSecret(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.Rand, b); err != nil {
		return "", fmt.Errorf("reading randomness: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// HashSecret is the SHA-256 of a cookie secret, refresh or CSRF token: what
// the stores keep instead of the secret.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func (s *Service) login(outcome string) {
	if s.OnLogin != nil {
		s.OnLogin(outcome)
	}
}

// storeErr keeps the sentinel errors a client may see and turns anything
// else a store returns into ErrUnavailable: latch fails closed.
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	for _, known := range []error{ErrNotFound, ErrEmailTaken, ErrRefreshReused, ErrUnavailable} {
		if errors.Is(err, known) {
			return err
		}
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}
