package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/email"
	"github.com/latch-dev/latch/http"
	"github.com/latch-dev/latch/instrumented"
	"github.com/latch-dev/latch/jose"
	"github.com/latch-dev/latch/mail"
	"github.com/latch-dev/latch/memory"
	"github.com/latch-dev/latch/password"
	"github.com/latch-dev/latch/postgres"
	"github.com/latch-dev/latch/redis"
	"github.com/latch-dev/latch/sqlite"
	"github.com/latch-dev/latch/totp"
	goredis "github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
)

// stores is one opened database: every store interface and its lifecycle.
type stores struct {
	users    latch.UserStore
	sessions latch.SessionStore
	revs     latch.RevocationStore
	keys     latch.KeyStore
	tokens   latch.AccountTokenStore // reset and verification links, login ceremonies (API.md §8)
	outbox   latch.Outbox            // account mail not yet sent
	factors  latch.FactorStore       // second factors
	ping     func(context.Context) error
	close    func() error
	// single is true when this process is the only writer (SQLite, memory),
	// so sessions may be cached in process.
	single bool
	// deployment is the database's random identity (PostgreSQL), which names
	// what is kept for it in Redis.
	deployment func(context.Context) (string, error)
	// observe, set by instrument, times the Redis stores openShared opens.
	observe instrumented.Observer
}

// instrument times every call of the database's stores (and of the Redis
// stores openShared opens later) for the metrics, by store kind and
// method. The wrappers keep the session store's optional capabilities, so
// the session cache and the Service take the same paths as without them.
func (st *stores) instrument(db string, obs instrumented.Observer) {
	name := dbKind(db)
	st.users = instrumented.Users(st.users, name, obs)
	st.sessions = instrumented.Sessions(st.sessions, name, obs)
	st.revs = instrumented.Revocations(st.revs, name, obs)
	st.observe = obs
}

// openStores opens --db.
func openStores(ctx context.Context, db string) (*stores, error) {
	switch {
	case db == "memory:":
		return &stores{users: &memory.UserStore{}, sessions: &memory.SessionStore{}, revs: &memory.RevocationStore{},
			keys: &memory.KeyStore{}, tokens: &memory.AccountTokenStore{}, outbox: &memory.Outbox{},
			factors: &memory.FactorStore{}, single: true,
			ping: func(context.Context) error { return nil }, close: func() error { return nil }}, nil
	case strings.HasPrefix(db, "sqlite:"):
		path := strings.TrimPrefix(db, "sqlite:")
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("creating the database directory: %w", err)
			}
		}
		d, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, err
		}
		return &stores{users: d, sessions: d, revs: d, keys: d, tokens: d, outbox: d, factors: d, single: true, ping: d.Ping, close: d.Close}, nil
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		d, err := postgres.Open(ctx, db)
		if err != nil {
			return nil, err
		}
		return &stores{users: d, sessions: d, revs: d, keys: d, tokens: d, outbox: d, factors: d, ping: d.Ping, close: d.Close,
			deployment: d.DeploymentID}, nil
	}
	return nil, usageError{validateDB(db)}
}

// shared is what several instances share beyond the database: with
// --redis, the hot copy of sessions, the revocation set and bus, and the
// login limits; without it, the database's stores and per-process limits.
type shared struct {
	redis    *redis.Client
	sessions latch.SessionStore
	revs     latch.RevocationStore
	bus      latch.RevocationBus
	throttle latch.LoginThrottle
	limiter  latch.RateLimiter
	// mail bounds the mail one account can cause, shared by every
	// instance with --redis.
	mail   latch.RateLimiter
	checks []http.Check
	close  func()
}

func openShared(ctx context.Context, cfg *Config, st *stores, logger *slog.Logger) (*shared, error) {
	throttle := memory.NewLoginThrottle(cfg.LoginMaxFailures, cfg.LoginFailureWindow)
	limiter := memory.NewRateLimiter(cfg.LoginIPRate)
	mail := memory.NewRateLimiter(mailRate)
	if cfg.Redis == "" && st.single {
		// The only writer: sessions served from process memory, idle
		// deadlines written in batches.
		cache := memory.NewSessionCache(st.sessions)
		cache.Start(ctx, func(err error) { logger.Warn("writing idle deadlines to the database; retrying", "err", err) })
		return &shared{sessions: cache, revs: st.revs, throttle: throttle, limiter: limiter, mail: mail,
			close: func() { _ = cache.Close() }}, nil
	}
	if cfg.Redis == "" {
		return &shared{sessions: st.sessions, revs: st.revs, throttle: throttle, limiter: limiter, mail: mail, close: func() {}}, nil
	}
	id, err := st.deployment(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the database's deployment ID: %w", err)
	}
	// Keys named after the database: a Redis shared by two databases, or
	// kept while a database is re-created, never mixes their entries.
	// go-redis logs every failed dial through a logger of its own; route it
	// through ours at debug level, or an outage prints lines by the second.
	goredis.SetLogger(redisLog{logger})
	rc, err := redis.Open(ctx, cfg.Redis, redis.WithLogger(logger), redis.WithPrefix("latch-"+id[:min(12, len(id))]))
	if err != nil {
		return nil, usageError{fmt.Errorf("--redis: %w", err)}
	}
	sessions := rc.Sessions(st.sessions)
	sessions.Start(ctx)
	var hot latch.SessionStore = sessions
	var revs latch.RevocationStore = rc.Revocations(st.revs)
	if st.observe != nil { // each call's time includes the database's when Redis falls through to it
		hot = instrumented.Sessions(sessions, "redis", st.observe)
		revs = instrumented.Revocations(revs, "redis", st.observe)
	}
	return &shared{
		redis: rc, sessions: hot, revs: revs, bus: rc.Bus(),
		// Redis down: limits per instance, never an error to the caller.
		throttle: rc.LoginThrottle(cfg.LoginMaxFailures, cfg.LoginFailureWindow, throttle),
		limiter:  rc.RateLimiter(cfg.LoginIPRate, limiter),
		mail:     rc.RateLimiter(mailRate, mail),
		checks: []http.Check{{Name: "redis", Optional: true, Check: func(context.Context) error {
			if !rc.Healthy() { // reachable and its recovery (flush, refill) done
				return errors.New("redis is down or recovering")
			}
			return nil
		}}},
		close: func() {
			_ = sessions.Close() // writes the pending idle deadlines back
			_ = rc.Close()
		},
	}, nil
}

// mailRate is a mail of each kind per account per minute.
const mailRate = 1.0 / 60

// redisLog adapts slog to go-redis's logger.
type redisLog struct{ l *slog.Logger }

func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	r.l.Log(ctx, slog.LevelDebug, "go-redis: "+fmt.Sprintf(format, v...))
}

// keyMaterial loads (creating on first start) the signing keys.
type keyMaterial struct {
	set    *jose.KeySet
	store  latch.KeyStore
	sealer *jose.Sealer
	// changed is signalled when the log says the keys changed
	// (latch.KeysChanged); serve reloads at once.
	changed chan struct{}
}

// keysChanged asks for a reload now (latch.Deps.OnKeysChanged); never blocks.
func (km *keyMaterial) keysChanged() {
	select {
	case km.changed <- struct{}{}:
	default: // a reload is already due
	}
}

func loadKeys(ctx context.Context, cfg *Config, st latch.KeyStore) (*keyMaterial, error) {
	if cfg.JWTAlg == "HS256" {
		set, err := jose.NewHMACKeySet([]byte(cfg.HS256Secret))
		if err != nil {
			return nil, usageError{fmt.Errorf("--hs256-secret: %w", err)}
		}
		return &keyMaterial{set: set, store: st, changed: make(chan struct{}, 1)}, nil
	}
	km := &keyMaterial{store: st, changed: make(chan struct{}, 1)}
	if cfg.MasterKey != "" {
		s, err := jose.NewSealer(cfg.MasterKey)
		if err != nil {
			return nil, usageError{fmt.Errorf("--master-key: %w", err)}
		}
		km.sealer = s
	}
	k, err := jose.GenerateKey(cfg.JWTAlg, time.Now().UTC())
	if err != nil {
		return nil, err
	}
	if km.sealer != nil {
		if k, err = km.sealer.Seal(k); err != nil {
			return nil, err
		}
	}
	if _, err := st.InitKey(ctx, k); err != nil {
		return nil, fmt.Errorf("storing the first signing key: %w", err)
	}
	keys, err := st.Keys(ctx)
	if err != nil {
		return nil, err
	}
	km.set, err = jose.NewKeySet(jose.KeySetConfig{Alg: cfg.JWTAlg, AccessTTL: cfg.AccessTTL, Sealer: km.sealer}, keys)
	if err != nil {
		return nil, err
	}
	return km, nil
}

// reload picks up keys rotated by `latch keys rotate` or another instance,
// and deletes keys whose last token has expired.
func (km *keyMaterial) reload(ctx context.Context, accessTTL time.Duration) error {
	if km.set.Alg() == "HS256" {
		return nil
	}
	if _, err := km.store.DeleteKeysRetiredBefore(ctx, time.Now().Add(-accessTTL-latch.Leeway)); err != nil {
		return err
	}
	keys, err := km.store.Keys(ctx)
	if err != nil {
		return err
	}
	return km.set.Reload(keys)
}

func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serveCmd(a *app) *cobra.Command {
	var cfg Config
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "run the server",
		Long: `Run the server until SIGTERM or SIGINT, then drain in-flight requests for
up to 10 s and exit 0. The first line logged once the socket is bound is
"listening addr=HOST:PORT", at any --log-level. The flags are the contract
of docs/API.md §1.`,
		Example: `  latch serve
  latch serve --addr 127.0.0.1:0 --db sqlite:/var/lib/latch/latch.db --master-key "$KEY"
  LATCH_DB='postgres://latch@db/latch' LATCH_REDIS=redis://cache:6379/0 latch serve --issuer https://auth.example.com`,
		Args: args(),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if err := cfg.validate(); err != nil {
				return usageError{err}
			}
			a.serve = &cfg // run by run, once the command tree is gone
			return nil
		}),
	}
	cfg.define(cmd.Flags())
	return cmd
}

// serve runs the server until ctx ends (SIGTERM, SIGINT), then drains
// in-flight requests for up to 10 s and exits cleanly.
func serve(ctx context.Context, cfg *Config, stderr io.Writer) error {
	logger := newLogger(cfg, stderr)

	metrics := http.NewMetrics()
	st, err := openStores(ctx, cfg.DB)
	if err != nil {
		return err
	}
	defer st.close()
	st.instrument(cfg.DB, metrics.StoreObserver)
	sh, err := openShared(ctx, cfg, st, logger)
	if err != nil {
		return err
	}
	defer sh.close()
	km, err := loadKeys(ctx, cfg, st.keys)
	if err != nil {
		return err
	}
	if cfg.MasterKey == "" && cfg.JWTAlg != "HS256" {
		logger.Warn("private signing keys are stored unencrypted in the database; set --master-key to seal them")
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	issuer := cfg.issuer(ln.Addr().String())

	audit, closeAudit, err := openAudit(cfg, stderr)
	if err != nil {
		return usageError{err}
	}
	defer closeAudit()
	svc, err := newService(ctx, cfg, st, sh, km, issuer, logger, metrics, audit)
	if err != nil {
		return err
	}
	defer svc.Close()
	metrics.WatchService(ctx, svc)

	srv := &http.Server{
		Service: svc, Keys: km.set, Issuer: issuer, AdminKey: cfg.AdminKey, Clients: cfg.Clients.Map(),
		InsecureCookies: cfg.InsecureCookies, Metrics: metrics, Logger: logger,
		Checks: append([]http.Check{{Name: "db", Check: st.ping}}, sh.checks...),
	}
	if cfg.LoginIPRate > 0 {
		srv.IPLimiter = sh.limiter
	}
	if sh.redis != nil {
		metrics.Gauge("latch_redis_up", "1 while Redis is reachable and trusted; 0 while latch runs degraded on its database.",
			func() float64 {
				if sh.redis.Healthy() {
					return 1
				}
				return 0
			})
	}
	hs := http.NewHTTPServer(srv.Handler(), logger)
	hs.RegisterOnShutdown(srv.Close)

	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-km.changed: // a rotation, announced in the log
			}
			if err := km.reload(ctx, cfg.AccessTTL); err != nil && ctx.Err() == nil {
				logger.Warn("reloading signing keys", "err", err)
			}
		}
	}()

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(http.NewListener(ln)) }()
	// Printed whatever --log-level says: scripts and tests wait for it.
	rec := slog.NewRecord(time.Now(), slog.LevelInfo, "listening", 0)
	rec.Add("addr", ln.Addr().String(), "issuer", issuer, "db", dbKind(cfg.DB), "alg", cfg.JWTAlg)
	_ = logger.Handler().Handle(ctx, rec)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down", "drain", "10s")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		logger.Warn("drain incomplete", "err", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, nethttp.ErrServerClosed) {
		return err
	}
	return nil
}

// newService is the one place the command builds the auth service: serve
// and every admin command use it, so they apply the same rules.
// metrics may be nil (admin commands).
func newService(ctx context.Context, cfg *Config, st *stores, sh *shared, km *keyMaterial, issuer string,
	logger *slog.Logger, metrics *http.Metrics, audit func(context.Context, latch.Event)) (*latch.Service, error) {
	hc := password.Config{}
	vopts := []jose.VerifierOption{jose.WithCache(100_000)}
	var count func(context.Context, latch.Event)
	if metrics != nil {
		hc.Observe = func(d time.Duration) { metrics.HashSeconds.Observe(d.Seconds()) }
		hc.ObserveWait = metrics.ObserveHashWait
		vopts = append(vopts, jose.WithObserver(metrics.ObserveVerify))
		count = metrics.Event
	}
	hasher, err := password.New(hc)
	if err != nil {
		return nil, err
	}
	if metrics != nil {
		metrics.WatchHasher(hasher)
	}
	audience := cfg.Audience
	if audience == "" {
		audience = issuer
	}
	verifier, err := jose.NewVerifier(km.set, issuer, audience, vopts...)
	if err != nil {
		return nil, err
	}
	deps := latch.Deps{
		Users: st.users, Sessions: sh.sessions, Revocations: sh.revs, Bus: sh.bus,
		Hasher: hasher, Signer: jose.NewSigner(km.set),
		Verifier:       &reloadingVerifier{next: verifier, reload: func(ctx context.Context) error { return km.reload(ctx, cfg.AccessTTL) }},
		Throttle:       sh.throttle,
		OnKeysChanged:  km.keysChanged,
		NormalizeEmail: email.Normalize, CheckPassword: password.NewPolicy().Check, DummyHash: hasher.Dummy(),
		Logger: logger, OnEvent: latch.Events(count, audit),
	}
	// Account mail (API.md §8): the database keeps the links and the outbox.
	deps.AccountTokens, deps.Outbox = st.tokens, st.outbox
	deps.MailLimiter = sh.mail
	// Second factors (API.md §8); TOTP secrets sealed like signing keys.
	deps.Factors, deps.TOTP = st.factors, totp.Codes{}
	if km.sealer != nil {
		deps.Sealer = km.sealer
	}
	// Passkeys (API.md §8), when a relying party can be had.
	rp, off, err := relyingParty(cfg, issuer)
	switch {
	case err != nil:
		return nil, usageError{err}
	case rp != nil:
		deps.WebAuthn = rp
		if metrics != nil {
			logger.Info("passkeys on", "rp_id", rp.RPID(), "origins", strings.Join(rp.Origins(), ","))
		}
	case metrics != nil:
		logger.Warn("passkeys are off: set --webauthn-rp-id and --webauthn-origins (or a --public-url on a host name, https or localhost)", "reason", off)
	}
	if cfg.SMTPURL != "" {
		if deps.Mailer, err = mail.New(mail.Config{URL: cfg.SMTPURL, From: cfg.MailFrom}); err != nil {
			return nil, err
		}
	} else if metrics != nil {
		logger.Warn("no --smtp-url: emails (reset and verification links included) are written to this log; for development only")
	}
	if sh.redis != nil {
		// PostgreSQL down, Redis up: accounts cached here keep serving
		// sessions and tokens (docs/operations.md); both down: 503.
		deps.BusHealthy = sh.redis.Healthy
	}
	svc, err := latch.New(latch.Config{
		Issuer: issuer, Audience: []string{audience},
		AccessTTL: cfg.AccessTTL, RefreshTTL: cfg.RefreshTTL, RefreshAbsoluteTTL: cfg.RefreshAbsoluteTTL,
		RefreshReuseGrace: cfg.RefreshReuseGrace, SessionIdleTimeout: cfg.SessionIdleTimeout,
		SessionAbsoluteTimeout: cfg.SessionAbsoluteTimeout, MaxSessionsPerUser: cfg.MaxSessionsPerUser,
		// One writer: sessions cached in process (openShared), accounts
		// kept, and the log read once a second for what the admin commands
		// (`latch sessions revoke`, `latch keys rotate`) write to the same
		// file from another process. Several instances on one database:
		// the log polled every 250 ms, so that a revocation on another
		// instance is refused within 1 s (latch.Config's defaults).
		SingleWriter: st.single,
		PublicURL:    cfg.PublicURL, RecoveryTTL: cfg.RecoveryTTL, VerificationTTL: cfg.VerificationTTL,
		RequireVerifiedEmail: cfg.RequireVerifiedEmail, ReauthWindow: cfg.ReauthWindow,
	}, deps)
	if err != nil {
		return nil, err
	}
	if err := svc.Start(ctx); err != nil {
		return nil, err
	}
	return svc, nil
}

// dbKind names the database without its credentials: the URL scheme, or
// "?" when the value has none (a libpq keyword DSN "host=h password=..."
// or "pw@host" has no colon, and all of it would be echoed).
func dbKind(db string) string {
	kind, _, ok := strings.Cut(db, ":")
	if !ok || kind == "" || !isScheme(kind) {
		return "?"
	}
	return kind
}

// isScheme reports whether s is an RFC 3986 scheme: a letter, then
// letters, digits, '+', '-' or '.'.
func isScheme(s string) bool {
	for i, c := range []byte(s) {
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || !('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}
