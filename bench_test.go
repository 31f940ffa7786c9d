package latch_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/jose"
	"github.com/latch-dev/latch/memory"
	"github.com/latch-dev/latch/password"
	"github.com/latch-dev/latch/sqlite"
)

// benchService is a Service on the memory stores behind the session cache
// (the embedded default's shape) signing with alg.
func benchService(b *testing.B, alg string) *domain {
	b.Helper()
	return newDomain(b, withAlg(alg), withCache(), withDeps(func(d *latch.Deps) { d.Now = nil }))
}

// BenchmarkAuthenticateToken is the server's bearer path per algorithm:
// cold (a token never seen: signature and claims checked) and warm (seen
// before: a map lookup, then the revocation set), beside the bare
// signature primitive measured in the same run.
func BenchmarkAuthenticateToken(b *testing.B) {
	ctx := context.Background()
	for _, alg := range []string{jose.EdDSA, jose.ES256, jose.RS256, jose.HS256} {
		svc := benchService(b, alg)
		const addr, pw = "bench@example.com", "bench-passphrase-1"
		if _, err := svc.Signup(ctx, addr, pw); err != nil {
			b.Fatal(err)
		}
		login := func() string {
			res, err := svc.Login(ctx, latch.LoginRequest{Email: addr, Password: pw, Mode: latch.KindToken})
			if err != nil {
				b.Fatal(err)
			}
			return res.Access.Token
		}
		b.Run(alg+"/cold", func(b *testing.B) {
			toks := make([]string, 256)
			for i := range toks {
				toks[i] = login()
			}
			cold, err := jose.NewVerifier(svc.Keys, testIssuer, testIssuer) // no cache: every call checks the signature
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := cold.Verify(ctx, toks[i%len(toks)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(alg+"/warm", func(b *testing.B) {
			tok := login()
			if _, err := svc.AuthenticateToken(ctx, tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := svc.AuthenticateToken(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	msg := make([]byte, 300)
	digest := sha256.Sum256(msg)
	b.Run("bare/ed25519.Verify", func(b *testing.B) {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		sig := ed25519.Sign(priv, msg)
		for b.Loop() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("bad signature")
			}
		}
	})
	b.Run("bare/ecdsa.VerifyASN1", func(b *testing.B) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		sig, _ := ecdsa.SignASN1(rand.Reader, k, digest[:])
		for b.Loop() {
			if !ecdsa.VerifyASN1(&k.PublicKey, digest[:], sig) {
				b.Fatal("bad signature")
			}
		}
	})
	b.Run("bare/rsa.VerifyPKCS1v15", func(b *testing.B) {
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		sig, _ := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:])
		for b.Loop() {
			if rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA256, digest[:], sig) != nil {
				b.Fatal("bad signature")
			}
		}
	})
	b.Run("bare/hmac-sha256", func(b *testing.B) {
		key := make([]byte, 32)
		for b.Loop() {
			m := hmac.New(sha256.New, key)
			m.Write(msg)
			m.Sum(nil)
		}
	})
}

// BenchmarkAuthenticateSession is the cookie path on the in-process cache
// in front of the store (the embedded default).
func BenchmarkAuthenticateSession(b *testing.B) {
	ctx := context.Background()
	svc := benchService(b, jose.EdDSA)
	if _, err := svc.Signup(ctx, "bench@example.com", "bench-passphrase-1"); err != nil {
		b.Fatal(err)
	}
	res, err := svc.Login(ctx, latch.LoginRequest{Email: "bench@example.com", Password: "bench-passphrase-1", Mode: latch.KindSession})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.AuthenticateSession(ctx, res.Secret); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoginMethods is one session login per way of logging in, at the
// production argon2id parameters: the password alone; the password, then a
// TOTP code (the second step, CompleteMFA); and a passwordless passkey
// login (BeginPasskeyLogin, the software authenticator's assertion, then
// FinishPasskeyLogin), beside the authenticator's part alone (an ECDSA
// P-256 signature and the JSON a browser would send), which a real login
// spends in the browser. Compare them by ratio within one run.
func BenchmarkLoginMethods(b *testing.B) {
	ctx := context.Background()
	hasher, err := password.New(password.Config{})
	if err != nil {
		b.Fatal(err)
	}
	d := newDomain(b, withPasskeys(b, &memory.FactorStore{}, nil), withDeps(func(d *latch.Deps) { d.Hasher = hasher }))
	d.signup(b, "password@example.com", mfaPassword)
	totpAccount := enrol(b, d, "totp@example.com")
	key := enrolPasskey(b, d, "passkey@example.com").auth

	b.Run("password", func(b *testing.B) {
		for b.Loop() {
			d.login(b, "password@example.com", mfaPassword, latch.KindSession)
		}
	})
	b.Run("password+totp", func(b *testing.B) {
		for b.Loop() {
			d.Clock.Advance(30 * time.Second) // a fresh code each time: a code is accepted once
			ch := d.challenge(b, totpAccount.email, latch.KindSession)
			if _, err := d.CompleteMFA(ctx, latch.MFARequest{Token: ch.Token, TOTP: totpAccount.code(b, d, 0)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("passkey", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := d.passwordless(b, key, latch.KindSession); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("passkey/authenticator-alone", func(b *testing.B) {
		opts, err := d.BeginPasskeyLogin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := key.Get(opts); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// fullHasher answers as password.Hasher does with every slot busy and its
// queue full: Admit and Compare refuse at once.
type fullHasher struct{ latch.PasswordHasher }

func (fullHasher) Admit() error { return &latch.RateLimitError{RetryAfter: time.Second} }

func (fullHasher) Compare(context.Context, string, string) (bool, bool, error) {
	return false, false, &latch.RateLimitError{RetryAfter: time.Second}
}

// unadmitted hides a hasher's admission check (latch.HashAdmitter): its
// refusals come from Compare, after the account is read.
type unadmitted struct{ latch.PasswordHasher }

// BenchmarkLoginRefused is the cost of a login refused because the hasher
// is full (a login flood), on the SQLite store of the embedded default,
// for an unknown address and for a known one: refused by the hash, after
// the account is read and a lockout slot taken (as before
// latch.HashAdmitter), and refused at admission.
func BenchmarkLoginRefused(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		hasher func(latch.PasswordHasher) latch.PasswordHasher
	}{
		{"by-the-hash", func(h latch.PasswordHasher) latch.PasswordHasher { return unadmitted{fullHasher{h}} }},
		{"at-admission", func(h latch.PasswordHasher) latch.PasswordHasher { return fullHasher{h} }},
	} {
		db, err := sqlite.Open(ctx, b.TempDir()+"/latch.db")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = db.Close() })
		d := newDomain(b, withDeps(func(dp *latch.Deps) { dp.Users, dp.Now = db, nil }))
		const known, pw = "known@example.com", "bench-passphrase-1"
		if _, err := d.Signup(ctx, known, pw); err != nil {
			b.Fatal(err)
		}
		d2 := newDomain(b, withDeps(func(dp *latch.Deps) { dp.Users, dp.Now, dp.Hasher = db, nil, c.hasher(dp.Hasher) }))
		for _, addr := range []string{"unknown@example.com", known} {
			who := "unknown"
			if addr == known {
				who = "known"
			}
			b.Run(c.name+"/"+who, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := d2.Login(ctx, latch.LoginRequest{Email: addr, Password: pw, Mode: latch.KindSession}); !errors.Is(err, latch.ErrRateLimited) {
						b.Fatalf("login with the hasher full = %v, want rate limited", err)
					}
				}
			})
		}
	}
}
