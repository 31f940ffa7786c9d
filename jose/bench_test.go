package jose_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"math/big"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/latch-dev/latch/jose"
)

// BenchmarkVerify is a full Verifier.Verify of a good token: the strict
// header checks, golang-jwt's parse, the signature and the claims. Compare
// with BenchmarkBare, the signature check alone on the same bytes.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range allAlgs {
		b.Run(alg, func(b *testing.B) {
			f := newFixture(b, alg)
			tok := f.MustSign(b, f.accessClaims())
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.verifier.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBare is the bare cryptographic check of the same signing input
// BenchmarkVerify verifies, hashing included: the floor Verify is measured
// against.
func BenchmarkBare(b *testing.B) {
	input := func(f *fixture) (msg, sig []byte) {
		tok := f.MustSign(b, f.accessClaims())
		i := strings.LastIndexByte(tok, '.')
		return []byte(tok[:i]), sigBytes(b, tok)
	}
	b.Run("ed25519.Verify", func(b *testing.B) {
		f := newFixture(b, jose.EdDSA)
		msg, sig := input(f)
		pub := f.pub.(ed25519.PublicKey)
		b.ReportAllocs()
		for b.Loop() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("bad signature")
			}
		}
	})
	b.Run("ecdsa.Verify", func(b *testing.B) {
		// What golang-jwt calls: r and s as big.Ints from the 64-byte
		// JWS signature.
		f := newFixture(b, jose.ES256)
		msg, sig := input(f)
		pub := f.pub.(*ecdsa.PublicKey)
		b.ReportAllocs()
		for b.Loop() {
			h := sha256.Sum256(msg)
			r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
			if !ecdsa.Verify(pub, h[:], r, s) {
				b.Fatal("bad signature")
			}
		}
	})
	b.Run("ecdsa.VerifyASN1", func(b *testing.B) {
		f := newFixture(b, jose.ES256)
		msg, _ := input(f)
		h := sha256.Sum256(msg)
		der, err := ecdsa.SignASN1(rand.Reader, f.priv.(*ecdsa.PrivateKey), h[:])
		if err != nil {
			b.Fatal(err)
		}
		pub := f.pub.(*ecdsa.PublicKey)
		b.ReportAllocs()
		for b.Loop() {
			h := sha256.Sum256(msg)
			if !ecdsa.VerifyASN1(pub, h[:], der) {
				b.Fatal("bad signature")
			}
		}
	})
	b.Run("rsa.VerifyPKCS1v15", func(b *testing.B) {
		f := newFixture(b, jose.RS256)
		msg, sig := input(f)
		pub := f.pub.(*rsa.PublicKey)
		b.ReportAllocs()
		for b.Loop() {
			h := sha256.Sum256(msg)
			if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hmac", func(b *testing.B) {
		f := newFixture(b, jose.HS256)
		msg, sig := input(f)
		b.ReportAllocs()
		for b.Loop() {
			m := hmac.New(sha256.New, testSecret)
			m.Write(msg)
			if !hmac.Equal(m.Sum(nil), sig) {
				b.Fatal("bad signature")
			}
		}
	})
}

// BenchmarkSign is Signer.Sign of a typical access token.
func BenchmarkSign(b *testing.B) {
	for _, alg := range allAlgs {
		b.Run(alg, func(b *testing.B) {
			f := newFixture(b, alg)
			c := f.accessClaims()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.signer.Sign(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReject is the cost of refusing junk: what an attacker spraying
// tokens makes each request cost.
func BenchmarkReject(b *testing.B) {
	f := newFixture(b, jose.EdDSA)
	ctx := context.Background()
	for name, tok := range map[string]string{
		"1MB":         strings.Repeat("A", 1<<20),
		"unknown-kid": f.craft(b, f.header().with("kid", "../../etc/passwd"), f.payload()),
		"alg-none":    unsigned(b, f.header().with("alg", "none"), f.payload(), nil),
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.verifier.Verify(ctx, tok); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}

// BenchmarkCacheBytes reports the live heap the verified-token cache holds
// per token (B/token) for tokens shaped like latch's: EdDSA, a sub, jti
// and sid of 22 characters each, amr and auth_time. The cache keeps every
// token it verified until its exp (up to its bound, 100,000 in latch
// serve), so this times the access tokens used within --access-ttl is the
// cache's memory (docs/operations.md, "Sizing"; BENCHMARKS.md, "Soak").
func BenchmarkCacheBytes(b *testing.B) {
	const n = 10_000
	f := newFixture(b, jose.EdDSA)
	toks := make([]string, n)
	for i := range toks {
		c := f.accessClaims()
		c.Subject, c.ID, c.SessionID = fmt.Sprintf("%022d", i), fmt.Sprintf("j%021d", i), fmt.Sprintf("s%021d", i)
		c.AMR, c.AuthTime = []string{"pwd"}, f.now
		toks[i] = f.MustSign(b, c)
	}
	ctx := context.Background()
	var perToken float64
	for b.Loop() {
		v, err := jose.NewVerifier(f.keys, testIssuer, testAudience, jose.WithCache(n))
		if err != nil {
			b.Fatal(err)
		}
		v.Now = func() time.Time { return f.now }
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for _, tok := range toks {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if v.CacheLen() != n {
			b.Fatalf("%d tokens cached, want %d", v.CacheLen(), n)
		}
		perToken = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
		runtime.KeepAlive(v)
	}
	b.ReportMetric(perToken, "B/token")
}
