package http

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latch-dev/latch"
)

// KeySource publishes the token verification keys.
type KeySource interface {
	// JWKS returns the JSON Web Key Set document.
	JWKS() []byte
}

// Check is a readiness check. A failing required check makes /readyz 503;
// a failing optional one makes it "degraded".
type Check struct {
	Name     string
	Optional bool
	Check    func(ctx context.Context) error
}

// Server is latch's HTTP front end. Set the fields, then use Handler and
// NewHTTPServer.
type Server struct {
	Service *latch.Service
	Keys    KeySource
	Issuer  string // base of the discovery URLs

	// AdminKey is the bearer key of /v1/admin/*; empty disables the admin API.
	AdminKey string
	// Clients are resource servers (ID -> secret) allowed to introspect and
	// follow the revocation stream.
	Clients map[string]string
	// InsecureCookies drops Secure and the __Host-/__Secure- prefixes.
	InsecureCookies bool
	// IPLimiter throttles login and signup per client IP; nil = off.
	IPLimiter latch.RateLimiter
	// Checks feed /readyz.
	Checks []Check
	// MaxInFlight bounds concurrent requests (the revocation stream aside);
	// beyond it requests get a fast 503. 0 means 4096.
	MaxInFlight int

	Metrics *Metrics
	Logger  *slog.Logger
	Now     func() time.Time

	once     sync.Once
	cookies  cookieNames
	frames   frameCache // the revocation stream's latest events, encoded
	inflight atomic.Int64
	// Recycled per-request objects: a statusRecorder (reused only after its
	// handler returned; a panicking request's is dropped) and the whoami
	// body buffer (reused once written to the connection's buffer).
	recorders sync.Pool
	bufs      sync.Pool
	closing   chan struct{}
	closed    sync.Once
	routes    map[string][]string // pattern -> methods, as registered (Routes)
}

func (s *Server) init() {
	s.once.Do(func() {
		if s.Logger == nil {
			s.Logger = slog.New(slog.DiscardHandler)
		}
		if s.Now == nil {
			s.Now = time.Now
		}
		if s.Metrics == nil {
			s.Metrics = NewMetrics()
		}
		if s.MaxInFlight <= 0 {
			s.MaxInFlight = 4096
		}
		s.closing = make(chan struct{})
		s.recorders.New = func() any { return new(statusRecorder) }
		s.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
		s.cookies = newCookieNames(!s.InsecureCookies)
	})
}

// Close ends long-lived responses (the revocation stream) so that a
// graceful shutdown does not wait for them.
func (s *Server) Close() {
	s.init()
	s.closed.Do(func() { close(s.closing) })
}

// NewHTTPServer returns an *http.Server for h with latch's limits: headers
// of at most 64 KiB within 10 s, bodies within 30 s, idle connections
// dropped after 2 minutes. Serve it on a NewListener (or on one with
// ListenerOptions.CoarseDeadlines, which keeps these deadlines at a
// fraction of their cost, up to 100 ms late).
func NewHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// route maps methods to the handlers of one path.
type route map[string]http.HandlerFunc

// dispatch serves a route; other methods get a problem+json 405.
func (s *Server) dispatch(rt route) http.HandlerFunc {
	allow := make([]string, 0, len(rt))
	for m := range rt {
		allow = append(allow, m)
	}
	slices.Sort(allow)
	return func(w http.ResponseWriter, r *http.Request) {
		h, ok := rt[r.Method]
		if !ok && r.Method == http.MethodHead {
			h, ok = rt[http.MethodGet]
		}
		if !ok {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			s.writeError(w, r, errMethod)
			return
		}
		h(w, r)
	}
}

// Handler returns the complete HTTP handler.
func (s *Server) Handler() http.Handler {
	s.init()
	mux := &router{mux: http.NewServeMux(), exact: map[string]http.Handler{}}
	s.routes = map[string][]string{}
	handle := func(pattern string, rt route, stream bool) {
		s.routes[pattern] = slices.Sorted(maps.Keys(rt))
		mux.Handle(pattern, s.shed(pattern, s.instrument(pattern, s.dispatch(rt), stream), stream))
	}
	handle("/healthz", route{"GET": s.healthz}, false)
	handle("/readyz", route{"GET": s.readyz}, false)
	handle("/metrics", route{"GET": s.Metrics.handler().ServeHTTP}, false)
	handle("/openapi.yaml", route{"GET": s.openapi}, false)

	handle("/v1/signup", route{"POST": s.audited(s.limited(s.signup))}, false)
	handle("/v1/login", route{"POST": s.audited(s.limited(s.login))}, false)
	handle("/v1/login/mfa", route{"POST": s.audited(s.limited(s.loginMFA))}, false)
	handle("/v1/mfa/totp", route{"POST": s.audited(s.beginTOTP), "DELETE": s.audited(s.disableTOTP)}, false)
	handle("/v1/mfa/totp/confirm", route{"POST": s.audited(s.confirmTOTP)}, false)
	handle("/v1/mfa/recovery-codes", route{"POST": s.audited(s.newRecoveryCodes)}, false)
	handle("/v1/webauthn/register/begin", route{"POST": s.audited(s.beginPasskeyRegistration)}, false)
	handle("/v1/webauthn/register/finish", route{"POST": s.audited(s.finishPasskeyRegistration)}, false)
	handle("/v1/webauthn/credentials", route{"GET": s.listPasskeys}, false)
	handle("/v1/webauthn/credentials/{id}", route{"PATCH": s.audited(s.renamePasskey), "DELETE": s.audited(s.removePasskey)}, false)
	handle("/v1/login/passkey/begin", route{"POST": s.audited(s.limited(s.beginPasskeyLogin))}, false)
	handle("/v1/login/passkey/finish", route{"POST": s.audited(s.limited(s.finishPasskeyLogin))}, false)
	handle("/v1/login/mfa/webauthn/begin", route{"POST": s.audited(s.limited(s.beginMFAPasskey))}, false)
	handle("/v1/login/mfa/webauthn/finish", route{"POST": s.audited(s.limited(s.finishMFAPasskey))}, false)
	handle("/v1/whoami", route{"GET": s.whoami}, false)
	handle("/v1/logout", route{"POST": s.audited(s.logout)}, false)
	handle("/v1/logout-all", route{"POST": s.audited(s.logoutAll)}, false)
	handle("/v1/sessions", route{"GET": s.listSessions}, false)
	handle("/v1/sessions/{id}", route{"DELETE": s.audited(s.deleteSession)}, false)
	handle("/v1/password", route{"POST": s.audited(s.changePassword)}, false)
	handle("/v1/password/forgot", route{"POST": s.audited(s.limitedAs("recovery:", s.forgotPassword))}, false)
	handle("/v1/password/reset", route{"POST": s.audited(s.limitedAs("recovery:", s.resetPassword))}, false)
	handle("/v1/email/verification", route{"POST": s.audited(s.requestVerification)}, false)
	handle("/v1/email/verify", route{"POST": s.audited(s.limitedAs("recovery:", s.verifyEmail))}, false)
	handle("/v1/email/change", route{"POST": s.audited(s.changeEmail)}, false)
	handle("/v1/token/refresh", route{"POST": s.audited(s.refresh)}, false)
	handle("/v1/token/exchange", route{"POST": s.audited(s.exchange)}, false)
	handle("/v1/revocations", route{"GET": s.revocations}, true)

	handle("/.well-known/jwks.json", route{"GET": s.jwks}, false)
	handle("/.well-known/oauth-authorization-server", route{"GET": s.discovery}, false)
	handle("/oauth2/introspect", route{"POST": s.introspect}, false)
	handle("/oauth2/revoke", route{"POST": s.audited(s.revoke)}, false)

	handle("/v1/admin/users/{id}/sessions", route{"GET": s.audited(s.admin(s.adminSessions))}, false)
	handle("/v1/admin/users/{id}/revoke", route{"POST": s.audited(s.admin(s.adminRevoke))}, false)
	handle("/v1/admin/users/{id}/role", route{"POST": s.audited(s.admin(s.adminRole))}, false)
	handle("/v1/admin/users/{id}/disable", route{"POST": s.audited(s.admin(s.adminDisable(true)))}, false)
	handle("/v1/admin/users/{id}/enable", route{"POST": s.audited(s.admin(s.adminDisable(false)))}, false)

	s.pageRoutes(handle) // the browser side (API.md §7), in pages.go

	mux.Handle("/", s.instrument("other", http.HandlerFunc(s.notFound), false))
	return s.recoverer(s.headerLimit(s.crossOrigin(mux)))
}

// router is a ServeMux with a map in front for the patterns without
// wildcards: a request for exactly such a path (no escapes in it) costs
// one lookup where the ServeMux cleans, escapes and walks the path, about
// 1,300 instructions per request (measured with callgrind under wrk). What
// the map does not answer, the ServeMux does, with its redirects and 404s.
type router struct {
	mux   *http.ServeMux
	exact map[string]http.Handler
}

// Handle registers h for pattern (a path, no method or host).
func (rt *router) Handle(pattern string, h http.Handler) {
	rt.mux.Handle(pattern, h)
	if !strings.ContainsAny(pattern, "{ ") && !strings.HasSuffix(pattern, "/") {
		rt.exact[pattern] = h
	}
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, ok := rt.exact[r.URL.Path]; ok && r.URL.RawPath == "" && r.Method != http.MethodConnect {
		r.Pattern = r.URL.Path
		h.ServeHTTP(w, r)
		return
	}
	rt.mux.ServeHTTP(w, r)
}

// maxHeaderBytes is the request header limit of API.md §2.
const maxHeaderBytes = 64 << 10

// headerLimit answers 431 for request headers over 64 KiB. net/http's
// MaxHeaderBytes (set to the same value) stops anything far larger while it
// reads, but grants 4 KiB of slack; this makes the limit exact.
func (s *Server) headerLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + len(r.Host) + 4
		for k, vs := range r.Header {
			for _, v := range vs {
				n += len(k) + len(v) + 4 // "k: v\r\n"
			}
		}
		if n > maxHeaderBytes {
			s.writeError(w, r, errHeaderTooLarge)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, latch.ErrNotFound)
}

// recoverer turns a panic into a logged, counted 500; it never reaches the client as a crash.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Metrics.panics.Inc()
				s.Logger.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v)
				s.writeError(w, r, errors.New("panic"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// crossOrigin is CSRF layer one (API.md §2): a state-changing request that
// a browser marks as cross-origin is refused, login and signup included.
// http.CrossOriginProtection does the Sec-Fetch-Site / Origin check; it lets
// through requests with neither header (non-browser clients), which the
// SameSite cookies and the synchronizer token (layer two) then cover.
func (s *Server) crossOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !safeMethod(r.Method) {
			// Sec-Fetch-Site, when present, decides alone (API.md §2): a
			// same-origin form on a Referrer-Policy: no-referrer page (/reset)
			// sends Origin: null with it. Without it, Origin null is refused.
			nullOrigin := r.Header.Get("Origin") == "null" && r.Header.Get("Sec-Fetch-Site") != "same-origin"
			if err := cop.Check(r); err != nil || nullOrigin {
				s.Metrics.observe("csrf", 403)
				s.writeError(w, r, latch.ErrCSRF)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// limited applies the per-IP token bucket of login and signup.
func (s *Server) limited(next http.HandlerFunc) http.HandlerFunc { return s.limitedAs("", next) }

// limitedAs applies the per-IP token bucket under a key prefix: the
// recovery routes have buckets of their own, so that resets do not spend
// the budget of logins.
func (s *Server) limitedAs(prefix string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.IPLimiter != nil {
			wait, err := s.IPLimiter.Allow(r.Context(), prefix+clientIP(r), s.Now())
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if wait > 0 {
				s.writeError(w, r, &latch.RateLimitError{RetryAfter: wait})
				return
			}
		}
		next(w, r)
	}
}

// clientIP is the peer address. X-Forwarded-For is not trusted: anyone
// can send it.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
