package jose_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/jose"
)

// verifyCase is one token and the reason it must be refused for (nil: it
// must be accepted).
type verifyCase struct {
	name  string
	algs  []string // nil: every algorithm
	token func(t *testing.T, f *fixture) string
	want  error
}

// TestVerifier_Verify replays the JWT attack family (SECURITY.md 13-21)
// against a verifier of every algorithm. Each refusal must wrap
// latch.ErrUnauthenticated and the one reason the case is about: a token
// refused for the wrong reason means a check did not run.
func TestVerifier_Verify(t *testing.T) {
	var fetches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"keys":[]}`))
	}))
	t.Cleanup(func() {
		srv.Close()
		if n := fetches.Load(); n != 0 {
			t.Errorf("the verifier fetched a URL from a token header %d times", n)
		}
	})

	cases := verifyCases(srv.URL)
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			for _, tc := range cases {
				if tc.algs != nil && !slices.Contains(tc.algs, alg) {
					continue
				}
				t.Run(tc.name, func(t *testing.T) {
					f := newFixture(t, alg)
					tok := tc.token(t, f)
					got, err := f.verifier.Verify(context.Background(), tok)
					if tc.want == nil {
						if err != nil {
							t.Fatalf("refused a good token: %v", err)
						}
						if got.Subject != "user-1" || got.ID != "jti-1" || got.SessionID != "sid-1" {
							t.Fatalf("claims = %+v", got)
						}
						return
					}
					if err == nil {
						t.Fatalf("accepted; want refusal for %v", tc.want)
					}
					if got != nil {
						t.Errorf("returned claims with an error")
					}
					if !errors.Is(err, latch.ErrUnauthenticated) {
						t.Errorf("error %q does not wrap latch.ErrUnauthenticated", err)
					}
					if !errors.Is(err, tc.want) {
						t.Errorf("refused for %q; want %q", err, tc.want)
					}
					// The message is for logs: it must not quote the token.
					if msg := err.Error(); len(msg) > 120 || strings.Contains(msg, "passwd") || strings.Contains(msg, "OR 1=1") {
						t.Errorf("error message quotes the token: %q", msg)
					}
				})
			}
		})
	}
}

func verifyCases(fetchURL string) []verifyCase {
	good := func(t *testing.T, f *fixture) string { return f.MustSign(t, f.accessClaims()) }
	// signedHeader: a token signed with our own key whose header differs.
	signedHeader := func(kv ...any) func(*testing.T, *fixture) string {
		return func(t *testing.T, f *fixture) string { return f.craft(t, f.header().with(kv...), f.payload()) }
	}
	// signedClaims: a token signed with our own key whose payload differs.
	signedClaims := func(kv ...any) func(*testing.T, *fixture) string {
		return func(t *testing.T, f *fixture) string { return f.craft(t, f.header(), f.payload().with(kv...)) }
	}
	// ago and ahead give Unix times relative to the fixture's clock.
	at := func(f *fixture, d time.Duration) int64 { return f.now.Add(d).Unix() }

	cases := []verifyCase{
		// Accepted: the baseline and the tolerances the contract grants.
		{name: "good", token: good},
		{name: "crafted good", token: signedClaims()},
		{name: "typ application/at+jwt", token: signedHeader("typ", "application/at+jwt")},
		{name: "typ AT+JWT", token: signedHeader("typ", "AT+JWT")},
		{name: "aud array with ours", token: signedClaims("aud", []string{"https://other.example.com", testAudience})},
		{name: "aud several via Signer", token: func(t *testing.T, f *fixture) string {
			c := f.accessClaims()
			c.Audience = []string{"https://other.example.com", testAudience}
			return f.MustSign(t, c)
		}},
		{name: "exp 59s ago (leeway)", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, f.header(), f.payload().with("exp", at(f, -59*time.Second), "iat", at(f, -testTTL)))
		}},
		{name: "nbf 59s ahead (leeway)", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, f.header(), f.payload().with("nbf", at(f, 59*time.Second)))
		}},
		{name: "nbf past", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, f.header(), f.payload().with("nbf", at(f, -time.Minute)))
		}},
		{name: "iat 59s ahead (leeway)", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, f.header(), f.payload().with("iat", at(f, 59*time.Second)))
		}},
		{name: "fractional exp", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, f.header(), f.payload().with("exp", float64(at(f, time.Minute))+0.5))
		}},

		// Shape: refused before anything is decoded or looked up.
		{name: "empty", token: lit(""), want: jose.ErrMalformed},
		{name: "one segment", token: lit("eyJhbGciOiJFZERTQSJ9"), want: jose.ErrMalformed},
		{name: "two segments", token: func(t *testing.T, f *fixture) string {
			h, p, _ := segments(t, good(t, f))
			return h + "." + p
		}, want: jose.ErrMalformed},
		{name: "extra segment", token: func(t *testing.T, f *fixture) string { return good(t, f) + ".AAAA" }, want: jose.ErrMalformed},
		{name: "trailing dot", token: func(t *testing.T, f *fixture) string { return good(t, f) + "." }, want: jose.ErrMalformed},
		{name: "empty header segment", token: func(t *testing.T, f *fixture) string {
			_, p, s := segments(t, good(t, f))
			return "." + p + "." + s
		}, want: jose.ErrMalformed},
		{name: "1 MB", token: func(t *testing.T, f *fixture) string {
			return good(t, f) + strings.Repeat("A", 1<<20)
		}, want: jose.ErrMalformed},
		{name: "Bearer prefix", token: func(t *testing.T, f *fixture) string { return "Bearer " + good(t, f) }, want: jose.ErrMalformed},
		{name: "padding", token: func(t *testing.T, f *fixture) string { return good(t, f) + "==" }, want: jose.ErrMalformed},
		{name: "standard alphabet", token: func(t *testing.T, f *fixture) string { return "+" + good(t, f)[1:] }, want: jose.ErrMalformed},
		{name: "newline inside", token: func(t *testing.T, f *fixture) string {
			tok := good(t, f)
			return tok[:10] + "\n" + tok[10:]
		}, want: jose.ErrMalformed},
		{name: "non-canonical base64 signature", token: func(t *testing.T, f *fixture) string {
			// Set a padding bit of the last character: lenient decoders
			// give the same bytes, so one token would have two spellings.
			tok := good(t, f)
			const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			last := strings.IndexByte(alphabet, tok[len(tok)-1])
			return tok[:len(tok)-1] + string(alphabet[last|1])
		}, want: jose.ErrMalformed},
		{name: "header not JSON", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, raw("not json"), f.payload())
		}, want: jose.ErrMalformed},
		{name: "header null", token: func(t *testing.T, f *fixture) string { return f.craft(t, raw("null"), f.payload()) }, want: jose.ErrMalformed},
		{name: "header array", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, raw(`["alg"]`), f.payload())
		}, want: jose.ErrMalformed},
		{name: "header string", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, raw(`"`+f.alg+`"`), f.payload())
		}, want: jose.ErrMalformed},
		{name: "header trailing data", token: func(t *testing.T, f *fixture) string {
			h, _ := json.Marshal(f.header())
			return f.craft(t, raw(string(h)+"{}"), f.payload())
		}, want: jose.ErrMalformed},
		{name: "payload not JSON", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, f.header(), raw("sub=admin"))
		}, want: jose.ErrMalformed},
		{name: "payload array", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, f.header(), raw(`[{"sub":"admin"}]`))
		}, want: jose.ErrMalformed},

		// SECURITY 13: an allow-list of one algorithm.
		{name: "alg none", token: noneToken("none", false), want: jose.ErrAlgorithm},
		{name: "alg NONE", token: noneToken("NONE", false), want: jose.ErrAlgorithm},
		{name: "alg nOnE", token: noneToken("nOnE", false), want: jose.ErrAlgorithm},
		{name: "alg None", token: noneToken("None", false), want: jose.ErrAlgorithm},
		{name: "alg none with signature", token: noneToken("none", true), want: jose.ErrAlgorithm},
		{name: "alg NONE with signature", token: noneToken("NONE", true), want: jose.ErrAlgorithm},
		{name: "alg none via golang-jwt", token: func(t *testing.T, f *fixture) string {
			return craft(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, f.header().with("alg", "none"), f.payload())
		}, want: jose.ErrAlgorithm},
		{name: "alg missing", token: signedHeader("alg", del), want: jose.ErrAlgorithm},
		{name: "alg empty", token: signedHeader("alg", ""), want: jose.ErrAlgorithm},
		{name: "alg number", token: signedHeader("alg", 256), want: jose.ErrAlgorithm},
		{name: "alg array", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, f.header().with("alg", []string{f.alg}), f.payload())
		}, want: jose.ErrAlgorithm},
		{name: "alg lower case", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, f.header().with("alg", strings.ToLower(f.alg)), f.payload())
		}, want: jose.ErrAlgorithm},
		{name: "alg swapped case", token: func(t *testing.T, f *fixture) string {
			swapped := strings.Map(func(r rune) rune {
				if l := unicode.ToLower(r); l != r {
					return l
				}
				return unicode.ToUpper(r)
			}, f.alg)
			return f.craft(t, f.header().with("alg", swapped), f.payload())
		}, want: jose.ErrAlgorithm},
		{name: "alg with space", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, f.header().with("alg", f.alg+" "), f.payload())
		}, want: jose.ErrAlgorithm},
	}

	// SECURITY 14: key confusion, HS256 HMAC'd with the public key in
	// every form an attacker can get hold of.
	for _, form := range []string{"PEM", "PEM without newline", "DER", "raw", "JWK", "JWKS"} {
		for _, hs := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodHS384, jwt.SigningMethodHS512} {
			cases = append(cases, verifyCase{
				name: "key confusion " + hs.Alg() + " with " + form + " public key",
				algs: asymmetric,
				token: func(t *testing.T, f *fixture) string {
					return craft(t, hs, publicKeyBytes(t, f, form), f.header().with("alg", hs.Alg()), f.payload())
				},
				want: jose.ErrAlgorithm,
			})
		}
	}

	// SECURITY 13: another asymmetric algorithm, signed with a key of that
	// kind under our kid.
	for _, other := range []string{"EdDSA", "ES256", "ES384", "RS256", "PS256"} {
		cases = append(cases, verifyCase{
			name: "alg switched to " + other,
			token: func(t *testing.T, f *fixture) string {
				if other == f.alg {
					t.Skip("same algorithm")
				}
				m, key := attackerKey(t, other)
				return craft(t, m, key, f.header().with("alg", other), f.payload())
			},
			want: jose.ErrAlgorithm,
		})
	}
	cases = append(cases, verifyCase{
		name: "alg switched to HS256 with a guessed secret",
		algs: asymmetric,
		token: func(t *testing.T, f *fixture) string {
			return craft(t, jwt.SigningMethodHS256, []byte(f.keys.KID()), f.header().with("alg", "HS256"), f.payload())
		},
		want: jose.ErrAlgorithm,
	})

	// SECURITY 16: keys only from our own key set. Each token is signed
	// by a self-made key it carries or points to.
	selfKeyed := func(member string, ourKid bool) func(*testing.T, *fixture) string {
		return func(t *testing.T, f *fixture) string {
			m, key, pub := attackerOwnKey(t, f.alg)
			h := f.header()
			if !ourKid {
				h = h.with("kid", "attacker")
			}
			switch member {
			case "jwk":
				h = h.with("jwk", attackerJWK(t, f.alg, key, pub))
			case "jku":
				h = h.with("jku", fetchURL+"/jwks.json")
			case "x5u":
				h = h.with("x5u", fetchURL+"/cert.pem")
			case "x5c":
				h = h.with("x5c", []string{selfSignedCert(t)})
			}
			return craft(t, m, key, h, f.payload())
		}
	}
	for _, member := range []string{"jwk", "jku", "x5u", "x5c"} {
		cases = append(cases,
			verifyCase{name: "embedded " + member, token: selfKeyed(member, false), want: jose.ErrHeader},
			verifyCase{name: "embedded " + member + " with our kid", token: selfKeyed(member, true), want: jose.ErrHeader},
		)
	}
	cases = append(cases,
		verifyCase{name: "crit", token: signedHeader("crit", []string{"exp"}), want: jose.ErrHeader},
		verifyCase{name: "crit b64", token: signedHeader("crit", []string{"b64"}, "b64", false), want: jose.ErrHeader},
		verifyCase{name: "unknown member cty", token: signedHeader("cty", "JWT"), want: jose.ErrHeader},
		verifyCase{name: "unknown member x5t", token: signedHeader("x5t", "AAAA"), want: jose.ErrHeader},
		verifyCase{name: "JKU upper case", token: signedHeader("JKU", fetchURL), want: jose.ErrHeader},

		// SECURITY 20: typ keeps token kinds apart.
		verifyCase{name: "typ missing", token: signedHeader("typ", del), want: jose.ErrTyp},
		verifyCase{name: "typ JWT", token: signedHeader("typ", "JWT"), want: jose.ErrTyp},
		verifyCase{name: "typ rt+jwt (refresh token)", token: signedHeader("typ", "rt+jwt"), want: jose.ErrTyp},
		verifyCase{name: "typ application/jwt", token: signedHeader("typ", "application/jwt"), want: jose.ErrTyp},
		verifyCase{name: "typ with space", token: signedHeader("typ", "at+jwt "), want: jose.ErrTyp},
		verifyCase{name: "typ empty", token: signedHeader("typ", ""), want: jose.ErrTyp},
		verifyCase{name: "typ number", token: signedHeader("typ", 1), want: jose.ErrTyp},

		// SECURITY 17: kid is untrusted input.
		verifyCase{name: "kid unknown", token: signedHeader("kid", "no-such-key"), want: jose.ErrKid},
		verifyCase{name: "kid traversal", token: signedHeader("kid", "../../etc/passwd"), want: jose.ErrKid},
		verifyCase{name: "kid SQL", token: signedHeader("kid", "' OR 1=1 --"), want: jose.ErrKid},
		verifyCase{name: "kid quotes and NUL", token: signedHeader("kid", "\"'\x00\\"), want: jose.ErrKid},
		verifyCase{name: "kid 4 KB", token: signedHeader("kid", strings.Repeat("k", 4<<10)), want: jose.ErrKid},
		verifyCase{name: "kid 10 KB", token: signedHeader("kid", strings.Repeat("k", 10<<10)), want: jose.ErrMalformed},
		verifyCase{name: "kid number", token: signedHeader("kid", 1), want: jose.ErrKid},
		verifyCase{name: "kid array", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, f.header().with("kid", []string{f.keys.KID()}), f.payload())
		}, want: jose.ErrKid},
		verifyCase{name: "kid null", token: signedHeader("kid", nil), want: jose.ErrKid},
		verifyCase{name: "kid empty", token: signedHeader("kid", ""), want: jose.ErrKid},
		verifyCase{name: "kid missing", token: signedHeader("kid", del), want: jose.ErrKid},
		verifyCase{name: "kid case changed", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, f.header().with("kid", strings.ToUpper(f.keys.KID())+"!"), f.payload())
		}, want: jose.ErrKid},

		// SECURITY 15: the signature covers header and payload.
		verifyCase{name: "modified payload", token: func(t *testing.T, f *fixture) string {
			h, _, s := segments(t, good(t, f))
			return h + "." + seg(t, f.payload().with("sub", "admin", "role", "admin")) + "." + s
		}, want: jose.ErrSignature},
		verifyCase{name: "modified header", token: func(t *testing.T, f *fixture) string {
			_, p, s := segments(t, good(t, f))
			return seg(t, f.header().with("typ", "AT+JWT")) + "." + p + "." + s
		}, want: jose.ErrSignature},
		verifyCase{name: "stripped signature", token: func(t *testing.T, f *fixture) string {
			h, p, _ := segments(t, good(t, f))
			return h + "." + p + "."
		}, want: jose.ErrSignature},
		verifyCase{name: "signature of another token", token: func(t *testing.T, f *fixture) string {
			other := f.accessClaims()
			other.Subject = "user-2"
			return withSig(t, good(t, f), sigBytes(t, f.MustSign(t, other)))
		}, want: jose.ErrSignature},
		verifyCase{name: "signed by another key under our kid", token: func(t *testing.T, f *fixture) string {
			m, key, _ := attackerOwnKey(t, f.alg)
			return craft(t, m, key, f.header(), f.payload())
		}, want: jose.ErrSignature},
		verifyCase{name: "signature all zeros", token: func(t *testing.T, f *fixture) string {
			tok := good(t, f)
			return withSig(t, tok, make([]byte, len(sigBytes(t, tok))))
		}, want: jose.ErrSignature},
		verifyCase{name: "signature one byte short", token: func(t *testing.T, f *fixture) string {
			tok := good(t, f)
			sig := sigBytes(t, tok)
			return withSig(t, tok, sig[:len(sig)-1])
		}, want: jose.ErrSignature},
		verifyCase{name: "signature one byte long", token: func(t *testing.T, f *fixture) string {
			tok := good(t, f)
			return withSig(t, tok, append(sigBytes(t, tok), 0))
		}, want: jose.ErrSignature},
		verifyCase{name: "signature bit flipped", token: func(t *testing.T, f *fixture) string {
			tok := good(t, f)
			sig := sigBytes(t, tok)
			sig[len(sig)/2] ^= 1
			return withSig(t, tok, sig)
		}, want: jose.ErrSignature},

		// SECURITY 19, 21 and the required claims, all under a valid
		// signature so the claim check is what refuses.
		verifyCase{name: "exp missing", token: signedClaims("exp", del), want: jose.ErrClaims},
		verifyCase{name: "exp string", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, f.header(), f.payload().with("exp", "9999999999"))
		}, want: jose.ErrClaims},
		verifyCase{name: "exp null", token: signedClaims("exp", nil), want: jose.ErrClaims},
		verifyCase{name: "exp negative", token: signedClaims("exp", -1), want: jose.ErrClaims},
		verifyCase{name: "exp absurd", token: signedClaims("exp", 1e300), want: jose.ErrClaims},
		verifyCase{name: "exp 61s ago", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, f.header(), f.payload().with("exp", at(f, -61*time.Second), "iat", at(f, -testTTL)))
		}, want: jose.ErrExpired},
		verifyCase{name: "exp 60s ago", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, f.header(), f.payload().with("exp", at(f, -60*time.Second), "iat", at(f, -testTTL)))
		}, want: jose.ErrExpired},
		verifyCase{name: "exp long ago via Signer", token: func(t *testing.T, f *fixture) string {
			c := f.accessClaims()
			c.IssuedAt, c.ExpiresAt = f.now.Add(-2*time.Hour), f.now.Add(-time.Hour)
			return f.MustSign(t, c)
		}, want: jose.ErrExpired},
		verifyCase{name: "nbf 61s ahead", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, f.header(), f.payload().with("nbf", at(f, 61*time.Second)))
		}, want: jose.ErrNotYetValid},
		verifyCase{name: "nbf ahead via Signer", token: func(t *testing.T, f *fixture) string {
			c := f.accessClaims()
			c.NotBefore = f.now.Add(5 * time.Minute)
			return f.MustSign(t, c)
		}, want: jose.ErrNotYetValid},
		verifyCase{name: "nbf string", token: signedClaims("nbf", "0"), want: jose.ErrClaims},
		verifyCase{name: "nbf negative", token: signedClaims("nbf", -1), want: jose.ErrClaims},
		verifyCase{name: "exp repeated, last one a string", token: func(t *testing.T, f *fixture) string {
			p, _ := json.Marshal(f.payload().with("exp", del))
			return f.craft(t, f.header(), raw(`{"exp":`+strings.Repeat("9", 10)+`,"exp":"9999999999",`+string(p[1:])))
		}, want: jose.ErrClaims},
		verifyCase{name: "iat 61s ahead", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, f.header(), f.payload().with("iat", at(f, 61*time.Second)))
		}, want: jose.ErrIssuedAt},
		verifyCase{name: "iat missing", token: signedClaims("iat", del), want: jose.ErrClaims},
		verifyCase{name: "iat string", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, f.header(), f.payload().with("iat", "1"))
		}, want: jose.ErrClaims},
		verifyCase{name: "sub missing", token: signedClaims("sub", del), want: jose.ErrClaims},
		verifyCase{name: "sub empty", token: signedClaims("sub", ""), want: jose.ErrClaims},
		verifyCase{name: "sub number", token: signedClaims("sub", 1), want: jose.ErrClaims},
		verifyCase{name: "jti missing", token: signedClaims("jti", del), want: jose.ErrClaims},
		verifyCase{name: "jti array", token: signedClaims("jti", []string{"a"}), want: jose.ErrClaims},
		verifyCase{name: "sid missing", token: signedClaims("sid", del), want: jose.ErrClaims},
		verifyCase{name: "sid object", token: signedClaims("sid", obj{}), want: jose.ErrClaims},
		verifyCase{name: "role number", token: signedClaims("role", 7), want: jose.ErrClaims},
		verifyCase{name: "payload empty object", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, f.header(), raw("{}"))
		}, want: jose.ErrClaims},
		verifyCase{name: "payload null", token: func(t *testing.T, f *fixture) string {
			return f.craft(t, f.header(), raw("null"))
		}, want: jose.ErrClaims},
		verifyCase{name: "iss other", token: signedClaims("iss", "https://evil.example.com"), want: jose.ErrIssuer},
		verifyCase{name: "iss trailing slash", token: signedClaims("iss", testIssuer+"/"), want: jose.ErrIssuer},
		verifyCase{name: "iss upper case", token: signedClaims("iss", strings.ToUpper(testIssuer)), want: jose.ErrIssuer},
		verifyCase{name: "iss missing", token: signedClaims("iss", del), want: jose.ErrIssuer},
		verifyCase{name: "iss array", token: signedClaims("iss", []string{testIssuer}), want: jose.ErrIssuer},
		verifyCase{name: "aud missing", token: signedClaims("aud", del), want: jose.ErrAudience},
		verifyCase{name: "aud other", token: signedClaims("aud", "https://other.example.com"), want: jose.ErrAudience},
		verifyCase{name: "aud trailing slash", token: signedClaims("aud", testAudience+"/"), want: jose.ErrAudience},
		verifyCase{name: "aud array without ours", token: signedClaims("aud", []string{"a", "b"}), want: jose.ErrAudience},
		verifyCase{name: "aud empty array", token: signedClaims("aud", []string{}), want: jose.ErrAudience},
		verifyCase{name: "aud number", token: signedClaims("aud", 1), want: jose.ErrAudience},
		verifyCase{name: "aud array of numbers", token: signedClaims("aud", []int{1}), want: jose.ErrAudience},
	)

	// SECURITY 18: degenerate ECDSA signatures (CVE-2022-21449 and kin).
	es := func(name string, mk func(r, s, n []byte, t *testing.T, f *fixture, tok string) []byte) verifyCase {
		return verifyCase{name: "ECDSA " + name, algs: []string{jose.ES256}, want: jose.ErrSignature,
			token: func(t *testing.T, f *fixture) string {
				tok := good(t, f)
				sig := sigBytes(t, tok)
				if len(sig) != 64 {
					t.Fatalf("ES256 signature is %d bytes", len(sig))
				}
				n := elliptic.P256().Params().N.FillBytes(make([]byte, 32))
				return withSig(t, tok, mk(sig[:32], sig[32:], n, t, f, tok))
			}}
	}
	cat := func(parts ...[]byte) []byte { return slices.Concat(parts...) }
	cases = append(cases,
		es("r=s=0", func(r, s, n []byte, _ *testing.T, _ *fixture, _ string) []byte { return make([]byte, 64) }),
		es("r=0", func(r, s, n []byte, _ *testing.T, _ *fixture, _ string) []byte { return cat(make([]byte, 32), s) }),
		es("s=0", func(r, s, n []byte, _ *testing.T, _ *fixture, _ string) []byte { return cat(r, make([]byte, 32)) }),
		es("r=s=n", func(r, s, n []byte, _ *testing.T, _ *fixture, _ string) []byte { return cat(n, n) }),
		es("r=n", func(r, s, n []byte, _ *testing.T, _ *fixture, _ string) []byte { return cat(n, s) }),
		es("s=n", func(r, s, n []byte, _ *testing.T, _ *fixture, _ string) []byte { return cat(r, n) }),
		es("r=s=0xff..", func(r, s, n []byte, _ *testing.T, _ *fixture, _ string) []byte {
			return cat(bytesOf(0xff, 32), bytesOf(0xff, 32))
		}),
		es("DER-encoded", func(_, _, _ []byte, t *testing.T, f *fixture, tok string) []byte {
			h, p, _ := segments(t, tok)
			digest := sha256.Sum256([]byte(h + "." + p))
			der, err := ecdsa.SignASN1(rand.Reader, f.priv.(*ecdsa.PrivateKey), digest[:])
			if err != nil {
				t.Fatal(err)
			}
			return der
		}),
		es("63 bytes", func(r, s, n []byte, _ *testing.T, _ *fixture, _ string) []byte { return cat(r, s)[:63] }),
		es("65 bytes", func(r, s, n []byte, _ *testing.T, _ *fixture, _ string) []byte { return cat([]byte{0}, r, s) }),
		es("0 bytes", func(r, s, n []byte, _ *testing.T, _ *fixture, _ string) []byte { return nil }),
		verifyCase{name: "Ed25519 non-canonical s (s+L)", algs: []string{jose.EdDSA}, want: jose.ErrSignature,
			token: func(t *testing.T, f *fixture) string {
				tok := good(t, f)
				sig := sigBytes(t, tok)
				return withSig(t, tok, append(sig[:32:32], addL(sig[32:])...))
			}},
	)
	return cases
}

// lit returns a fixed token.
func lit(s string) func(*testing.T, *fixture) string {
	return func(*testing.T, *fixture) string { return s }
}

// noneToken builds an alg "none" token in the given casing, with an empty
// signature or with the real one of a good token.
func noneToken(alg string, withSignature bool) func(*testing.T, *fixture) string {
	return func(t *testing.T, f *fixture) string {
		var sig []byte
		if withSignature {
			sig = sigBytes(t, f.MustSign(t, f.accessClaims()))
		}
		return unsigned(t, f.header().with("alg", alg), f.payload(), sig)
	}
}

func bytesOf(b byte, n int) []byte { return []byte(strings.Repeat(string([]byte{b}), n)) }

// addL returns the little-endian scalar s + L, the same value modulo the
// Ed25519 group order, which a malleable verifier would accept.
func addL(s []byte) []byte {
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	be := slices.Clone(s)
	slices.Reverse(be)
	sum := new(big.Int).Add(new(big.Int).SetBytes(be), l).FillBytes(make([]byte, 32))
	slices.Reverse(sum)
	return sum
}

// publicKeyBytes returns f's public key in the given form: what an attacker
// would HMAC with in a key confusion attack.
func publicKeyBytes(t *testing.T, f *fixture, form string) []byte {
	t.Helper()
	switch form {
	case "PEM":
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: f.stored.Public})
	case "PEM without newline":
		return []byte(strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: f.stored.Public}))))
	case "DER":
		return f.stored.Public
	case "raw":
		switch k := f.pub.(type) {
		case ed25519.PublicKey:
			return k
		case *ecdsa.PublicKey:
			b, err := k.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			return b
		case *rsa.PublicKey:
			return x509.MarshalPKCS1PublicKey(k)
		}
	case "JWK":
		var set struct{ Keys []json.RawMessage }
		if err := json.Unmarshal(f.keys.JWKS(), &set); err != nil || len(set.Keys) == 0 {
			t.Fatalf("JWKS: %v", err)
		}
		return set.Keys[0]
	case "JWKS":
		return f.keys.JWKS()
	}
	t.Fatalf("no form %s for %T", form, f.pub)
	return nil
}

// attackerKey returns a signing method and a fresh key of alg (which may be
// one latch does not support).
func attackerKey(t *testing.T, alg string) (jwt.SigningMethod, any) {
	t.Helper()
	switch alg {
	case "ES384":
		k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return jwt.SigningMethodES384, k
	case "PS256":
		priv, _ := mustParse(t, MustKey(t, jose.RS256, 9))
		return jwt.SigningMethodPS256, priv
	}
	m, key, _ := attackerOwnKey(t, alg)
	return m, key
}

// attackerOwnKey returns a key of alg that latch does not know.
func attackerOwnKey(t *testing.T, alg string) (jwt.SigningMethod, any, crypto.PublicKey) {
	t.Helper()
	if alg == jose.HS256 {
		return jwt.SigningMethodHS256, []byte("attacker-secret-attacker-secret-attacker"), nil
	}
	priv, pub := mustParse(t, MustKey(t, alg, 9))
	return methodOf(alg), priv, pub
}

// attackerJWK is the public JWK of the attacker's key, as an embedded jwk
// header would carry it.
func attackerJWK(t *testing.T, alg string, key any, pub crypto.PublicKey) any {
	t.Helper()
	if alg == jose.HS256 {
		return obj{"kty": "oct", "k": b64(key.([]byte))}
	}
	k := MustKey(t, alg, 9)
	ks, err := jose.NewKeySet(jose.KeySetConfig{Alg: alg, AccessTTL: time.Minute}, []*latch.SigningKey{k})
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []json.RawMessage }
	if err := json.Unmarshal(ks.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	return set.Keys[0]
}

// selfSignedCert returns a base64 (standard, as x5c wants) self-signed
// certificate for a fresh Ed25519 key.
func selfSignedCert(t *testing.T) string {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "auth.example.com"},
		NotBefore:    t0.Add(-time.Hour),
		NotAfter:     t0.Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

// TestSigner_Sign checks the exact wire shape of issued tokens and the
// round trip through the Verifier, for every algorithm.
func TestSigner_Sign(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, alg)
			in := f.accessClaims()
			in.NotBefore = f.now.Add(-time.Second)
			tok := f.MustSign(t, in)

			h, p, _ := segments(t, tok)
			hdr := decodeSeg(t, h)
			if len(hdr) != 3 || string(hdr["alg"]) != `"`+alg+`"` || string(hdr["typ"]) != `"at+jwt"` ||
				string(hdr["kid"]) != `"`+f.keys.KID()+`"` {
				t.Errorf("header = %s", mustJSON(hdr))
			}
			claims := decodeSeg(t, p)
			want := []string{"aud", "exp", "iat", "iss", "jti", "nbf", "role", "sid", "sub"}
			if got := sortedKeys(claims); !slices.Equal(got, want) {
				t.Errorf("claims = %v, want exactly %v", got, want)
			}
			if string(claims["aud"]) != `"`+testAudience+`"` {
				t.Errorf("one audience is %s, want a string", claims["aud"])
			}

			out, err := f.verifier.Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if out.Issuer != in.Issuer || out.Subject != in.Subject || !slices.Equal(out.Audience, in.Audience) ||
				!out.ExpiresAt.Equal(in.ExpiresAt) || !out.IssuedAt.Equal(in.IssuedAt) || !out.NotBefore.Equal(in.NotBefore) ||
				out.ID != in.ID || out.SessionID != in.SessionID || out.Role != in.Role {
				t.Errorf("round trip:\n got %+v\nwant %+v", out, in)
			}
		})
	}
}

func TestSigner_SignShape(t *testing.T) {
	f := newFixture(t, jose.EdDSA)
	t.Run("no nbf when unset", func(t *testing.T) {
		_, p, _ := segments(t, f.MustSign(t, f.accessClaims()))
		if _, ok := decodeSeg(t, p)["nbf"]; ok {
			t.Error("nbf present though NotBefore is zero")
		}
	})
	t.Run("several audiences are an array", func(t *testing.T) {
		c := f.accessClaims()
		c.Audience = []string{"a", "b"}
		_, p, _ := segments(t, f.MustSign(t, c))
		if got := string(decodeSeg(t, p)["aud"]); got != `["a","b"]` {
			t.Errorf("aud = %s", got)
		}
	})
	bad := map[string]func(c *latch.AccessClaims){
		"no issuer":         func(c *latch.AccessClaims) { c.Issuer = "" },
		"no subject":        func(c *latch.AccessClaims) { c.Subject = "" },
		"no jti":            func(c *latch.AccessClaims) { c.ID = "" },
		"no sid":            func(c *latch.AccessClaims) { c.SessionID = "" },
		"no audience":       func(c *latch.AccessClaims) { c.Audience = nil },
		"empty audience":    func(c *latch.AccessClaims) { c.Audience = []string{""} },
		"no exp":            func(c *latch.AccessClaims) { c.ExpiresAt = time.Time{} },
		"no iat":            func(c *latch.AccessClaims) { c.IssuedAt = time.Time{} },
		"exp not after iat": func(c *latch.AccessClaims) { c.ExpiresAt = c.IssuedAt },
	}
	for name, mutate := range bad {
		t.Run(name, func(t *testing.T) {
			c := f.accessClaims()
			mutate(c)
			if tok, err := f.signer.Sign(context.Background(), c); err == nil {
				t.Errorf("signed %s", tok)
			}
		})
	}
}

// TestVerifier_RefusesFast: a megabyte token costs a length check, and a
// refused kid no more than a header decode (SECURITY 17: normal latency).
func TestVerifier_RefusesFast(t *testing.T) {
	f := newFixture(t, jose.EdDSA)
	ctx := context.Background()
	huge := strings.Repeat("A", 1<<20) + "." + strings.Repeat("A", 10) + "." + "AAAA"
	if allocs := testing.AllocsPerRun(100, func() { _, _ = f.verifier.Verify(ctx, huge) }); allocs > 1 {
		t.Errorf("1 MB token: %v allocations, want at most 1 (the error)", allocs)
	}
	start := time.Now()
	for range 1000 {
		_, _ = f.verifier.Verify(ctx, huge)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("1000 refusals of a 1 MB token took %v", d)
	}

	bigKid := f.craft(t, f.header().with("kid", strings.Repeat("../", 1300)), f.payload())
	good := f.MustSign(t, f.accessClaims())
	measure := func(tok string) time.Duration {
		start := time.Now()
		for range 200 {
			_, _ = f.verifier.Verify(ctx, tok)
		}
		return time.Since(start)
	}
	if _, err := f.verifier.Verify(ctx, bigKid); !errors.Is(err, jose.ErrKid) {
		t.Fatalf("4 KB kid: %v", err)
	}
	if dk, dg := measure(bigKid), measure(good); dk > 2*dg {
		t.Errorf("refusing a 4 KB kid (%v) took more than twice as long as verifying a good token (%v)", dk, dg)
	}
}

func TestNewVerifier(t *testing.T) {
	f := newFixture(t, jose.EdDSA)
	for name, args := range map[string][2]string{"no issuer": {"", testAudience}, "no audience": {testIssuer, ""}} {
		if _, err := jose.NewVerifier(f.keys, args[0], args[1]); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := jose.NewVerifier(nil, testIssuer, testAudience); err == nil {
		t.Error("nil key set: accepted")
	}

	// Without Now, the verifier runs on the wall clock.
	v, err := jose.NewVerifier(f.keys, testIssuer, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	f.now = time.Now().Truncate(time.Second)
	if _, err := v.Verify(context.Background(), f.MustSign(t, f.accessClaims())); err != nil {
		t.Errorf("token issued now, wall clock: %v", err)
	}
}

// TestVerifier_OtherAudienceAndIssuer: a token for another deployment is
// refused by ours even when signed by the same key.
func TestVerifier_OtherAudienceAndIssuer(t *testing.T) {
	f := newFixture(t, jose.EdDSA)
	tok := f.MustSign(t, f.accessClaims())
	other, err := jose.NewVerifier(f.keys, testIssuer, "https://billing.example.com")
	if err != nil {
		t.Fatal(err)
	}
	other.Now = func() time.Time { return f.now }
	if _, err := other.Verify(context.Background(), tok); !errors.Is(err, jose.ErrAudience) {
		t.Errorf("other audience: %v", err)
	}
	other, _ = jose.NewVerifier(f.keys, testIssuer+"/", testAudience)
	other.Now = func() time.Time { return f.now }
	if _, err := other.Verify(context.Background(), tok); !errors.Is(err, jose.ErrIssuer) {
		t.Errorf("other issuer: %v", err)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
