package jose_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/jose"
)

// The fuzz targets of this file run with fixed keys and a fixed clock, so
// that the committed seeds under testdata/fuzz stay valid tokens of these
// keys: a mutation of a seed is then a mutation of a token we really
// signed.

// fuzzNow is the clock of every fuzz verifier.
var fuzzNow = time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)

// fuzzKeys are deterministic signing keys: private material derived from
// fixed labels (test keys, published on purpose).
type fuzzKeys struct {
	ed    ed25519.PrivateKey
	ec    *ecdsa.PrivateKey
	hmac  []byte
	edKey *latch.SigningKey
	ecKey *latch.SigningKey
}

func newFuzzKeys(tb testing.TB) *fuzzKeys {
	tb.Helper()
	seed := sha256.Sum256([]byte("latch fuzz ed25519 key"))
	k := &fuzzKeys{ed: ed25519.NewKeyFromSeed(seed[:]), hmac: []byte("latch-fuzz-hs256-secret-0123456789abcdef")}
	d := sha256.Sum256([]byte("latch fuzz p-256 key"))
	ec, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		tb.Fatal(err)
	}
	k.ec = ec
	stored := func(kid, alg string, priv any, pub any) *latch.SigningKey {
		p8, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			tb.Fatal(err)
		}
		pk, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			tb.Fatal(err)
		}
		return &latch.SigningKey{ID: kid, Alg: alg, Private: p8, Public: pk, CreatedAt: fuzzNow.Add(-24 * time.Hour)}
	}
	k.edKey = stored("fuzz-ed25519", jose.EdDSA, k.ed, k.ed.Public())
	k.ecKey = stored("fuzz-p256", jose.ES256, k.ec, &k.ec.PublicKey)
	return k
}

// fuzzDeployment is one algorithm's signer and verifier with the fixed keys.
type fuzzDeployment struct {
	alg      string
	signer   *jose.Signer
	verifier *jose.Verifier
	// verifies checks a signature with the crypto primitives directly,
	// not through golang-jwt or the KeySet.
	verifies func(input string, sig []byte) bool
}

func newFuzzDeployments(tb testing.TB, k *fuzzKeys) []*fuzzDeployment {
	tb.Helper()
	now := func() time.Time { return fuzzNow }
	var out []*fuzzDeployment
	add := func(alg string, keys *jose.KeySet, err error, verifies func(string, []byte) bool) {
		if err != nil {
			tb.Fatalf("%s key set: %v", alg, err)
		}
		v, err := jose.NewVerifier(keys, testIssuer, testAudience)
		if err != nil {
			tb.Fatal(err)
		}
		v.Now = now
		out = append(out, &fuzzDeployment{alg: alg, signer: jose.NewSigner(keys), verifier: v, verifies: verifies})
	}
	edKeys, err := jose.NewKeySet(jose.KeySetConfig{Alg: jose.EdDSA, AccessTTL: testTTL, Now: now}, []*latch.SigningKey{k.edKey})
	add(jose.EdDSA, edKeys, err, func(input string, sig []byte) bool {
		return ed25519.Verify(k.ed.Public().(ed25519.PublicKey), []byte(input), sig)
	})
	ecKeys, err := jose.NewKeySet(jose.KeySetConfig{Alg: jose.ES256, AccessTTL: testTTL, Now: now}, []*latch.SigningKey{k.ecKey})
	add(jose.ES256, ecKeys, err, func(input string, sig []byte) bool {
		if len(sig) != 64 {
			return false
		}
		h := sha256.Sum256([]byte(input))
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(&k.ec.PublicKey, h[:], r, s)
	})
	hsKeys, err := jose.NewHMACKeySet(k.hmac)
	add(jose.HS256, hsKeys, err, func(input string, sig []byte) bool {
		mac := hmac.New(sha256.New, k.hmac)
		mac.Write([]byte(input))
		return hmac.Equal(mac.Sum(nil), sig)
	})
	return out
}

// fuzzClaims are the claims the seeds sign: whole seconds, as on the wire.
func fuzzClaims() []*latch.AccessClaims {
	base := latch.AccessClaims{
		Issuer: testIssuer, Subject: "user-1", Audience: []string{testAudience},
		ExpiresAt: fuzzNow.Add(10 * time.Minute), IssuedAt: fuzzNow.Add(-5 * time.Minute),
		ID: "jti-1", SessionID: "sid-1", Role: "user",
	}
	two := base
	two.Audience = []string{"https://other.example.com", testAudience}
	two.Subject, two.ID, two.Role = "ünïcødé ☃", "jti-2", "admin"
	nbf := base
	nbf.NotBefore, nbf.ID = fuzzNow.Add(-time.Minute), "jti-3"
	old := base // expired: must be refused however it is mutated
	old.ExpiresAt, old.IssuedAt, old.ID = fuzzNow.Add(-time.Hour), fuzzNow.Add(-2*time.Hour), "jti-4"
	return []*latch.AccessClaims{&base, &two, &nbf, &old}
}

// FuzzVerify mutates tokens signed by fixed test keys (EdDSA, ES256, HS256)
// and checks the property that matters: a token Verify accepts has a
// signature that verifies over its signing input with the key itself
// (checked with crypto primitives, not golang-jwt), and the claims Verify
// returns are exactly the ones in the signed payload (and, for a token
// our Signer produced, the claims it was asked to sign).
func FuzzVerify(f *testing.F) {
	keys := newFuzzKeys(f)
	deps := newFuzzDeployments(f, keys)
	signed := map[string]*latch.AccessClaims{} // signing input -> claims given to Sign
	for _, d := range deps {
		for _, c := range fuzzClaims() {
			tok, err := d.signer.Sign(context.Background(), c)
			if err != nil {
				f.Fatalf("%s Sign: %v", d.alg, err)
			}
			signed[tok[:strings.LastIndexByte(tok, '.')]] = c
			f.Add(tok)
			// The property is only worth something if the seeds pass.
			if _, err := d.verifier.Verify(context.Background(), tok); (err == nil) != c.ExpiresAt.After(fuzzNow) {
				f.Fatalf("%s seed %s: Verify = %v", d.alg, c.ID, err)
			}
		}
	}
	// Shapes the Signer never makes, to start the fuzzer near the header
	// and claim rules.
	for _, s := range []string{
		"", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.e30.",
		"eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6IngifQ.e30.AAAA",
		"eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImZ1enotZWQyNTUxOSIsImp3ayI6e319.e30.AAAA",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		for _, d := range deps {
			c, err := d.verifier.Verify(context.Background(), tok)
			if err != nil {
				if !errors.Is(err, latch.ErrUnauthenticated) {
					t.Fatalf("%s: Verify error %v does not wrap ErrUnauthenticated", d.alg, err)
				}
				if strings.Contains(err.Error(), tok) && len(tok) > 8 {
					t.Fatalf("%s: Verify error quotes the token", d.alg)
				}
				continue
			}
			dot := strings.LastIndexByte(tok, '.')
			input := tok[:dot]
			sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
			if err != nil || !d.verifies(input, sig) {
				t.Fatalf("%s accepted %q, whose signature does not verify with the key", d.alg, tok)
			}
			want, ok := signed[input]
			if !ok {
				t.Fatalf("%s accepted %q, whose signing input no test signed", d.alg, tok)
			}
			if diff := claimsDiff(c, want); diff != "" {
				t.Fatalf("%s accepted %q with claims that differ from the signed ones in %s", d.alg, tok, diff)
			}
			checkPayload(t, d.alg, input, c)
		}
	})
}

// claimsDiff names the first field where got differs from want.
func claimsDiff(got, want *latch.AccessClaims) string {
	switch {
	case got.Issuer != want.Issuer:
		return "iss"
	case got.Subject != want.Subject:
		return "sub"
	case !slices.Equal(got.Audience, want.Audience):
		return "aud"
	case !got.ExpiresAt.Equal(want.ExpiresAt):
		return "exp"
	case !got.IssuedAt.Equal(want.IssuedAt):
		return "iat"
	case !got.NotBefore.Equal(want.NotBefore):
		return "nbf"
	case got.ID != want.ID:
		return "jti"
	case got.SessionID != want.SessionID:
		return "sid"
	case got.Role != want.Role:
		return "role"
	}
	return ""
}

// checkPayload decodes the payload of input independently and checks that
// the claims Verify returned are what it says.
func checkPayload(t *testing.T, alg, input string, c *latch.AccessClaims) {
	t.Helper()
	_, p, _ := strings.Cut(input, ".")
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		t.Fatalf("%s: accepted payload is not base64url: %v", alg, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: accepted payload is not a JSON object: %v", alg, err)
	}
	str := func(k string) string { s, _ := m[k].(string); return s }
	date := func(k string) time.Time {
		f, ok := m[k].(float64)
		if !ok {
			return time.Time{}
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC()
	}
	var aud []string
	switch a := m["aud"].(type) {
	case string:
		aud = []string{a}
	case []any:
		for _, x := range a {
			s, _ := x.(string)
			aud = append(aud, s)
		}
	}
	want := &latch.AccessClaims{Issuer: str("iss"), Subject: str("sub"), Audience: aud, ExpiresAt: date("exp"),
		IssuedAt: date("iat"), NotBefore: date("nbf"), ID: str("jti"), SessionID: str("sid"), Role: str("role")}
	if diff := claimsDiff(c, want); diff != "" {
		t.Fatalf("%s: returned claims differ from the payload in %s", alg, diff)
	}
	if c.Subject == "" || c.ID == "" || c.SessionID == "" || !slices.Contains(c.Audience, testAudience) || c.Issuer != testIssuer {
		t.Fatalf("%s: accepted claims miss a required value: %+v", alg, c)
	}
	if !fuzzNow.Before(c.ExpiresAt.Add(latch.Leeway)) {
		t.Fatalf("%s: accepted a token expired at %v", alg, c.ExpiresAt)
	}
}

// FuzzPublicKeySet feeds JWKS documents to NewPublicKeySet and ReloadJWKS
// (what the verify library does with an issuer's /.well-known/jwks.json).
// Property: once a document is accepted, a token verifies only if a key
// of the document with the token's kid, read independently here, verifies
// its signature; the document's own export parses again to the same kids.
func FuzzPublicKeySet(f *testing.F) {
	keys := newFuzzKeys(f)
	deps := newFuzzDeployments(f, keys)
	var edTok string
	for _, d := range deps {
		if d.alg == jose.EdDSA {
			edTok, _ = d.signer.Sign(context.Background(), fuzzClaims()[0])
		}
	}
	x := base64.RawURLEncoding.EncodeToString(keys.ed.Public().(ed25519.PublicKey))
	other := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	point, err := keys.ec.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		f.Fatal(err)
	}
	ecx, ecy := base64.RawURLEncoding.EncodeToString(point[1:33]), base64.RawURLEncoding.EncodeToString(point[33:])
	for _, s := range []string{
		`{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","use":"sig","kid":"fuzz-ed25519","x":"` + x + `"}]}`,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","kid":"fuzz-ed25519","x":"` + other + `"},{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","kid":"b","x":"` + x + `"}]}`,
		`{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","kid":"fuzz-p256","x":"` + ecx + `","y":"` + ecy + `"}]}`,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","kid":"fuzz-ed25519","x":"` + x + `","key_ops":["verify"]},{"kty":"OKP","kid":"fuzz-ed25519"}]}`,
		`{"keys":[{"kty":"RSA","alg":"RS256","kid":"r","n":"AQAB","e":"AQAB"}]}`,
		`{"keys":[]}`, `{}`, `null`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, alg := range []string{jose.ES256, jose.RS256} {
			if ks, err := jose.NewPublicKeySet(alg, doc); err == nil && ks.Alg() != alg {
				t.Fatalf("NewPublicKeySet(%s) made a %s set", alg, ks.Alg())
			}
		}
		ks, err := jose.NewPublicKeySet(jose.EdDSA, doc)
		if err != nil {
			return
		}
		// The same document through ReloadJWKS, and the exported JWKS
		// through NewPublicKeySet, agree with the first reading.
		if err := ks.ReloadJWKS(doc); err != nil {
			t.Fatalf("ReloadJWKS of an accepted document: %v", err)
		}
		again, err := jose.NewPublicKeySet(jose.EdDSA, ks.JWKS())
		if err != nil {
			t.Fatalf("the exported JWKS %s is refused: %v", ks.JWKS(), err)
		}
		if string(again.JWKS()) != string(ks.JWKS()) {
			t.Fatalf("JWKS export is not stable:\n%s\n%s", ks.JWKS(), again.JWKS())
		}
		v, err := jose.NewVerifier(ks, testIssuer, testAudience)
		if err != nil {
			t.Fatal(err)
		}
		v.Now = func() time.Time { return fuzzNow }
		_, verr := v.Verify(context.Background(), edTok)
		if verr == nil != edKeyIn(doc, "fuzz-ed25519", edTok) {
			t.Fatalf("Verify of the test token = %v, yet the document's key for its kid verifies it: %v", verr, verr != nil)
		}
	})
}

// edKeyIn reads doc independently of the jose package and reports whether
// a usable Ed25519 key named kid in it verifies tok's signature.
func edKeyIn(doc []byte, kid, tok string) bool {
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if json.Unmarshal(doc, &set) != nil {
		return false
	}
	dot := strings.LastIndexByte(tok, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(tok[dot+1:])
	for _, k := range set.Keys {
		if k["kid"] != kid || k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["alg"] != jose.EdDSA {
			continue
		}
		if use, ok := k["use"]; ok && use != "sig" {
			continue
		}
		if ops, ok := k["key_ops"]; ok {
			list, _ := ops.([]any)
			if !slices.Contains(list, any("verify")) {
				continue
			}
		}
		xs, _ := k["x"].(string)
		x, err := base64.RawURLEncoding.Strict().DecodeString(xs)
		if err != nil || len(x) != ed25519.PublicKeySize {
			continue
		}
		return ed25519.Verify(ed25519.PublicKey(x), []byte(tok[:dot]), sig)
	}
	return false
}
