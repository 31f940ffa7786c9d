// Package verify checks latch access tokens inside other Go services,
// locally and without a network call per request.
//
// A Verifier made by New fetches the issuer's JWKS once, pins one signature
// algorithm, and checks every token with latch's own strict rules
// (jose.Verifier: algorithm allow-list of one, our kids only, typ at+jwt,
// exact iss, aud, exp, nbf and iat with 60 s leeway). With WithClient it also
// follows the issuer's revocation stream (GET /v1/revocations, server-sent
// events) in the background, so that a logged-out or revoked token is
// refused within about a second, on every service that uses this package.
//
// # Failing closed
//
// A verifier that cannot see revocations must not pretend to. When the
// stream has been down longer than the staleness bound (WithStaleness,
// default 10 s), Verify refuses every token with ErrStale, and Middleware
// answers 503 with Retry-After: 1, distinct from the 401 of a bad token.
// Recovery needs nothing from the caller: the follower reconnects with
// jittered backoff (100 ms to 2 s), resumes with Last-Event-ID so nothing is
// missed or repeated, and Verify works again once the replay is done (the
// stream's first comment line, latch's ": replay done", marks its end).
// Without client credentials New refuses to start unless WithoutRevocation
// says, explicitly, that revocations may be ignored.
//
// # Cost
//
// A token seen before costs a map lookup and the revocation check (well
// under a microsecond); a new one costs a signature check. The JWKS is
// refetched on an unknown kid at most once per 10 s (a rotation reaches a
// verifier with its first token), and every five minutes, so a key the
// issuer stops publishing stops verifying.
package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/jose"
)

// The errors Verify returns, checked with errors.Is.
var (
	// ErrInvalidToken: the token is malformed, not signed by the issuer's
	// keys, expired, or not meant for this audience. It wraps the jose
	// reason (jose.ErrSignature, jose.ErrExpired...) for the logs. HTTP: 401.
	ErrInvalidToken = errors.New("verify: invalid access token")
	// ErrRevoked: the token is valid but was revoked (logout, logout-all,
	// password change, refresh reuse, admin action). HTTP: 401.
	ErrRevoked = errors.New("verify: access token revoked")
	// ErrStale: the revocation stream has been down longer than the
	// staleness bound, so no token can be trusted, however valid. HTTP: 503.
	ErrStale = errors.New("verify: revocation stream stale; refusing every token")
)

// The defaults and bounds of the package.
const (
	// DefaultStaleness is how long the revocation stream may be down
	// before every token is refused (API.md §5).
	DefaultStaleness = 10 * time.Second
	// jwksRefetch is the least time between two JWKS fetches on unknown
	// kids: a flood of made-up kids costs the issuer one request per 10 s.
	jwksRefetch = 10 * time.Second
	// jwksMaxAge is how often the JWKS is refetched anyway.
	jwksMaxAge = 5 * time.Minute
	// fetchTimeout bounds one JWKS fetch.
	fetchTimeout = 10 * time.Second
	// defaultIdleTimeout drops a stream that sent no line for longer than
	// the server's keep-alive promise (a comment at least every 15 s) plus
	// a margin for a slow network.
	defaultIdleTimeout = 15*time.Second + 5*time.Second
	// defaultCacheSize bounds the verified-token cache.
	defaultCacheSize = 16384
	// janitorEvery is how often expired revocations and cached tokens are
	// dropped and the JWKS age is checked.
	janitorEvery = 30 * time.Second
)

// Claims are the claims of a verified access token (RFC 9068). Each call
// gets its own copy, which it may keep or change.
type Claims struct {
	Issuer    string
	Subject   string // the user ID; never an email
	Audience  []string
	ExpiresAt time.Time
	IssuedAt  time.Time
	ID        string // jti
	SessionID string // sid: the refresh family or session the token belongs to
	Role      string
	AMR       []string  // amr (RFC 8176): how the login behind the token authenticated
	AuthTime  time.Time // auth_time: when that login happened; zero when absent
}

// Verifier verifies latch access tokens. It is safe for concurrent use.
// Make one with New, share it, and Close it when done.
type Verifier struct {
	issuer    string
	audience  string
	alg       string
	clientID  string
	secret    string
	follow    bool
	staleness time.Duration
	idle      time.Duration
	hc        *http.Client // JWKS
	sc        *http.Client // the stream: hc without its Timeout
	log       *slog.Logger
	now       func() time.Time

	keys    *jose.KeySet
	jv      *jose.Verifier
	revoked latch.RevocationList
	pruned  latch.PruneClock // the janitor's time (see prune)
	started time.Time        // time.Now at New, for its monotonic reading

	// healthyUntil (Unix nanoseconds of the clock) is how long the stream
	// is known healthy: while lines arrive on a replayed connection, the
	// arrival of the last one plus the idle timeout; once the connection
	// is lost, the moment it was. Verify is stale past healthyUntil +
	// staleness. One atomic load on the hot path.
	healthyUntil atomic.Int64

	keyMu     sync.Mutex
	lastFetch time.Time
	lastDoc   []byte
	inflight  *fetchCall
	keyGen    atomic.Uint64 // bumped on every change of keys

	ctx       context.Context // ends at Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New returns a Verifier for the latch instance at issuerURL, which must be
// exactly the iss of its tokens (scheme, host, port, any path; no trailing
// slash). It fetches issuerURL + "/.well-known/jwks.json" and fails when
// that fails or holds no key of the pinned algorithm.
//
// With WithClient it then follows issuerURL + "/v1/revocations" and waits,
// at most for the staleness bound or until ctx ends, for the first replay:
// it fails when the issuer refuses the credentials (401, 403) or has no such
// endpoint; when the issuer is merely unreachable it returns a Verifier that
// refuses every token with ErrStale until the stream is up. Without
// WithClient, New fails unless WithoutRevocation is given.
//
// ctx bounds New only; the background work runs until Close.
func New(ctx context.Context, issuerURL string, opts ...Option) (*Verifier, error) {
	cfg := config{
		alg:         jose.EdDSA,
		staleness:   DefaultStaleness,
		clock:       time.Now,
		idleTimeout: defaultIdleTimeout,
		cacheSize:   defaultCacheSize,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if err := checkIssuer(issuerURL); err != nil {
		return nil, err
	}
	switch {
	case cfg.hasClient && cfg.noRevocation:
		return nil, errors.New("verify: WithClient and WithoutRevocation contradict each other")
	case !cfg.hasClient && !cfg.noRevocation:
		return nil, errors.New("verify: give WithClient to follow revocations, or WithoutRevocation to knowingly ignore them")
	case cfg.hasClient && (cfg.clientID == "" || strings.Contains(cfg.clientID, ":") || cfg.clientSecret == ""):
		return nil, errors.New("verify: WithClient needs a non-empty ID without ':' and a non-empty secret")
	case cfg.staleness <= 0:
		return nil, errors.New("verify: WithStaleness must be positive")
	case cfg.clock == nil:
		return nil, errors.New("verify: WithClock needs a function")
	}
	if cfg.audience == "" {
		cfg.audience = issuerURL
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	hc := cfg.httpClient
	if hc == nil {
		hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	sc := *hc
	sc.Timeout = 0

	v := &Verifier{
		issuer:    issuerURL,
		audience:  cfg.audience,
		alg:       cfg.alg,
		clientID:  cfg.clientID,
		secret:    cfg.clientSecret,
		follow:    cfg.hasClient,
		staleness: cfg.staleness,
		idle:      cfg.idleTimeout,
		hc:        hc,
		sc:        &sc,
		log:       cfg.logger.With("component", "latch-verify", "issuer", issuerURL),
		now:       cfg.clock,
	}
	v.started = time.Now()
	v.pruned.Time(v.now(), 0)
	doc, err := v.fetchJWKS(ctx)
	if err != nil {
		return nil, err
	}
	if v.keys, err = jose.NewPublicKeySet(cfg.alg, doc); err != nil {
		return nil, fmt.Errorf("verify: the JWKS of %s: %w", issuerURL, err)
	}
	v.lastDoc, v.lastFetch = doc, v.now()
	if v.jv, err = jose.NewVerifier(v.keys, issuerURL, cfg.audience, jose.WithCache(cfg.cacheSize)); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	v.jv.Now = v.now

	v.ctx, v.cancel = context.WithCancel(context.Background())
	v.wg.Add(1)
	go v.janitor()
	if !v.follow {
		v.log.Warn("not following revocations (WithoutRevocation): revoked tokens stay valid until they expire")
		return v, nil
	}
	f := &follower{v: v, ready: make(chan error, 1)}
	v.wg.Add(1)
	go f.run()
	wait := time.NewTimer(v.staleness)
	defer wait.Stop()
	select {
	case err := <-f.ready:
		if err != nil && permanent(err) {
			_ = v.Close()
			return nil, fmt.Errorf("verify: following the revocation stream: %w", err)
		}
	case <-wait.C:
	case <-ctx.Done():
		_ = v.Close()
		return nil, fmt.Errorf("verify: waiting for the revocation stream: %w", ctx.Err())
	}
	return v, nil
}

// checkIssuer refuses issuer URLs that cannot be an iss we compare exactly
// or a base we append paths to.
func checkIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	switch {
	case err != nil:
		return fmt.Errorf("verify: issuer URL: %w", err)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("verify: issuer URL %q: scheme must be https (or http for development)", issuer)
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(issuer, "?") || strings.HasSuffix(issuer, "#"):
		return fmt.Errorf("verify: issuer URL %q: want scheme://host[:port][/path], no credentials, query or fragment", issuer)
	case strings.HasSuffix(issuer, "/"):
		return fmt.Errorf("verify: issuer URL %q ends with '/': give it exactly as the tokens' iss", issuer)
	}
	return nil
}

// Verify checks an access token and returns its claims. In order:
//
//   - when following revocations and the stream has been down longer than
//     the staleness bound, every token is refused with ErrStale;
//   - a token verified before and not yet expired is taken from the cache
//     (keyed by its exact bytes); any other goes through the strict checks
//     of jose.Verifier, and an unknown kid makes the verifier refetch the
//     JWKS (at most once per 10 s, shared by concurrent callers) and try
//     once more; a failure is ErrInvalidToken wrapping the jose reason;
//   - the revocation set (jti, sid, and sub issued before a not_before) is
//     consulted on every call, cached or not: ErrRevoked.
//
// ctx only bounds the wait for a JWKS refetch; nothing else does I/O.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	now := v.now()
	if v.follow && v.stale(now) {
		return nil, ErrStale
	}
	gen := v.keyGen.Load()
	ac, err := v.jv.Verify(ctx, token)
	if errors.Is(err, jose.ErrKid) && v.refetchKeys(ctx, gen) {
		ac, err = v.jv.Verify(ctx, token)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if v.revoked.Revoked(ac.ID, ac.SessionID, ac.Subject, ac.IssuedAt) {
		return nil, ErrRevoked
	}
	return &Claims{
		Issuer: ac.Issuer, Subject: ac.Subject, Audience: slices.Clone(ac.Audience),
		ExpiresAt: ac.ExpiresAt, IssuedAt: ac.IssuedAt,
		ID: ac.ID, SessionID: ac.SessionID, Role: ac.Role,
		AMR: slices.Clone(ac.AMR), AuthTime: ac.AuthTime,
	}, nil
}

// stale reports whether the stream has been down longer than the bound.
func (v *Verifier) stale(now time.Time) bool {
	return now.UnixNano()-v.healthyUntil.Load() > int64(v.staleness)
}

// Healthy reports whether Verify accepts tokens at all: true when not
// following revocations, else whether the stream has been healthy within
// the staleness bound. Wire it into a readiness probe so a load balancer
// steers traffic away while Verify answers ErrStale.
func (v *Verifier) Healthy() bool {
	return !v.follow || !v.stale(v.now())
}

// Close stops following the revocation stream and the background work, and
// waits for them. A verifier that followed revocations refuses every token
// with ErrStale once closed, since it no longer sees them. It always
// returns nil.
func (v *Verifier) Close() error {
	v.closeOnce.Do(func() {
		v.keyMu.Lock() // no JWKS fetch starts after this (see startFetch)
		v.cancel()
		v.keyMu.Unlock()
		v.wg.Wait()
		v.healthyUntil.Store(0)
	})
	return nil
}

// janitor drops expired revocations, and refetches a JWKS
// older than jwksMaxAge.
func (v *Verifier) janitor() {
	defer v.wg.Done()
	t := time.NewTicker(janitorEvery)
	defer t.Stop()
	for {
		select {
		case <-v.ctx.Done():
			return
		case <-t.C:
			v.prune()
			v.keyMu.Lock()
			old := v.now().Sub(v.lastFetch) >= jwksMaxAge
			v.keyMu.Unlock()
			if old {
				v.startFetch(jwksMaxAge)
			}
		}
	}
}

// prune forgets what can no longer matter. Revocations are kept a leeway
// longer than their exp: our clock may be behind the issuer's, and a token
// is accepted up to a leeway past its exp. The time is a PruneClock's, so
// that a clock stepped forward and back again revives no revoked token:
// the clock (WithClock's), held to the pace of Go's monotonic clock.
func (v *Verifier) prune() {
	v.revoked.Prune(v.pruned.Time(v.now(), time.Since(v.started)).Add(-latch.Leeway))
}
