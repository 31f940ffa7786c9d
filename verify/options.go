package verify

import (
	"log/slog"
	"net/http"
	"time"
)

// Option configures New. Options are applied in order; a later one wins.
type Option func(*config)

// config is what the options set; New fills in the defaults and checks it.
type config struct {
	audience     string
	alg          string
	clientID     string
	clientSecret string
	hasClient    bool
	noRevocation bool
	staleness    time.Duration
	httpClient   *http.Client
	logger       *slog.Logger
	clock        func() time.Time

	// Not options: tests shorten them through export_test.go.
	idleTimeout time.Duration
	cacheSize   int
}

// WithAudience sets the audience a token's aud must include. The default is
// the issuer URL, which is also latch's default --audience; set it when the
// issuer runs with its own --audience.
func WithAudience(aud string) Option {
	return func(c *config) { c.audience = aud }
}

// WithAlgorithm pins the one signature algorithm accepted: "EdDSA" (the
// default), "ES256" or "RS256", the issuer's --jwt-alg. Tokens of any other
// algorithm, and JWKS keys of any other type, are refused. HS256 cannot be
// verified here: its key is a shared secret that is never published.
func WithAlgorithm(alg string) Option {
	return func(c *config) { c.alg = alg }
}

// WithClient sets the resource server credentials (one of the issuer's
// --client ID:SECRET) used, with HTTP Basic auth, to follow the revocation
// stream. With it, New starts following /v1/revocations, and Verify fails
// closed with ErrStale when the stream has been down longer than the
// staleness bound.
func WithClient(id, secret string) Option {
	return func(c *config) { c.clientID, c.clientSecret, c.hasClient = id, secret, true }
}

// WithoutRevocation lets New start without client credentials, and so
// without following the revocation stream. Such a verifier cannot see
// revocations: a logged-out, revoked or reused-refresh token stays valid
// for it until its exp (15 minutes by default). Use it only where that is
// acceptable; it is never the default, and it cannot be combined with
// WithClient.
func WithoutRevocation() Option {
	return func(c *config) { c.noRevocation = true }
}

// WithStaleness sets how long the revocation stream may be down before
// Verify refuses every token with ErrStale (default 10 s). It counts from
// the last moment the stream was known healthy: connected, replayed, and
// not silent for longer than the server's keep-alive promise (15 s) plus a
// margin. Smaller values fail closed sooner after an outage; larger ones
// ride out longer blips at the price of honouring revocations later.
func WithStaleness(d time.Duration) Option {
	return func(c *config) { c.staleness = d }
}

// WithHTTPClient sets the client for the JWKS and the revocation stream
// (default: a client of its own with a clone of http.DefaultTransport).
// Its Timeout, if any, applies to JWKS fetches only: the stream is a
// long-lived response and has its own idle watchdog.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) { c.httpClient = hc }
}

// WithLogger sets where the verifier reports stream outages, recoveries and
// refused JWKS documents (default slog.Default()). Refused tokens are logged
// by Middleware at Debug level only; they are the caller's business.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithClock sets the time source for token validity, the token cache,
// staleness and the JWKS refetch limit (default time.Now). Tests use it to
// move time instead of sleeping.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.clock = now }
}
