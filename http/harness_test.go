package http_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/email"
	lhttp "github.com/latch-dev/latch/http"
	"github.com/latch-dev/latch/instrumented"
	"github.com/latch-dev/latch/internal/smtptest"
	"github.com/latch-dev/latch/internal/testkit"
	"github.com/latch-dev/latch/jose"
	"github.com/latch-dev/latch/mail"
	"github.com/latch-dev/latch/memory"
	"github.com/latch-dev/latch/password"
	"github.com/latch-dev/latch/totp"
	"github.com/latch-dev/latch/webauthn"
)

// The harness wires a real latch.Service on the memory stores, exactly as
// cmd/latch/serve.go does for --db memory:, behind the real http.Server that
// NewHTTPServer builds (so header limits and timeouts are the production
// ones). Time is a controllable clock shared by every component that reads
// it, so timeouts are tested by moving time, never by sleeping.

// Cookie names (API.md §3).
const (
	sessionCookie = "__Host-latch_session"
	csrfCookie    = "__Host-latch_csrf"
	refreshCookie = "__Secure-latch_refresh"
)

// testConfig mirrors the serve flags the tests vary.
type testConfig struct {
	idle, absolute              time.Duration
	accessTTL, refreshTTL       time.Duration
	refreshAbsolute, grace      time.Duration
	maxSessions                 int
	lockMax                     int
	lockWindow                  time.Duration
	ipRate                      float64
	insecure                    bool
	adminKey                    string
	clients                     map[string]string
	params                      password.Params // zero: the production defaults
	noCache                     bool            // the multi-instance mode: the store is the only truth
	follow                      time.Duration
	maxInFlight                 int
	hashSlots                   int           // argon2id slots; 0: the hasher's default (GOMAXPROCS − 1, at least 1)
	hashQueue                   int           // callers that may wait for an argon2id slot; 0: 64 × the slots
	readHeaderTimeout, httpIdle time.Duration // overrides of the http.Server fields, for the slow-client tests
	shared                      *testServer
	clock                       *testkit.Clock // with shared: this instance's own clock
	publicURL                   string         // --public-url; default: the issuer
	mailRate                    float64        // the per-account mail limit a second; 0: none
	requireVerified             bool
	mailByHand                  bool // no sender in the background: the test calls DeliverMail
	noPasskeys                  bool // no relying party, as without a usable --webauthn-rp-id
	smtp                        smtptest.Options
}

type option func(*testConfig)

func withIdleTimeout(d time.Duration) option     { return func(c *testConfig) { c.idle = d } }
func withAbsoluteTimeout(d time.Duration) option { return func(c *testConfig) { c.absolute = d } }
func withAccessTTL(d time.Duration) option       { return func(c *testConfig) { c.accessTTL = d } }
func withRefreshTTL(sliding, absolute time.Duration) option {
	return func(c *testConfig) { c.refreshTTL, c.refreshAbsolute = sliding, absolute }
}
func withMaxSessions(n int) option          { return func(c *testConfig) { c.maxSessions = n } }
func withReuseGrace(d time.Duration) option { return func(c *testConfig) { c.grace = d } }
func withLockout(maxFailures int, window time.Duration) option {
	return func(c *testConfig) { c.lockMax, c.lockWindow = maxFailures, window }
}
func withIPRate(perSecond float64) option { return func(c *testConfig) { c.ipRate = perSecond } }
func withInsecureCookies() option         { return func(c *testConfig) { c.insecure = true } }
func withAdminKey(k string) option        { return func(c *testConfig) { c.adminKey = k } }
func withClient(id, secret string) option {
	return func(c *testConfig) { c.clients[id] = secret }
}
func withParams(p password.Params) option { return func(c *testConfig) { c.params = p } }
func withDefaultParams() option           { return func(c *testConfig) { c.params = password.Params{} } }
func withoutSessionCache() option         { return func(c *testConfig) { c.noCache = true } }

// forSessionModes runs f as two subtests: with the session cache (the
// single-node default) and with every session lookup going to the store.
func forSessionModes(t *testing.T, f func(t *testing.T, opts []option)) {
	for _, m := range []struct {
		name string
		opts []option
	}{
		{"cached sessions", nil},
		{"store only", []option{withoutSessionCache()}},
	} {
		t.Run(m.name, func(t *testing.T) { f(t, m.opts) })
	}
}
func withFollow(every time.Duration) option { return func(c *testConfig) { c.follow = every } }
func withMaxInFlight(n int) option          { return func(c *testConfig) { c.maxInFlight = n } }
func withHashSlots(n int) option            { return func(c *testConfig) { c.hashSlots = n } }
func withHashQueue(n int) option            { return func(c *testConfig) { c.hashQueue = n } }
func withReadHeaderTimeout(d time.Duration) option {
	return func(c *testConfig) { c.readHeaderTimeout = d }
}
func withHTTPIdleTimeout(d time.Duration) option { return func(c *testConfig) { c.httpIdle = d } }

// withSharedStores makes a second instance of ts: same database (stores and
// signing keys), same issuer and same clock, its own process state.
func withSharedStores(ts *testServer) option { return func(c *testConfig) { c.shared = ts } }

// withOwnClock gives an instance made withSharedStores a clock of its own
// (a skewed instance of one deployment).
func withOwnClock(c *testkit.Clock) option  { return func(cfg *testConfig) { cfg.clock = c } }
func withPublicURL(u string) option         { return func(c *testConfig) { c.publicURL = u } }
func withMailRate(perSecond float64) option { return func(c *testConfig) { c.mailRate = perSecond } }
func withRequireVerifiedEmail() option      { return func(c *testConfig) { c.requireVerified = true } }
func withMailByHand() option                { return func(c *testConfig) { c.mailByHand = true } }
func withoutPasskeys() option               { return func(c *testConfig) { c.noPasskeys = true } }

// smallParams make argon2id cheap, for every test but those of the defaults.
var smallParams = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// testServer is one running latch.
type testServer struct {
	URL     string // where this instance listens
	Issuer  string // the issuer and audience, shared by instances of one deployment
	Clock   *testkit.Clock
	Service *latch.Service
	Server  *lhttp.Server
	HTTP    *http.Server
	Handler http.Handler
	Metrics *lhttp.Metrics

	Faults   *faults
	Users    *faultyUsers
	Sessions *faultySessions
	Revs     *faultyRevocations
	keyStore *memory.KeyStore
	Keys     *jose.KeySet
	Signer   *jose.Signer
	Hasher   *countingHasher
	Verifier *countingVerifier
	Throttle *spyThrottle
	Tokens   *memory.AccountTokenStore
	Outbox   *memory.Outbox
	Factors  *memory.FactorStore
	// PasskeyOrigin is the origin of the relying party (rp ID localhost),
	// which the software authenticator of the tests reports.
	PasskeyOrigin string
	SMTP          *smtptest.Server // the mail server latch sends to; its mail is read by the tests
	Logs          *testkit.Buffer
	Audit         *testkit.Buffer // the audit trail, one JSON line per event

	client *http.Client
	seq    atomic.Int64
}

func newTestServer(t testing.TB, opts ...option) *testServer {
	t.Helper()
	cfg := testConfig{
		idle: 30 * time.Minute, absolute: 12 * time.Hour,
		accessTTL: 15 * time.Minute, refreshTTL: 168 * time.Hour, refreshAbsolute: 720 * time.Hour,
		lockMax: 5, lockWindow: 15 * time.Minute,
		clients: map[string]string{},
		params:  smallParams,
	}
	for _, o := range opts {
		o(&cfg)
	}
	ctx := context.Background()
	ts := &testServer{Logs: &testkit.Buffer{}, Audit: &testkit.Buffer{}}
	logger := slog.New(slog.NewTextHandler(ts.Logs, &slog.HandlerOptions{Level: slog.LevelInfo}))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.URL = "http://" + ln.Addr().String()
	ts.PasskeyOrigin = "http://localhost:" + strings.TrimPrefix(ts.URL, "http://127.0.0.1:")
	if sh := cfg.shared; sh != nil {
		ts.Issuer, ts.Clock, ts.Faults = sh.Issuer, sh.Clock, sh.Faults
		ts.Users, ts.Sessions, ts.Revs = sh.Users, sh.Sessions, sh.Revs
		ts.Tokens, ts.Outbox, ts.SMTP, ts.Factors = sh.Tokens, sh.Outbox, sh.SMTP, sh.Factors
		ts.PasskeyOrigin = sh.PasskeyOrigin // one deployment, one relying party
		ts.keyStore, ts.Keys = sh.keyStore, sh.Keys
		if cfg.clock != nil {
			ts.Clock = cfg.clock
		}
	} else {
		ts.Issuer, ts.Clock, ts.Faults = "http://"+ln.Addr().String(), testkit.NewClock(time.Now().UTC().Truncate(time.Second)), &faults{}
		ts.Users = &faultyUsers{UserStore: &memory.UserStore{}, f: ts.Faults}
		ts.Sessions = &faultySessions{SessionStore: &memory.SessionStore{}, f: ts.Faults}
		ts.Revs = &faultyRevocations{RevocationStore: &memory.RevocationStore{}, f: ts.Faults}
		ts.Tokens, ts.Outbox, ts.Factors = &memory.AccountTokenStore{}, &memory.Outbox{}, &memory.FactorStore{}
		ts.SMTP = smtptest.Start(t, cfg.smtp)
		ts.keyStore = &memory.KeyStore{}
		k, err := jose.GenerateKey(jose.EdDSA, ts.Clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.keyStore.InitKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		keys, err := ts.keyStore.Keys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ts.Keys, err = jose.NewKeySet(jose.KeySetConfig{Alg: jose.EdDSA, AccessTTL: cfg.accessTTL, Now: ts.Clock.Now}, keys)
		if err != nil {
			t.Fatal(err)
		}
	}
	ts.Signer = jose.NewSigner(ts.Keys)
	ts.Metrics = lhttp.NewMetrics()
	verifier, err := jose.NewVerifier(ts.Keys, ts.Issuer, ts.Issuer, jose.WithCache(100_000), jose.WithObserver(ts.Metrics.ObserveVerify))
	if err != nil {
		t.Fatal(err)
	}
	verifier.Now = ts.Clock.Now
	ts.Verifier = &countingVerifier{TokenVerifier: verifier}

	hcfg := password.Config{Params: cfg.params, Observe: func(d time.Duration) { ts.Metrics.HashSeconds.Observe(d.Seconds()) },
		ObserveWait: ts.Metrics.ObserveHashWait, MaxConcurrent: cfg.hashSlots, MaxQueue: cfg.hashQueue}
	hasher, err := password.New(hcfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.Metrics.WatchHasher(hasher)
	ts.Hasher = &countingHasher{PasswordHasher: hasher}
	ts.Throttle = &spyThrottle{LoginThrottle: memory.NewLoginThrottle(cfg.lockMax, cfg.lockWindow)}

	if cfg.follow == 0 {
		cfg.follow = -1 // polling only where a test asks for it
	}
	// Timed as cmd/latch times them, under the session cache.
	sessions := instrumented.Sessions(ts.Sessions, "memory", ts.Metrics.StoreObserver)
	if !cfg.noCache { // the single-writer default of `latch serve`
		cache := memory.NewSessionCache(sessions)
		cache.Start(ctx, nil)
		t.Cleanup(func() { _ = cache.Close() })
		sessions = cache
	}
	mailer, err := mail.New(mail.Config{URL: ts.SMTP.URL(), From: "latch@example.com", Timeout: 10 * time.Second,
		TLS: &tls.Config{RootCAs: ts.SMTP.CA, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	mailInterval := time.Duration(0)
	if cfg.mailByHand {
		mailInterval = -1
	}
	var mailLimiter latch.RateLimiter
	if cfg.mailRate > 0 {
		mailLimiter = memory.NewRateLimiter(cfg.mailRate)
	}
	var rp latch.WebAuthn
	if !cfg.noPasskeys {
		if rp, err = webauthn.New(webauthn.Config{RPID: "localhost", Origins: []string{ts.PasskeyOrigin}}); err != nil {
			t.Fatal(err)
		}
	}
	ts.Service, err = latch.New(latch.Config{
		Issuer: ts.Issuer, Audience: []string{ts.Issuer},
		AccessTTL: cfg.accessTTL, RefreshTTL: cfg.refreshTTL, RefreshAbsoluteTTL: cfg.refreshAbsolute,
		RefreshReuseGrace: cfg.grace, SessionIdleTimeout: cfg.idle, SessionAbsoluteTimeout: cfg.absolute,
		MaxSessionsPerUser: cfg.maxSessions, SingleWriter: !cfg.noCache, FollowInterval: cfg.follow,
		PublicURL: cfg.publicURL, RequireVerifiedEmail: cfg.requireVerified, MailInterval: mailInterval,
	}, latch.Deps{
		AccountTokens: ts.Tokens, Outbox: ts.Outbox, Mailer: mailer, MailLimiter: mailLimiter,
		Factors: ts.Factors, TOTP: totp.Codes{}, WebAuthn: rp,
		Users:       instrumented.Users(ts.Users, "memory", ts.Metrics.StoreObserver),
		Sessions:    sessions,
		Revocations: instrumented.Revocations(ts.Revs, "memory", ts.Metrics.StoreObserver),
		Hasher:      ts.Hasher, Signer: ts.Signer, Verifier: ts.Verifier, Throttle: ts.Throttle,
		NormalizeEmail: email.Normalize, CheckPassword: password.NewPolicy().Check, DummyHash: hasher.Dummy(),
		Logger: logger, Now: ts.Clock.Now, OnEvent: latch.Events(ts.Metrics.Event, latch.AuditLogger(slog.New(slog.NewJSONHandler(ts.Audit, nil)))),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Service.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ts.Metrics.WatchService(ctx, ts.Service)
	ts.Server = &lhttp.Server{
		Service: ts.Service, Keys: ts.Keys, Issuer: ts.Issuer, AdminKey: cfg.adminKey, Clients: cfg.clients,
		InsecureCookies: cfg.insecure, Metrics: ts.Metrics, Logger: logger, Now: ts.Clock.Now,
		MaxInFlight: cfg.maxInFlight,
		Checks:      []lhttp.Check{{Name: "db", Check: ts.Faults.ping}},
	}
	if cfg.ipRate > 0 {
		ts.Server.IPLimiter = memory.NewRateLimiter(cfg.ipRate)
	}
	ts.Handler = ts.Server.Handler()
	ts.HTTP = lhttp.NewHTTPServer(ts.Handler, logger)
	if cfg.readHeaderTimeout > 0 {
		ts.HTTP.ReadHeaderTimeout = cfg.readHeaderTimeout
	}
	if cfg.httpIdle > 0 {
		ts.HTTP.IdleTimeout = cfg.httpIdle
	}
	ts.HTTP.RegisterOnShutdown(ts.Server.Close)
	go func() { _ = ts.HTTP.Serve(lhttp.NewListener(ln)) }()

	transport := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	ts.client = &http.Client{Transport: transport, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(func() {
		transport.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = ts.HTTP.Shutdown(ctx)
		_ = ts.Service.Close()
	})
	return ts
}

// response is a fully read HTTP response.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// reqOpt adjusts a request before it is sent.
type reqOpt func(*http.Request)

func header(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }
func ctype(v string) reqOpt     { return header("Content-Type", v) }
func bearer(tok string) reqOpt  { return header("Authorization", "Bearer "+tok) }
func withCookie(name, value string) reqOpt {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: name, Value: value}) }
}

// noContentType removes the Content-Type the body would get.
func noContentType() reqOpt { return func(r *http.Request) { r.Header.Del("Content-Type") } }

// as authenticates with a cookie session and its CSRF token.
func as(s *session) reqOpt {
	return func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: s.cookieName, Value: s.Secret})
		r.Header.Set("X-CSRF-Token", s.CSRF)
	}
}

// cookieOnly authenticates with a session cookie and no CSRF token.
func cookieOnly(s *session) reqOpt { return withCookie(s.cookieName, s.Secret) }

// newRequest builds a request. body: nil (none), string or []byte (sent as
// is, typed application/json unless an option says otherwise), or anything
// else (JSON-encoded).
func (ts *testServer) newRequest(method, path string, body any, opts ...reqOpt) (*http.Request, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(req)
	}
	return req, nil
}

// send is do without testing.T, for goroutines.
func (ts *testServer) send(method, path string, body any, opts ...reqOpt) (*response, error) {
	req, err := ts.newRequest(method, path, body, opts...)
	if err != nil {
		return nil, err
	}
	return ts.sendRequest(req)
}

func (ts *testServer) sendRequest(req *http.Request) (*response, error) {
	res, err := ts.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	return &response{Status: res.StatusCode, Header: res.Header, Body: b}, nil
}

func (ts *testServer) do(t testing.TB, method, path string, body any, opts ...reqOpt) *response {
	t.Helper()
	r, err := ts.send(method, path, body, opts...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// serve runs a request through the handler in process (no transport
// limits), from the given peer address.
func (ts *testServer) serve(t testing.TB, req *http.Request, remoteAddr string) *httptest.ResponseRecorder {
	t.Helper()
	if remoteAddr != "" {
		req.RemoteAddr = remoteAddr
	}
	rec := httptest.NewRecorder()
	ts.Handler.ServeHTTP(rec, req)
	return rec
}

// want fails unless r has the status and, when code is not empty, the
// problem code.
func (r *response) want(t testing.TB, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	if code != "" {
		if got := r.code(); got != code {
			t.Fatalf("code %q, want %q; body %s", got, code, r.Body)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("error Content-Type %q, want application/problem+json", ct)
		}
	}
}

// code is the problem code of an error response, or "".
func (r *response) code() string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(r.Body, &p)
	return p.Code
}

func (r *response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// str is a string field of a JSON object, possibly nested ("user.id").
func (r *response) str(t testing.TB, path string) string {
	t.Helper()
	var v any = r.json(t)
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("no %q in %s", path, r.Body)
		}
		v = m[k]
	}
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%q is not a string in %s", path, r.Body)
	}
	return s
}

// setCookies are the raw Set-Cookie lines.
func (r *response) setCookies() []string { return r.Header.Values("Set-Cookie") }

// cookie is the parsed Set-Cookie of that name, or nil.
func (r *response) cookie(name string) *http.Cookie {
	for _, line := range r.setCookies() {
		c, err := http.ParseSetCookie(line)
		if err == nil && c.Name == name {
			return c
		}
	}
	return nil
}

// newUser signs up a fresh account and returns its email and password.
func (ts *testServer) newUser(t testing.TB) (string, string) {
	t.Helper()
	n := ts.seq.Add(1)
	addr, pw := fmt.Sprintf("user%d@example.com", n), fmt.Sprintf("horse-battery-%d-staple", n)
	ts.MustSignup(t, addr, pw)
	return addr, pw
}

// newUsers returns n accounts with one password: the first signed up, the
// others written to the store with its hash (n signups would cost n
// hashes). For tests of many accounts at once: each has a lockout of its
// own.
func (ts *testServer) newUsers(t testing.TB, n int) (addrs []string, pw string) {
	t.Helper()
	first, pw := ts.newUser(t)
	u, err := ts.Users.UserByEmail(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	addrs = append(addrs, first)
	for range n - 1 {
		c := *u
		c.ID = fmt.Sprintf("%s-%d", u.ID, ts.seq.Add(1))
		c.Email = fmt.Sprintf("user%d@example.com", ts.seq.Load())
		if err := ts.Users.CreateUser(context.Background(), &c); err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, c.Email)
	}
	return addrs, pw
}

// MustSignup creates an account and returns its ID.
func (ts *testServer) MustSignup(t testing.TB, addr, pw string) string {
	t.Helper()
	r := ts.do(t, "POST", "/v1/signup", map[string]string{"email": addr, "password": pw})
	r.want(t, 201, "")
	return r.str(t, "user.id")
}

// session is a cookie session as a browser holds it.
type session struct {
	ID, Secret, CSRF, UserID string
	cookieName               string
	login                    *response
}

// MustLogin logs in with mode session.
func (ts *testServer) MustLogin(t testing.TB, addr, pw string, opts ...reqOpt) *session {
	t.Helper()
	r := ts.do(t, "POST", "/v1/login", map[string]string{"email": addr, "password": pw}, opts...)
	r.want(t, 200, "")
	return ts.sessionFrom(t, r, sessionCookie)
}

func (ts *testServer) sessionFrom(t testing.TB, r *response, name string) *session {
	t.Helper()
	c := r.cookie(name)
	if c == nil || c.Value == "" {
		t.Fatalf("no %s cookie in %q", name, r.setCookies())
	}
	return &session{ID: r.str(t, "session.id"), Secret: c.Value, CSRF: r.str(t, "csrf_token"),
		UserID: r.str(t, "user.id"), cookieName: name, login: r}
}

// tokens is what a token-mode client holds.
type tokens struct {
	Access, Refresh string
}

// MustTokenLogin logs in with mode token and the refresh token in the body.
func (ts *testServer) MustTokenLogin(t testing.TB, addr, pw string) *tokens {
	t.Helper()
	r := ts.do(t, "POST", "/v1/login", map[string]string{"email": addr, "password": pw, "mode": "token", "refresh_delivery": "body"})
	r.want(t, 200, "")
	return &tokens{Access: r.str(t, "access_token"), Refresh: r.str(t, "refresh_token")}
}

// MustRefresh spends a refresh token (body delivery).
func (ts *testServer) MustRefresh(t testing.TB, refresh string) *tokens {
	t.Helper()
	r := ts.do(t, "POST", "/v1/token/refresh", map[string]string{"refresh_token": refresh})
	r.want(t, 200, "")
	return &tokens{Access: r.str(t, "access_token"), Refresh: r.str(t, "refresh_token")}
}

// MustExchange trades a cookie session for an access token bound to it.
func (ts *testServer) MustExchange(t testing.TB, s *session) string {
	t.Helper()
	r := ts.do(t, "POST", "/v1/token/exchange", nil, as(s))
	r.want(t, 200, "")
	return r.str(t, "access_token")
}

// whoami is the status of GET /v1/whoami with the given credentials.
func (ts *testServer) whoami(t testing.TB, opts ...reqOpt) int {
	t.Helper()
	return ts.do(t, "GET", "/v1/whoami", nil, opts...).Status
}

// wantAlive and wantDead check a credential with whoami.
func (ts *testServer) wantAlive(t testing.TB, what string, opts ...reqOpt) {
	t.Helper()
	if st := ts.whoami(t, opts...); st != 200 {
		t.Fatalf("%s: whoami %d, want 200", what, st)
	}
}

func (ts *testServer) wantDead(t testing.TB, what string, opts ...reqOpt) {
	t.Helper()
	if st := ts.whoami(t, opts...); st != 401 {
		t.Fatalf("%s: whoami %d, want 401", what, st)
	}
}

// refreshStatus is the status and code of a body refresh, which it spends.
func (ts *testServer) refreshStatus(t testing.TB, refresh string) (int, string) {
	t.Helper()
	r := ts.do(t, "POST", "/v1/token/refresh", map[string]string{"refresh_token": refresh})
	return r.Status, r.code()
}

// claimsOf decodes an access token's payload (no verification).
func claimsOf(t testing.TB, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// mint signs an access token with latch's own key: what latch would issue
// with these claims.
func (ts *testServer) mint(t testing.TB, c *latch.AccessClaims) string {
	t.Helper()
	tok, err := ts.Signer.Sign(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// claimsFor rebuilds the latch.AccessClaims of a token latch issued.
func (ts *testServer) claimsFor(t testing.TB, tok string) *latch.AccessClaims {
	t.Helper()
	m := claimsOf(t, tok)
	return &latch.AccessClaims{Issuer: m["iss"].(string), Subject: m["sub"].(string), Audience: []string{m["aud"].(string)},
		ExpiresAt: time.Unix(int64(m["exp"].(float64)), 0), IssuedAt: time.Unix(int64(m["iat"].(float64)), 0),
		ID: m["jti"].(string), SessionID: m["sid"].(string), Role: m["role"].(string)}
}

// series returns the value of one series of /metrics, named as the text
// format writes it (labels sorted by name), or 0 when it is not there yet
// (a labelled counter appears at its first increment).
func (ts *testServer) series(t testing.TB, name string) float64 {
	t.Helper()
	v, _ := ts.metric(t, name)
	return v
}

// scrape returns the value of an unlabelled metric from /metrics, which
// must be there.
func (ts *testServer) scrape(t testing.TB, name string) float64 {
	t.Helper()
	v, ok := ts.metric(t, name)
	if !ok {
		t.Fatalf("no metric %s in /metrics", name)
	}
	return v
}

// metric reads one series of /metrics; ok is false when it is not there.
func (ts *testServer) metric(t testing.TB, name string) (float64, bool) {
	t.Helper()
	r := ts.do(t, "GET", "/metrics", nil)
	r.want(t, 200, "")
	for line := range strings.Lines(string(r.Body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f, true
		}
	}
	return 0, false
}

var errStoreDown = errors.New("test: store unreachable")

// faults switches the stores off and on: an outage of the database.
type faults struct {
	users, sessions, revs atomic.Bool
}

func (f *faults) all(down bool) {
	f.users.Store(down)
	f.sessions.Store(down)
	f.revs.Store(down)
}

func (f *faults) ping(context.Context) error {
	if f.users.Load() || f.sessions.Load() || f.revs.Load() {
		return errStoreDown
	}
	return nil
}

func down(b *atomic.Bool) error {
	if b.Load() {
		return errStoreDown
	}
	return nil
}

// faultyUsers decorates a real UserStore with outages.
type faultyUsers struct {
	latch.UserStore
	f *faults
}

func (s *faultyUsers) CreateUser(ctx context.Context, u *latch.User) error {
	if err := down(&s.f.users); err != nil {
		return err
	}
	return s.UserStore.CreateUser(ctx, u)
}

func (s *faultyUsers) UserByID(ctx context.Context, id string) (*latch.User, error) {
	if err := down(&s.f.users); err != nil {
		return nil, err
	}
	return s.UserStore.UserByID(ctx, id)
}

func (s *faultyUsers) UserByEmail(ctx context.Context, e string) (*latch.User, error) {
	if err := down(&s.f.users); err != nil {
		return nil, err
	}
	return s.UserStore.UserByEmail(ctx, e)
}

func (s *faultyUsers) UpdateUser(ctx context.Context, u *latch.User) error {
	if err := down(&s.f.users); err != nil {
		return err
	}
	return s.UserStore.UpdateUser(ctx, u)
}

// faultySessions decorates a real SessionStore with outages, and records
// every byte string handed to it, so tests can prove what it never holds.
type faultySessions struct {
	latch.SessionStore
	f *faults

	mu      sync.Mutex
	written [][]byte

	afterRotate  atomic.Pointer[func()] // run once, after the next successful rotation
	beforeDelete atomic.Pointer[func()] // run once, before the next deletion
}

// onNextDelete makes f run just before the next session or family
// deletion reaches the store, in the deleting request.
func (s *faultySessions) onNextDelete(f func()) { s.beforeDelete.Store(&f) }

// onNextRotation makes f run right after the next successful refresh
// rotation returns from the store, in the rotating request.
func (s *faultySessions) onNextRotation(f func()) { s.afterRotate.Store(&f) }

func (s *faultySessions) record(vals ...[]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range vals {
		s.written = append(s.written, bytes.Clone(v))
	}
}

func (s *faultySessions) recordSession(x *latch.Session) {
	s.record([]byte(x.ID), []byte(x.UserID), x.TokenHash, x.CSRFHash, x.PrevHash, []byte(x.UserAgent), []byte(x.IP))
}

// holds reports whether any value written to the store contains secret,
// as text or as its decoded bytes.
func (s *faultySessions) holds(secret string) bool {
	raw, _ := base64.RawURLEncoding.DecodeString(secret)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.written {
		if bytes.Contains(w, []byte(secret)) || (len(raw) > 0 && bytes.Contains(w, raw)) {
			return true
		}
	}
	return false
}

// wrote reports whether exactly this value was written.
func (s *faultySessions) wrote(v []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.written {
		if bytes.Equal(w, v) {
			return true
		}
	}
	return false
}

func (s *faultySessions) CreateSession(ctx context.Context, x *latch.Session) error {
	if err := down(&s.f.sessions); err != nil {
		return err
	}
	s.recordSession(x)
	return s.SessionStore.CreateSession(ctx, x)
}

func (s *faultySessions) SessionByID(ctx context.Context, id string) (*latch.Session, error) {
	if err := down(&s.f.sessions); err != nil {
		return nil, err
	}
	return s.SessionStore.SessionByID(ctx, id)
}

func (s *faultySessions) SessionByTokenHash(ctx context.Context, h []byte) (*latch.Session, error) {
	if err := down(&s.f.sessions); err != nil {
		return nil, err
	}
	return s.SessionStore.SessionByTokenHash(ctx, h)
}

func (s *faultySessions) SessionsByUser(ctx context.Context, id string) ([]*latch.Session, error) {
	if err := down(&s.f.sessions); err != nil {
		return nil, err
	}
	return s.SessionStore.SessionsByUser(ctx, id)
}

func (s *faultySessions) TouchSessions(ctx context.Context, ts []latch.SessionTouch) error {
	if err := down(&s.f.sessions); err != nil {
		return err
	}
	return s.SessionStore.TouchSessions(ctx, ts)
}

func (s *faultySessions) ReplaceSessionToken(ctx context.Context, id string, token, csrf []byte) error {
	if err := down(&s.f.sessions); err != nil {
		return err
	}
	s.record([]byte(id), token, csrf)
	return s.SessionStore.ReplaceSessionToken(ctx, id, token, csrf)
}

func (s *faultySessions) RotateRefresh(ctx context.Context, r latch.RefreshRotation) (*latch.Session, error) {
	if err := down(&s.f.sessions); err != nil {
		return nil, err
	}
	s.record(r.Presented, r.Next)
	fam, err := s.SessionStore.RotateRefresh(ctx, r)
	if err == nil {
		if f := s.afterRotate.Swap(nil); f != nil {
			(*f)()
		}
	}
	return fam, err
}

func (s *faultySessions) DeleteSession(ctx context.Context, id string) error {
	if err := down(&s.f.sessions); err != nil {
		return err
	}
	if f := s.beforeDelete.Swap(nil); f != nil {
		(*f)()
	}
	return s.SessionStore.DeleteSession(ctx, id)
}

// CountLiveSessions passes the memory store's count through (the
// latch.SessionCounter the active-sessions gauge reads), with outages.
func (s *faultySessions) CountLiveSessions(ctx context.Context, now time.Time) (int, error) {
	if err := down(&s.f.sessions); err != nil {
		return 0, err
	}
	return s.SessionStore.(latch.SessionCounter).CountLiveSessions(ctx, now)
}

func (s *faultySessions) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	if err := down(&s.f.sessions); err != nil {
		return 0, err
	}
	return s.SessionStore.DeleteExpiredSessions(ctx, now)
}

// faultyRevocations decorates a real RevocationStore with outages.
type faultyRevocations struct {
	latch.RevocationStore
	f *faults
}

func (s *faultyRevocations) AddRevocations(ctx context.Context, revs []*latch.Revocation) error {
	if err := down(&s.f.revs); err != nil {
		return err
	}
	return s.RevocationStore.AddRevocations(ctx, revs)
}

func (s *faultyRevocations) RevocationsSince(ctx context.Context, after int64, now time.Time, limit int) ([]*latch.Revocation, error) {
	if err := down(&s.f.revs); err != nil {
		return nil, err
	}
	return s.RevocationStore.RevocationsSince(ctx, after, now, limit)
}

func (s *faultyRevocations) DeleteExpiredRevocations(ctx context.Context, now time.Time) (int, error) {
	if err := down(&s.f.revs); err != nil {
		return 0, err
	}
	return s.RevocationStore.DeleteExpiredRevocations(ctx, now)
}

// countingHasher wraps the real password.Hasher: it counts calls and can
// run a hook (block, panic) as a call enters.
type countingHasher struct {
	latch.PasswordHasher
	hashes, compares atomic.Int64
	before           atomic.Pointer[func()]
}

func (h *countingHasher) setHook(f func()) {
	if f == nil {
		h.before.Store(nil)
		return
	}
	h.before.Store(&f)
}

func (h *countingHasher) enter() {
	if f := h.before.Load(); f != nil {
		(*f)()
	}
}

func (h *countingHasher) Hash(ctx context.Context, pw string) (string, error) {
	h.hashes.Add(1)
	h.enter()
	return h.PasswordHasher.Hash(ctx, pw)
}

func (h *countingHasher) Compare(ctx context.Context, phc, pw string) (bool, bool, error) {
	h.compares.Add(1)
	h.enter()
	return h.PasswordHasher.Compare(ctx, phc, pw)
}

// countingVerifier wraps the real jose.Verifier and counts what reaches it.
type countingVerifier struct {
	latch.TokenVerifier
	calls   atomic.Int64
	longest atomic.Int64
}

func (v *countingVerifier) Verify(ctx context.Context, tok string) (*latch.AccessClaims, error) {
	v.calls.Add(1)
	for {
		l := v.longest.Load()
		if int64(len(tok)) <= l || v.longest.CompareAndSwap(l, int64(len(tok))) {
			break
		}
	}
	return v.TokenVerifier.Verify(ctx, tok)
}

// spyThrottle wraps the real login throttle and remembers the longest
// account key it was given.
type spyThrottle struct {
	latch.LoginThrottle
	longest atomic.Int64
}

func (s *spyThrottle) note(account string) {
	for {
		l := s.longest.Load()
		if int64(len(account)) <= l || s.longest.CompareAndSwap(l, int64(len(account))) {
			return
		}
	}
}

func (s *spyThrottle) Locked(ctx context.Context, account string, now time.Time) (time.Duration, error) {
	s.note(account)
	return s.LoginThrottle.Locked(ctx, account, now)
}

func (s *spyThrottle) RecordFailure(ctx context.Context, account string, now time.Time) error {
	s.note(account)
	return s.LoginThrottle.RecordFailure(ctx, account, now)
}

func (s *spyThrottle) Reserve(ctx context.Context, account string, now time.Time) (string, time.Duration, error) {
	s.note(account)
	return s.LoginThrottle.Reserve(ctx, account, now)
}

func (s *spyThrottle) Settle(ctx context.Context, account, id string, failed bool, now time.Time) error {
	s.note(account)
	return s.LoginThrottle.Settle(ctx, account, id, failed, now)
}

// headerSet is a response's headers without those that differ per request.
func headerSet(h http.Header) http.Header {
	c := h.Clone()
	c.Del("Date")
	return c
}
