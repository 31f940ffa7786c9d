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
	"net/url"
	"sync"
	"time"
)

// Config holds the lifetimes and limits of the auth service (API.md §1).
// Only Issuer is required; every zero field means the default in its
// comment, applied by New.
type Config struct {
	// Issuer is the iss of every access token. Required.
	Issuer string
	// Audience is the aud of every access token. Default: []string{Issuer}.
	Audience []string
	// AccessTTL is the lifetime of an access token. Default 15 minutes.
	AccessTTL time.Duration
	// RefreshTTL is how long a refresh family lives after its last use.
	// Default 168 hours.
	RefreshTTL time.Duration
	// RefreshAbsoluteTTL is the most a refresh family lives. Default 720 hours.
	RefreshAbsoluteTTL time.Duration
	// RefreshReuseGrace is the window in which a family's previous refresh
	// token is accepted once more (racing tabs). Default 0: never.
	RefreshReuseGrace time.Duration
	// SessionIdleTimeout ends a cookie session unused this long. Default 30 minutes.
	SessionIdleTimeout time.Duration
	// SessionAbsoluteTimeout ends a cookie session this old. Default 12 hours.
	SessionAbsoluteTimeout time.Duration
	// MaxSessionsPerUser, when > 0, revokes a user's oldest sessions and
	// families beyond this many. Default 0: unlimited.
	MaxSessionsPerUser int

	// SingleWriter says that this process is the only server writing the
	// stores (the embedded SQLite default, memory): accounts read once stay
	// cached until this process changes them, and the revocation log is
	// polled only for what admin commands add (a revocation, a key
	// rotation), every second. When false (several instances on one
	// database), accounts are reloaded after a second and the log is
	// polled every FollowInterval.
	SingleWriter bool
	// FollowInterval is how often the durable revocation log is polled for
	// entries other instances and admin commands added. Default: 250 ms, or
	// 1 s with SingleWriter. Negative: never.
	FollowInterval time.Duration

	// PublicURL is the external base URL of latch that links in emails
	// use (--public-url); never taken from a request's Host. Default: Issuer.
	PublicURL string
	// RecoveryTTL is the lifetime of a password reset link. Default 15 minutes.
	RecoveryTTL time.Duration
	// VerificationTTL is the lifetime of an email verification or change
	// link. Default 24 hours.
	VerificationTTL time.Duration
	// RequireVerifiedEmail refuses logins to accounts whose address is not
	// verified (ErrEmailUnverified), and mails a verification link at
	// signup and at such a refused login.
	RequireVerifiedEmail bool
	// MailAttempts is how many times a mail is tried before it is marked
	// failed. Default 8.
	MailAttempts int
	// MailRetryDelay is the wait after the first failed attempt; it doubles
	// after each further one, up to an hour. Default 10 seconds.
	MailRetryDelay time.Duration
	// MailInterval is how often the outbox's sender looks for due mail
	// besides when mail is queued. Default 1 second. Negative: there is
	// no sender in the background; DeliverMail is called by hand (tests).
	MailInterval time.Duration
	// ReauthWindow is how recent the caller's login must be for a
	// sensitive change (password, email, second factors): older, and the
	// change answers ErrReauthRequired. Default 10 minutes.
	ReauthWindow time.Duration
	// TOTPIssuer labels the TOTP entries authenticator apps show.
	// Default: the host of PublicURL.
	TOTPIssuer string
}

// The defaults New applies to a zero Config field.
const (
	DefaultAccessTTL              = 15 * time.Minute
	DefaultRefreshTTL             = 168 * time.Hour
	DefaultRefreshAbsoluteTTL     = 720 * time.Hour
	DefaultSessionIdleTimeout     = 30 * time.Minute
	DefaultSessionAbsoluteTimeout = 12 * time.Hour
	DefaultFollowInterval         = 250 * time.Millisecond
	DefaultRecoveryTTL            = 15 * time.Minute
	DefaultVerificationTTL        = 24 * time.Hour
	DefaultMailAttempts           = 8
	DefaultMailRetryDelay         = 10 * time.Second
	DefaultReauthWindow           = 10 * time.Minute
)

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if len(c.Audience) == 0 {
		c.Audience = []string{c.Issuer}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.AccessTTL, DefaultAccessTTL)
	def(&c.RefreshTTL, DefaultRefreshTTL)
	def(&c.RefreshAbsoluteTTL, DefaultRefreshAbsoluteTTL)
	def(&c.SessionIdleTimeout, DefaultSessionIdleTimeout)
	def(&c.SessionAbsoluteTimeout, DefaultSessionAbsoluteTimeout)
	def(&c.RecoveryTTL, DefaultRecoveryTTL)
	def(&c.VerificationTTL, DefaultVerificationTTL)
	def(&c.MailRetryDelay, DefaultMailRetryDelay)
	def(&c.MailInterval, time.Second)
	def(&c.ReauthWindow, DefaultReauthWindow)
	if c.MailAttempts == 0 {
		c.MailAttempts = DefaultMailAttempts
	}
	if c.PublicURL == "" {
		c.PublicURL = c.Issuer
	}
	if c.TOTPIssuer == "" {
		c.TOTPIssuer = "latch"
		if u, err := url.Parse(c.PublicURL); err == nil && u.Host != "" {
			c.TOTPIssuer = u.Host
		}
	}
	if c.FollowInterval == 0 {
		c.FollowInterval = DefaultFollowInterval
		if c.SingleWriter {
			c.FollowInterval = time.Second
		}
	}
	return c
}

// validate checks what no default can fix.
func (c Config) validate() error {
	switch {
	case c.Issuer == "":
		return errors.New("latch: Config.Issuer is required")
	case c.AccessTTL < 0, c.RefreshTTL < 0, c.RefreshAbsoluteTTL < 0, c.SessionIdleTimeout < 0, c.SessionAbsoluteTimeout < 0:
		return errors.New("latch: Config lifetimes must not be negative")
	case c.RefreshReuseGrace < 0:
		return errors.New("latch: Config.RefreshReuseGrace must not be negative")
	case c.MaxSessionsPerUser < 0:
		return errors.New("latch: Config.MaxSessionsPerUser must not be negative")
	case c.ReauthWindow < 0:
		return errors.New("latch: Config.ReauthWindow must not be negative")
	case c.RecoveryTTL < 0, c.VerificationTTL < 0, c.MailRetryDelay < 0, c.MailAttempts < 0:
		return errors.New("latch: Config mail lifetimes and attempts must not be negative")
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return errors.New("latch: Config.PublicURL must be an absolute http(s) URL without query or fragment")
		}
	}
	return nil
}

// Deps are the parts the Service is built from. Those marked required
// must be set; New applies the defaults of the others.
type Deps struct {
	Users       UserStore       // required
	Sessions    SessionStore    // required; wrap it in a cache only when Config.SingleWriter
	Revocations RevocationStore // required: the durable revocation log
	Hasher      PasswordHasher  // required
	Signer      TokenSigner     // required
	Verifier    TokenVerifier   // required (it may cache verified tokens; revocation is checked here)

	// NormalizeEmail trims, normalises and validates an address; errors
	// wrap ErrInvalidEmail. Required (the email package has one).
	NormalizeEmail func(string) (string, error)
	// CheckPassword applies the password policy; errors wrap
	// ErrWeakPassword. Required (the password package has one).
	CheckPassword func(password, normalizedEmail string) error

	// Throttle counts failed logins per account. Optional: nil means no
	// account lockout (tests of other things only; the command always sets it).
	Throttle LoginThrottle
	// Bus fans revocations out to other instances. Optional.
	Bus RevocationBus
	// BusHealthy (optional) reports whether Bus is up. While it is, an
	// account cached before the UserStore became unavailable is still used
	// once its entry is due for a reload, so that sessions from a hot copy
	// and access tokens keep working in a database outage: no revocation
	// can be made meanwhile (they are written to the database first), and
	// the bus has carried those made before (disabling an account revokes
	// its sub). Without it, or while it reports false, such lookups fail
	// closed (ErrUnavailable).
	BusHealthy func() bool

	// DummyHash is a PHC string compared against for unknown emails, so
	// that they take as long as wrong passwords. Default: New hashes a
	// random password with Hasher, so the parameters always match.
	DummyHash string
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
	// Elapsed reads a monotonic clock: the real time since any fixed
	// instant, which steps of the wall clock (Now) do not move. The
	// janitor forgets expired revocations and sessions by a PruneClock of
	// the two, so a clock stepped forward and back again revives nothing.
	// Defaults to Go's monotonic clock.
	Elapsed func() time.Duration
	// Rand is the source of every secret. Default crypto/rand.
	Rand io.Reader
	// OnKeysChanged, when set, is called when the log says the signing
	// keys changed (KeysChanged), from this process, the bus or another
	// instance: reload them. It must not block.
	OnKeysChanged func()
	// AccountTokens keeps the one-time links of password resets and
	// address verification, and Outbox the mail that carries them. Both
	// optional: without them those features answer ErrUnavailable.
	AccountTokens AccountTokenStore
	Outbox        Outbox
	// Mailer delivers the outbox's mail. Default: each mail is written to
	// Logger with a warning, link included: for development only.
	Mailer Mailer
	// MailLimiter bounds the mail one account can cause (keys like
	// "reset:"+user ID). Optional: nil means no bound.
	MailLimiter RateLimiter

	// Factors keeps second factors and TOTP computes their codes; with
	// both (and AccountTokens, which keeps the mfa_token) accounts can
	// add TOTP and recovery codes, and logins ask for them. Optional:
	// without them those features answer ErrUnavailable.
	Factors FactorStore
	TOTP    TOTPCodes
	// Sealer, when set, encrypts TOTP secrets at rest, and the links
	// waiting in the outbox (--master-key).
	Sealer SecretSealer
	// WebAuthn runs the passkey ceremonies of the relying party; with it
	// (and the second factors above) accounts can add passkeys and log in
	// with them. Optional: without it those features answer
	// ErrUnavailable.
	WebAuthn WebAuthn

	// OnEvent, when set, is told of every security event (the audit trail
	// and the metrics; see Event, AuditLogger and Events). It is called on
	// the request's goroutine and must not block.
	OnEvent func(context.Context, Event)
}

// Service is the authentication service: signup, login, sessions, tokens,
// revocation. It holds no HTTP knowledge. Build it with New, call Start,
// and Close when done.
type Service struct {
	cfg         Config
	users       UserStore
	sessions    SessionStore
	revocations RevocationStore
	hasher      PasswordHasher
	signer      TokenSigner
	verifier    TokenVerifier
	throttle    LoginThrottle
	guesses     guessQueues // guesses waiting for a slot of the throttle
	bus         RevocationBus

	normalizeEmail func(string) (string, error)
	checkPassword  func(password, normalizedEmail string) error
	dummyHash      string
	logger         *slog.Logger
	now            func() time.Time
	elapsed        func() time.Duration
	pruneClock     PruneClock
	rand           io.Reader
	onEvent        func(context.Context, Event)
	onKeysChanged  func()

	tokens      AccountTokenStore
	outbox      Outbox
	mailer      Mailer
	mailLimiter RateLimiter
	factors     FactorStore
	totp        TOTPCodes
	sealer      SecretSealer
	webauthn    WebAuthn
	mailKick    chan struct{}
	bgMu        sync.Mutex // guards bgClosed and bgWG.Add
	bgClosed    bool
	bgWG        sync.WaitGroup
	bgSlots     chan struct{}

	revoked     RevocationList
	accounts    *userCache
	evict       func(sessionID string) // the session store's SessionEvictor, or a no-op
	sessionUser SessionUser            // the session store's one-round-trip use, or nil
	admit       HashAdmitter           // the hasher's admission check, or nil

	subMu sync.Mutex
	subs  map[*subscriber]struct{}

	logMu     sync.Mutex // serialises followLog
	logCursor int64      // Seq of the last entry read from the durable log
	kick      chan struct{}

	stop chan struct{}
	wg   sync.WaitGroup
}

// New checks cfg and deps, applies the defaults, and returns a Service
// ready to Start. A missing required dependency is an error here, never a
// panic on first use.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	for _, d := range []struct {
		name string
		set  bool
	}{
		{"Users", deps.Users != nil}, {"Sessions", deps.Sessions != nil}, {"Revocations", deps.Revocations != nil},
		{"Hasher", deps.Hasher != nil}, {"Signer", deps.Signer != nil}, {"Verifier", deps.Verifier != nil},
		{"NormalizeEmail", deps.NormalizeEmail != nil}, {"CheckPassword", deps.CheckPassword != nil},
	} {
		if !d.set {
			return nil, fmt.Errorf("latch: Deps.%s is required", d.name)
		}
	}
	// Second factors come whole: a factor store without the codes or the
	// mfa_token's store would let accounts that have a factor log in
	// without it.
	if deps.Factors != nil && (deps.TOTP == nil || deps.AccountTokens == nil) {
		return nil, errors.New("latch: Deps.Factors needs Deps.TOTP and Deps.AccountTokens")
	}
	s := &Service{
		cfg: cfg.withDefaults(), users: deps.Users, sessions: deps.Sessions, revocations: deps.Revocations,
		hasher: deps.Hasher, signer: deps.Signer, verifier: deps.Verifier, throttle: deps.Throttle, bus: deps.Bus,
		normalizeEmail: deps.NormalizeEmail, checkPassword: deps.CheckPassword, dummyHash: deps.DummyHash,
		logger: deps.Logger, now: deps.Now, elapsed: deps.Elapsed, rand: deps.Rand, onEvent: deps.OnEvent, onKeysChanged: deps.OnKeysChanged,
		tokens: deps.AccountTokens, outbox: deps.Outbox, mailer: deps.Mailer, mailLimiter: deps.MailLimiter,
		factors: deps.Factors, totp: deps.TOTP, sealer: deps.Sealer, webauthn: deps.WebAuthn,
		evict:    func(string) {},
		subs:     map[*subscriber]struct{}{},
		kick:     make(chan struct{}, 1),
		mailKick: make(chan struct{}, 1),
		bgSlots:  make(chan struct{}, maxBackground),
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.elapsed == nil {
		start := time.Now()
		s.elapsed = func() time.Duration { return time.Since(start) }
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.onKeysChanged == nil {
		s.onKeysChanged = func() {}
	}
	if s.onEvent == nil {
		s.onEvent = func(context.Context, Event) {}
	}
	if s.mailer == nil {
		s.mailer = logMailer{s.logger}
	}
	s.sessionUser, _ = s.sessions.(SessionUser)
	s.admit, _ = s.hasher.(HashAdmitter)
	if e, ok := s.sessions.(SessionEvictor); ok {
		s.evict = e.EvictSession
	}
	if s.dummyHash == "" {
		pw, err := s.newSecret(16)
		if err != nil {
			return nil, err
		}
		if s.dummyHash, err = s.hasher.Hash(context.Background(), pw); err != nil {
			return nil, fmt.Errorf("latch: hashing the dummy password: %w", err)
		}
	}
	reload := time.Second // other instances may change role or status
	if s.cfg.SingleWriter {
		reload = 0
	}
	s.accounts = newUserCache(s.users, reload, s.now, deps.BusHealthy)
	return s, nil
}

// Config returns the configuration in force, defaults applied.
func (s *Service) Config() Config { return s.cfg }

// Start loads the revocation log into memory and starts the background
// loops (janitor, revocation follower, bus subscription).
func (s *Service) Start(ctx context.Context) error {
	if s.stop != nil {
		return errors.New("latch: Service already started")
	}
	s.stop = make(chan struct{})
	if err := s.followLog(ctx); err != nil {
		return fmt.Errorf("loading the revocation log: %w", err)
	}
	s.followLoop()
	s.loop(time.Minute, s.janitor)
	if s.bus != nil {
		s.followBus()
	}
	if s.outbox != nil && s.cfg.MailInterval > 0 {
		s.mailLoop()
	}
	return nil
}

// Close stops the background loops. It does not close the stores.
func (s *Service) Close() error {
	if s.stop == nil {
		return nil
	}
	select {
	case <-s.stop:
		return nil // closed before
	default:
	}
	close(s.stop)
	s.wg.Wait()
	s.bgMu.Lock()
	s.bgClosed = true
	s.bgMu.Unlock()
	s.bgWG.Wait()
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
					s.logger.Warn("background task failed", "err", err)
				}
				cancel()
			}
		}
	}()
}

// pruneTime is the time up to which expired state may be forgotten: the
// clock, held back to the pace of real time (see PruneClock).
func (s *Service) pruneTime() time.Time { return s.pruneClock.Time(s.now(), s.elapsed()) }

// janitor deletes what has expired, by pruneTime: what a clock stepped
// forward makes look expired is kept until real time has caught up.
func (s *Service) janitor(ctx context.Context) error {
	now := s.pruneTime()
	s.revoked.Prune(now)
	// A minute of slack: the stored idle deadlines lag batched slides (by up
	// to a second), and a session in use must never be deleted under it.
	if _, err := s.sessions.DeleteExpiredSessions(ctx, now.Add(-time.Minute)); err != nil {
		return err
	}
	if _, err := s.revocations.DeleteExpiredRevocations(ctx, now); err != nil {
		return err
	}
	if s.tokens != nil {
		if _, err := s.tokens.DeleteExpiredAccountTokens(ctx, now); err != nil {
			return err
		}
	}
	if s.outbox != nil {
		if _, err := s.outbox.DeleteDoneMail(ctx, now.Add(-keepDoneMail)); err != nil {
			return err
		}
	}
	return nil
}

// RevokedCount is the number of live entries in the revocation set.
func (s *Service) RevokedCount() int { return s.revoked.Len() }

// CountLiveSessions counts live sessions and families; ok is false when the
// store cannot count.
func (s *Service) CountLiveSessions(ctx context.Context) (n int, ok bool, err error) {
	c, ok := s.sessions.(SessionCounter)
	if !ok {
		return 0, false, nil
	}
	n, err = c.CountLiveSessions(ctx, s.now())
	return n, true, err
}

// newSecret returns n random bytes, base64url encoded.
func (s *Service) newSecret(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
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

// storeErr keeps the sentinel errors a client may see and turns anything
// else a store returns into ErrUnavailable: latch fails closed.
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	for _, known := range []error{ErrNotFound, ErrEmailTaken, ErrRefreshReused, ErrUnavailable, ErrInvalidToken, ErrCredentialTaken} {
		if errors.Is(err, known) {
			return err
		}
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
