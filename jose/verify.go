package jose

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latch-dev/latch"
)

// maxKIDLen bounds a kid before it is hashed for the map lookup; ours are
// 22 characters.
const maxKIDLen = 256

// The reasons a token is refused. Every error Verify returns wraps
// latch.ErrUnauthenticated (what the client sees: 401) and exactly one of
// these (what the logs and the tests see).
var (
	// ErrMalformed: too large, not three base64url segments, or a header
	// or payload that is not a JSON object.
	ErrMalformed = errors.New("malformed token")
	// ErrAlgorithm: the header alg is not the configured one, exactly.
	ErrAlgorithm = errors.New("algorithm not allowed")
	// ErrHeader: the header has a member other than alg, typ and kid; in
	// particular jwk, jku, x5u, x5c (keys we would have to trust from the
	// token itself) or crit (extensions we would have to understand).
	ErrHeader = errors.New("header parameter not allowed")
	// ErrTyp: typ is not at+jwt: some other kind of JWT.
	ErrTyp = errors.New("not an access token")
	// ErrKid: kid missing, not a string, or not a key of the key set (or
	// one retired for longer than the access token lifetime).
	ErrKid = errors.New("unknown key id")
	// ErrSignature: the signature does not verify with the named key.
	ErrSignature = errors.New("invalid signature")
	// ErrClaims: exp, iat, sub, jti or sid missing, or a claim of the
	// wrong JSON type.
	ErrClaims = errors.New("missing or malformed claim")
	// ErrIssuer: iss missing or not exactly ours.
	ErrIssuer = errors.New("wrong issuer")
	// ErrAudience: aud missing or not including ours.
	ErrAudience = errors.New("wrong audience")
	// ErrExpired: exp more than Leeway in the past.
	ErrExpired = errors.New("token expired")
	// ErrNotYetValid: nbf more than Leeway in the future.
	ErrNotYetValid = errors.New("token not valid yet")
	// ErrIssuedAt: iat more than Leeway in the future.
	ErrIssuedAt = errors.New("token issued in the future")
)

// verifyError is a refused token: latch.ErrUnauthenticated for the HTTP
// layer, the reason for the logs. It never quotes the token: a kid or claim
// is attacker-controlled text.
type verifyError struct {
	reason error
	detail string
}

func (e *verifyError) Error() string {
	if e.detail == "" {
		return "unauthenticated: " + e.reason.Error()
	}
	return "unauthenticated: " + e.reason.Error() + ": " + e.detail
}

func (e *verifyError) Unwrap() []error { return []error{latch.ErrUnauthenticated, e.reason} }

func refuse(reason error, detail string) error { return &verifyError{reason: reason, detail: detail} }

var _ latch.TokenVerifier = (*Verifier)(nil)

// Verifier checks access tokens strictly against a KeySet. It is safe for
// concurrent use; it takes no lock, so a Reload of its KeySet takes effect
// on the next token.
type Verifier struct {
	// Now returns the current time; tests set it to move the clock instead
	// of sleeping. Nil means time.Now.
	Now func() time.Time

	keys   *KeySet
	method jwt.SigningMethod
	parser *jwt.Parser
	keyFn  jwt.Keyfunc // v.keyfunc, bound once rather than per token

	cache     *tokenCache  // nil: off
	lastPrune atomic.Int64 // unix nanoseconds of the cache's last sweep
	observe   func(cached bool, d time.Duration)
}

// VerifierOption configures NewVerifier.
type VerifierOption func(*Verifier)

// WithCache makes the Verifier remember up to n verified tokens, by their
// exact bytes, until they expire or the key set changes (see Verify).
// n <= 0 leaves the cache off, the default.
func WithCache(n int) VerifierOption {
	return func(v *Verifier) {
		if n > 0 {
			v.cache = newTokenCache(n)
		}
	}
}

// hitSampling is how many cache hits share one timing: 1 in 64 hits reads
// the clock twice to be timed; the others read no clock beyond the one the
// expiry check needs.
const hitSampling = 64

// WithObserver has the Verifier report every Verify to fn, for metrics:
// cached tells a cache hit from a full check (signature and claims; a
// refused token is a full check too), d is how long it took, measured on
// every full check and on one cache hit in 64. On the other hits d is 0:
// a hit is a map lookup of about 55 ns, which two more clock reads would
// nearly double (BenchmarkVerifyCached: the sampling itself costs about
// 15 ns a hit). fn runs on the request's goroutine: it must be cheap and
// safe for concurrent use.
func WithObserver(fn func(cached bool, d time.Duration)) VerifierOption {
	return func(v *Verifier) { v.observe = fn }
}

// NewVerifier returns a Verifier accepting only tokens signed with keys's
// algorithm by one of its keys, issued by issuer (compared exactly: a
// trailing slash is another issuer) for a set of audiences that includes
// audience.
func NewVerifier(keys *KeySet, issuer, audience string, opts ...VerifierOption) (*Verifier, error) {
	if keys == nil {
		return nil, errors.New("jose: NewVerifier needs a KeySet")
	}
	if issuer == "" || audience == "" {
		return nil, errors.New("jose: NewVerifier needs an issuer and an audience")
	}
	v := &Verifier{keys: keys, method: keys.method}
	for _, o := range opts {
		o(v)
	}
	v.keyFn = v.keyfunc
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{keys.alg}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(latch.Leeway),
		jwt.WithTimeFunc(v.now), // read at each call: tests may set Now later
		jwt.WithStrictDecoding(),
	)
	return v, nil
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Verify implements latch.TokenVerifier. The checks run cheapest and most
// telling first: size and shape (before any decoding); alg, exactly the
// configured one; a header of alg, typ and kid only; typ at+jwt (or
// application/at+jwt); a kid of our key set; then the signature with that
// key, and only then the claims: exp (required), nbf, iat (required), iss
// and aud with Leeway; sub, jti and sid must be non-empty strings. It does
// not consult revocations. Every error wraps latch.ErrUnauthenticated and
// one of this package's reasons (ErrAlgorithm, ErrKid, ...).
//
// golang-jwt decodes the header once and Verify checks that very map, in
// the keyfunc, so the two can never disagree about what the header says;
// the payload is only copied until the signature has verified.
//
// WithCache: a token verified before, under the same key set, and still
// before its exp is answered from memory. The claims returned are then
// shared between callers: treat them as read-only.
func (v *Verifier) Verify(_ context.Context, token string) (*latch.AccessClaims, error) {
	if v.cache == nil {
		return v.timedVerify(token)
	}
	var start time.Time
	sampled := v.observe != nil && rand.Uint32()%hitSampling == 0
	if sampled {
		start = time.Now()
	}
	snap, now := v.keys.snap.Load(), v.now()
	if c, ok := v.cache.get(token, snap, now); ok {
		if v.observe != nil {
			var d time.Duration
			if sampled {
				d = max(time.Since(start), 1)
			}
			v.observe(true, d)
		}
		return c, nil
	}
	c, err := v.timedVerify(token)
	if err != nil {
		return nil, err
	}
	if last := v.lastPrune.Load(); now.UnixNano()-last > int64(time.Minute) && v.lastPrune.CompareAndSwap(last, now.UnixNano()) {
		v.cache.prune(snap, now)
	}
	v.cache.put(token, c, snap, now)
	return c, nil
}

// CacheLen is the number of tokens in the cache, for tests and metrics.
func (v *Verifier) CacheLen() int {
	if v.cache == nil {
		return 0
	}
	return v.cache.len()
}

// timedVerify is verify, reported to the observer.
func (v *Verifier) timedVerify(token string) (*latch.AccessClaims, error) {
	if v.observe == nil {
		return v.verify(token)
	}
	start := time.Now()
	c, err := v.verify(token)
	v.observe(false, max(time.Since(start), 1))
	return c, err
}

// verify is Verify without the cache.
func (v *Verifier) verify(token string) (*latch.AccessClaims, error) {
	if len(token) > latch.MaxTokenBytes {
		return nil, refuse(ErrMalformed, "token larger than 8 KiB")
	}
	if !compactShape(token) {
		return nil, refuse(ErrMalformed, "not three base64url segments")
	}
	var c claims
	tok, err := v.parser.ParseWithClaims(token, &c, v.keyFn)
	if err != nil {
		var ve *verifyError
		if errors.As(err, &ve) {
			return nil, ve
		}
		// golang-jwt stopped before the keyfunc (say, on a payload that
		// is not JSON): the header, when it decoded, still decides first.
		if tok == nil || tok.Header == nil {
			return nil, refuse(ErrMalformed, "header is not a JSON object")
		}
		if _, herr := v.checkHeader(tok.Header); herr != nil {
			return nil, herr
		}
		return nil, reason(err)
	}
	return c.accessClaims(), nil
}

// keyfunc runs inside golang-jwt once the token is split and decoded, before
// the signature is checked: it applies the header rules and returns the key
// the kid names. Belt and braces, it checks that golang-jwt picked our
// signing method and that the key is of the algorithm's type, so no header
// trick can make an HMAC of a public key's bytes verify.
func (v *Verifier) keyfunc(t *jwt.Token) (any, error) {
	vk, err := v.checkHeader(t.Header)
	if err != nil {
		return nil, err
	}
	if t.Method != v.method {
		return nil, refuse(ErrAlgorithm, "")
	}
	if !keyFitsAlg(v.keys.alg, vk.key) {
		return nil, refuse(ErrKid, "key does not fit the algorithm")
	}
	return vk.key, nil
}

// checkHeader applies the header rules in order and returns the key named
// by kid.
func (v *Verifier) checkHeader(hdr map[string]any) (*verifyKey, error) {
	if hdr == nil {
		return nil, refuse(ErrMalformed, "header is not a JSON object")
	}
	if alg, _ := hdr["alg"].(string); alg != v.keys.alg {
		return nil, refuse(ErrAlgorithm, "")
	}
	for name := range hdr {
		switch name {
		case "alg", "typ", "kid":
		case "jwk", "jku", "x5u", "x5c", "crit":
			return nil, refuse(ErrHeader, name)
		default:
			// A closed set: we sign nothing else, and an unknown member
			// (b64, zip, x5t...) could change how some library reads it.
			return nil, refuse(ErrHeader, "unknown member")
		}
	}
	if typ, _ := hdr["typ"].(string); !strings.EqualFold(typ, typAccessToken) && !strings.EqualFold(typ, "application/"+typAccessToken) {
		return nil, refuse(ErrTyp, "")
	}
	kid, _ := hdr["kid"].(string)
	if kid == "" || len(kid) > maxKIDLen {
		return nil, refuse(ErrKid, "missing, not a string or too long")
	}
	vk := v.keys.snap.Load().verify[kid]
	if vk == nil {
		return nil, refuse(ErrKid, "")
	}
	if !vk.notAfter.IsZero() && !v.now().Before(vk.notAfter) {
		return nil, refuse(ErrKid, "key retired longer than the access token lifetime")
	}
	return vk, nil
}

// reason turns a golang-jwt error into ours. Our own errors (from the
// keyfunc or claims.Validate) win; golang-jwt joins every failed claim
// check, so the order below decides which one a token is refused for.
func reason(err error) error {
	var ve *verifyError
	if errors.As(err, &ve) {
		return ve
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return refuse(ErrMalformed, "")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return refuse(ErrSignature, "")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return refuse(ErrIssuer, "")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return refuse(ErrAudience, "")
	case errors.Is(err, jwt.ErrTokenExpired):
		return refuse(ErrExpired, "")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return refuse(ErrNotYetValid, "")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return refuse(ErrIssuedAt, "")
	}
	return refuse(ErrClaims, "")
}

// compactShape reports whether token is exactly three segments of the
// base64url alphabet without padding, the first one not empty, in one pass.
// Base64 decoders skip CR and LF and some accept padding or the standard
// alphabet: refusing them here means one token has one spelling.
func compactShape(token string) bool {
	dots, first := 0, -1
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		case c == '.':
			if dots++; first < 0 {
				first = i
			}
		default:
			return false
		}
	}
	return dots == 2 && first > 0
}
