package jose_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/jose"
)

const (
	testIssuer   = "https://auth.example.com"
	testAudience = "https://api.example.com"
	testTTL      = 15 * time.Minute
)

// t0 is the clock every test starts at.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// asymmetric and allAlgs are the algorithms the tables run over.
var (
	asymmetric = []string{jose.EdDSA, jose.ES256, jose.RS256}
	allAlgs    = []string{jose.EdDSA, jose.ES256, jose.RS256, jose.HS256}
)

// keyCache keeps generated keys for the whole test binary: RSA generation
// under -race takes seconds, and no test needs a key nobody else has seen.
var keyCache sync.Map // "alg/i" -> *latch.SigningKey

// MustKey returns the i-th cached test key of alg, as a copy the caller may
// change (RetiredAt, Sealed...).
func MustKey(tb testing.TB, alg string, i int) *latch.SigningKey {
	tb.Helper()
	name := fmt.Sprintf("%s/%d", alg, i)
	k, ok := keyCache.Load(name)
	if !ok {
		gen, err := jose.GenerateKey(alg, t0.Add(time.Duration(i)*time.Hour))
		if err != nil {
			tb.Fatalf("GenerateKey(%s): %v", alg, err)
		}
		k, _ = keyCache.LoadOrStore(name, gen)
	}
	c := *k.(*latch.SigningKey)
	c.Private = bytes.Clone(c.Private)
	c.Public = bytes.Clone(c.Public)
	return &c
}

// testSecret is the HS256 secret of the fixtures.
var testSecret = []byte("0123456789abcdef0123456789abcdef-latch-test")

// fixture is one configured deployment: a key set of one algorithm, its
// signer and verifier, the private key (to craft tokens the Signer never
// would) and a clock the test moves.
type fixture struct {
	alg      string
	stored   *latch.SigningKey // nil for HS256
	priv     any               // crypto.Signer, or []byte for HS256
	pub      crypto.PublicKey  // nil for HS256
	keys     *jose.KeySet
	signer   *jose.Signer
	verifier *jose.Verifier
	now      time.Time
}

func newFixture(tb testing.TB, alg string) *fixture {
	tb.Helper()
	f := &fixture{alg: alg, now: t0.Add(2 * time.Hour)}
	var err error
	if alg == jose.HS256 {
		f.priv = testSecret
		f.keys, err = jose.NewHMACKeySet(testSecret)
	} else {
		f.stored = MustKey(tb, alg, 0)
		f.priv, f.pub = mustParse(tb, f.stored)
		f.keys, err = jose.NewKeySet(jose.KeySetConfig{
			Alg:       alg,
			AccessTTL: testTTL,
			Now:       func() time.Time { return f.now },
		}, []*latch.SigningKey{f.stored})
	}
	if err != nil {
		tb.Fatalf("key set: %v", err)
	}
	f.signer = jose.NewSigner(f.keys)
	f.verifier, err = jose.NewVerifier(f.keys, testIssuer, testAudience)
	if err != nil {
		tb.Fatalf("NewVerifier: %v", err)
	}
	f.verifier.Now = func() time.Time { return f.now }
	return f
}

func mustParse(tb testing.TB, k *latch.SigningKey) (crypto.Signer, crypto.PublicKey) {
	tb.Helper()
	priv, err := x509.ParsePKCS8PrivateKey(k.Private)
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(k.Public)
	if err != nil {
		tb.Fatal(err)
	}
	return priv.(crypto.Signer), pub
}

// accessClaims are the claims the Signer is asked to sign at f.now.
func (f *fixture) accessClaims() *latch.AccessClaims {
	return &latch.AccessClaims{
		Issuer:    testIssuer,
		Subject:   "user-1",
		Audience:  []string{testAudience},
		ExpiresAt: f.now.Add(testTTL),
		IssuedAt:  f.now,
		ID:        "jti-1",
		SessionID: "sid-1",
		Role:      "user",
	}
}

// MustSign signs c with f's Signer.
func (f *fixture) MustSign(tb testing.TB, c *latch.AccessClaims) string {
	tb.Helper()
	tok, err := f.signer.Sign(context.Background(), c)
	if err != nil {
		tb.Fatalf("Sign: %v", err)
	}
	return tok
}

// header and payload are the JSON members of a good token, as maps the
// attack cases change.
func (f *fixture) header() obj {
	return obj{"alg": f.alg, "typ": "at+jwt", "kid": f.keys.KID()}
}

func (f *fixture) payload() obj {
	return obj{
		"iss": testIssuer, "sub": "user-1", "aud": testAudience,
		"exp": f.now.Add(testTTL).Unix(), "iat": f.now.Unix(),
		"jti": "jti-1", "sid": "sid-1", "role": "user",
	}
}

// craft signs header.payload with f's own key, the way an attacker who
// somehow had it, or a buggy issuer, would: every other check must still
// hold.
func (f *fixture) craft(tb testing.TB, header, payload any) string {
	tb.Helper()
	return craft(tb, methodOf(f.alg), f.priv, header, payload)
}

func methodOf(alg string) jwt.SigningMethod {
	m := jwt.GetSigningMethod(alg)
	if m == nil {
		panic("no method " + alg)
	}
	return m
}

// craft builds a compact JWS from arbitrary header and payload values (see
// seg) signed by method with key.
func craft(tb testing.TB, method jwt.SigningMethod, key any, header, payload any) string {
	tb.Helper()
	input := seg(tb, header) + "." + seg(tb, payload)
	sig, err := method.Sign(input, key)
	if err != nil {
		tb.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return input + "." + b64(sig)
}

// unsigned builds header.payload.sig with the given raw signature.
func unsigned(tb testing.TB, header, payload any, sig []byte) string {
	tb.Helper()
	return seg(tb, header) + "." + seg(tb, payload) + "." + b64(sig)
}

// obj is a JSON object under construction.
type obj map[string]any

// del, as a value in with, removes the member.
type removal struct{}

var del removal

// with returns a copy of o with the given name/value pairs set (del removes).
func (o obj) with(kv ...any) obj {
	c := make(obj, len(o)+len(kv)/2)
	for k, v := range o {
		c[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if _, ok := kv[i+1].(removal); ok {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

// raw is JSON text used verbatim in a segment.
type raw string

// seg encodes v as a base64url segment: raw verbatim, anything else as JSON.
func seg(tb testing.TB, v any) string {
	tb.Helper()
	if r, ok := v.(raw); ok {
		return b64([]byte(r))
	}
	j, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b64(j)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// segments splits a compact JWS.
func segments(tb testing.TB, tok string) (h, p, s string) {
	tb.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		tb.Fatalf("token has %d segments", len(parts))
	}
	return parts[0], parts[1], parts[2]
}

// decodeSeg decodes a segment as a JSON object.
func decodeSeg(tb testing.TB, s string) map[string]json.RawMessage {
	tb.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatalf("segment %s: %v", b, err)
	}
	return m
}

func sigBytes(tb testing.TB, tok string) []byte {
	tb.Helper()
	_, _, s := segments(tb, tok)
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// withSig replaces the signature of tok.
func withSig(tb testing.TB, tok string, sig []byte) string {
	tb.Helper()
	h, p, _ := segments(tb, tok)
	return h + "." + p + "." + b64(sig)
}
