package latch_test

import (
	"context"
	"encoding/base32"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/jose"
	"github.com/latch-dev/latch/memory"
	"github.com/latch-dev/latch/totp"
)

// withMFA gives the Service second factors, as `latch serve` does.
func withMFA(factors *memory.FactorStore) domainOption {
	return withDeps(func(d *latch.Deps) {
		d.Factors, d.TOTP, d.AccountTokens = factors, totp.Codes{}, &memory.AccountTokenStore{}
	})
}

const mfaPassword = "correct horse battery staple"

// mfaAccount is an account with a confirmed authenticator.
type mfaAccount struct {
	email    string
	secret   []byte
	recovery []string
}

// code is the authenticator's code at the domain's clock moved by steps.
func (a *mfaAccount) code(t testing.TB, d *domain, steps int) string {
	t.Helper()
	c, err := totp.Codes{}.Code(a.secret, d.Clock.Now().Add(time.Duration(steps)*30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrol signs up and adds TOTP through the use cases, as a person would.
func enrol(t testing.TB, d *domain, addr string) *mfaAccount {
	t.Helper()
	ctx := context.Background()
	d.signup(t, addr, mfaPassword)
	p := d.principal(t, d.login(t, addr, mfaPassword, latch.KindSession))
	setup, err := d.BeginTOTP(ctx, p, mfaPassword)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(setup.URL, "otpauth://totp/") || !strings.Contains(setup.URL, setup.Secret) {
		t.Fatalf("setup = %+v", setup)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(setup.Secret)
	if err != nil || len(secret) != 20 {
		t.Fatalf("secret %q: %d bytes, %v", setup.Secret, len(secret), err)
	}
	a := &mfaAccount{email: addr, secret: secret}
	if a.recovery, err = d.ConfirmTOTP(ctx, p, a.code(t, d, 0)); err != nil {
		t.Fatal(err)
	}
	d.Clock.Advance(30 * time.Second) // the confirming code is spent
	return a
}

func (d *domain) principal(t testing.TB, res *latch.LoginResult) *latch.Principal {
	t.Helper()
	var p *latch.Principal
	var err error
	if res.Access != nil {
		p, err = d.AuthenticateToken(context.Background(), res.Access.Token)
	} else {
		p, err = d.AuthenticateSession(context.Background(), res.Secret)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// challenge logs in with the password and expects a second step.
func (d *domain) challenge(t testing.TB, addr string, mode latch.SessionKind) *latch.MFAChallenge {
	t.Helper()
	res, err := d.Login(context.Background(), latch.LoginRequest{Email: addr, Password: mfaPassword, Mode: mode, Carry: "body"})
	if err != nil {
		t.Fatal(err)
	}
	if res.MFA == nil || res.Session != nil || res.Secret != "" || res.Access != nil || res.User != nil {
		t.Fatalf("login of an account with TOTP answered %+v, want only a challenge", res)
	}
	return res.MFA
}

func TestMFA_loginNeedsTheSecondFactor(t *testing.T) {
	d := newDomain(t, withMFA(&memory.FactorStore{}))
	ctx := context.Background()
	a := enrol(t, d, "ada@example.com")
	if len(a.recovery) != latch.RecoveryCodeCount {
		t.Fatalf("%d recovery codes", len(a.recovery))
	}
	for _, mode := range []latch.SessionKind{latch.KindSession, latch.KindToken} {
		ch := d.challenge(t, a.email, mode)
		if !slices.Equal(ch.Methods, []string{"totp", "recovery_code"}) {
			t.Fatalf("methods = %v", ch.Methods)
		}
		res, err := d.CompleteMFA(ctx, latch.MFARequest{Token: ch.Token, TOTP: a.code(t, d, 0)})
		if err != nil {
			t.Fatal(err)
		}
		if res.Carry != "body" || res.Session.Kind != mode {
			t.Fatalf("completed login: carry %q, kind %q", res.Carry, res.Session.Kind)
		}
		p := d.principal(t, res)
		want := []string{"pwd", "otp", "mfa"}
		if !slices.Equal(p.AMR(), want) || !p.AuthTime().Equal(d.Clock.Now().Truncate(time.Second)) && !p.AuthTime().Equal(d.Clock.Now()) {
			t.Fatalf("%s: amr %v auth_time %v", mode, p.AMR(), p.AuthTime())
		}
		if mode == latch.KindToken && (!slices.Equal(res.Access.Claims.AMR, want) || res.Access.Claims.AuthTime.IsZero()) {
			t.Fatalf("access claims %+v", res.Access.Claims)
		}
		if _, err := d.CompleteMFA(ctx, latch.MFARequest{Token: ch.Token, TOTP: a.code(t, d, 1)}); !errors.Is(err, latch.ErrInvalidToken) {
			t.Fatalf("mfa_token used twice: %v", err)
		}
		d.Clock.Advance(30 * time.Second)
	}
	// A password-only account logs in in one step, with amr pwd.
	d.signup(t, "bob@example.com", mfaPassword)
	p := d.principal(t, d.login(t, "bob@example.com", mfaPassword, latch.KindToken))
	if !slices.Equal(p.AMR(), []string{"pwd"}) {
		t.Fatalf("password login amr = %v", p.AMR())
	}
}

func TestMFA_totpCodes(t *testing.T) {
	d := newDomain(t, withMFA(&memory.FactorStore{}))
	ctx := context.Background()
	a := enrol(t, d, "ada@example.com")
	d.Clock.Advance(time.Minute) // the step before now is unused
	for _, c := range []struct {
		name  string
		code  func() string
		valid bool
	}{
		{"two steps early", func() string { return a.code(t, d, -2) }, false},
		{"two steps late", func() string { return a.code(t, d, 2) }, false},
		{"not digits", func() string { return "12345a" }, false},
		{"too long", func() string { return a.code(t, d, 0) + "0" }, false},
		{"one step early (drift)", func() string { return a.code(t, d, -1) }, true},
		{"the current step", func() string { return a.code(t, d, 0) }, true},
		{"one step late (drift)", func() string { return a.code(t, d, 1) }, true},
	} {
		ch := d.challenge(t, a.email, latch.KindSession)
		_, err := d.CompleteMFA(ctx, latch.MFARequest{Token: ch.Token, TOTP: c.code()})
		if c.valid != (err == nil) {
			t.Fatalf("%s: err = %v", c.name, err)
		}
		if !c.valid && !errors.Is(err, latch.ErrInvalidCredentials) {
			t.Fatalf("%s: err = %v, want ErrInvalidCredentials", c.name, err)
		}
		if c.valid {
			d.Clock.Advance(90 * time.Second) // past every step used
		}
		_ = d.Throttle.Reset(ctx, a.email)
	}
}

func TestMFA_codeReplayRefused(t *testing.T) {
	d := newDomain(t, withMFA(&memory.FactorStore{}))
	ctx := context.Background()
	a := enrol(t, d, "ada@example.com")
	code := a.code(t, d, 0)
	if _, err := d.CompleteMFA(ctx, latch.MFARequest{Token: d.challenge(t, a.email, latch.KindSession).Token, TOTP: code}); err != nil {
		t.Fatal(err)
	}
	ch := d.challenge(t, a.email, latch.KindSession)
	if _, err := d.CompleteMFA(ctx, latch.MFARequest{Token: ch.Token, TOTP: code}); !errors.Is(err, latch.ErrInvalidCredentials) {
		t.Fatalf("the same code again in its step: %v", err)
	}
	if _, err := d.CompleteMFA(ctx, latch.MFARequest{Token: ch.Token, TOTP: a.code(t, d, -1)}); !errors.Is(err, latch.ErrInvalidCredentials) {
		t.Fatalf("an earlier step's code after a later one was used: %v", err)
	}
	d.Clock.Advance(30 * time.Second)
	if _, err := d.CompleteMFA(ctx, latch.MFARequest{Token: ch.Token, TOTP: a.code(t, d, 0)}); err != nil {
		t.Fatalf("the next step's code: %v", err)
	}
}

func TestMFA_tokenLimits(t *testing.T) {
	ctx := context.Background()
	t.Run("five wrong codes kill the mfa_token", func(t *testing.T) {
		d := newDomain(t, withMFA(&memory.FactorStore{}))
		a := enrol(t, d, "ada@example.com")
		ch := d.challenge(t, a.email, latch.KindSession)
		for i := range latch.MFAAttempts {
			if _, err := d.CompleteMFA(ctx, latch.MFARequest{Token: ch.Token, TOTP: "000000"}); !errors.Is(err, latch.ErrInvalidCredentials) && !errors.Is(err, latch.ErrRateLimited) {
				t.Fatalf("wrong code %d: %v", i+1, err)
			}
		}
		_ = d.Throttle.Reset(ctx, a.email) // the token, not the lockout, refuses now
		if _, err := d.CompleteMFA(ctx, latch.MFARequest{Token: ch.Token, TOTP: a.code(t, d, 0)}); !errors.Is(err, latch.ErrInvalidToken) {
			t.Fatalf("the right code after %d wrong ones: %v", latch.MFAAttempts, err)
		}
	})
	t.Run("wrong codes lock the account", func(t *testing.T) {
		d := newDomain(t, withMFA(&memory.FactorStore{}))
		a := enrol(t, d, "ada@example.com")
		ch := d.challenge(t, a.email, latch.KindSession) // the right password cleared the failures
		for range 5 {
			_, _ = d.CompleteMFA(ctx, latch.MFARequest{Token: ch.Token, TOTP: "000000"})
		}
		_, err := d.Login(ctx, latch.LoginRequest{Email: a.email, Password: mfaPassword, Mode: latch.KindSession})
		if !errors.Is(err, latch.ErrRateLimited) {
			t.Fatalf("login after five wrong codes: %v, want locked", err)
		}
	})
	t.Run("concurrent wrong codes: at most the lockout's limit are checked", func(t *testing.T) {
		const k = 50
		d := newDomain(t, withMFA(&memory.FactorStore{}))
		a := enrol(t, d, "ada@example.com")
		ch := d.challenge(t, a.email, latch.KindSession)
		var wrong, refused atomic.Int64
		var wg sync.WaitGroup
		for range k {
			wg.Go(func() {
				_, err := d.CompleteMFA(ctx, latch.MFARequest{Token: ch.Token, TOTP: "000000"})
				switch {
				case errors.Is(err, latch.ErrInvalidCode):
					wrong.Add(1)
				case errors.Is(err, latch.ErrRateLimited), errors.Is(err, latch.ErrInvalidToken):
					refused.Add(1)
				default:
					t.Errorf("a wrong code among %d concurrent = %v", k, err)
				}
			})
		}
		wg.Wait()
		if wrong.Load() > 5 {
			t.Errorf("%d of %d concurrent wrong codes were checked and counted, want at most 5 (--login-max-failures)", wrong.Load(), k)
		}
		if wait, err := d.Throttle.Locked(ctx, a.email, d.Clock.Now()); err != nil || wait == 0 {
			t.Errorf("Locked after the wrong codes = %v, %v; want locked", wait, err)
		}
	})
	t.Run("the mfa_token expires", func(t *testing.T) {
		d := newDomain(t, withMFA(&memory.FactorStore{}))
		a := enrol(t, d, "ada@example.com")
		ch := d.challenge(t, a.email, latch.KindSession)
		d.Clock.Advance(latch.MFATTL)
		if _, err := d.CompleteMFA(ctx, latch.MFARequest{Token: ch.Token, TOTP: a.code(t, d, 0)}); !errors.Is(err, latch.ErrInvalidToken) {
			t.Fatalf("after %v: %v", latch.MFATTL, err)
		}
	})
	t.Run("other tokens are no mfa_token", func(t *testing.T) {
		d := newDomain(t, withMFA(&memory.FactorStore{}))
		a := enrol(t, d, "ada@example.com")
		for _, tok := range []string{"", "x", strings.Repeat("a", 43), strings.Repeat("a", 5000)} {
			if _, err := d.CompleteMFA(ctx, latch.MFARequest{Token: tok, TOTP: a.code(t, d, 0)}); !errors.Is(err, latch.ErrInvalidToken) {
				t.Fatalf("token %.10q: %v", tok, err)
			}
		}
		ch := d.challenge(t, a.email, latch.KindSession)
		if _, err := d.CompleteMFA(ctx, latch.MFARequest{Token: ch.Token, TOTP: a.code(t, d, 0), RecoveryCode: a.recovery[0]}); !errors.Is(err, latch.ErrInvalidRequest) {
			t.Fatalf("two factors at once: %v", err)
		}
	})
}

func TestMFA_recoveryCodes(t *testing.T) {
	d := newDomain(t, withMFA(&memory.FactorStore{}))
	ctx := context.Background()
	a := enrol(t, d, "ada@example.com")
	seen := map[string]bool{}
	for _, c := range a.recovery {
		if len(c) != 19 || seen[c] {
			t.Fatalf("recovery code %q (duplicate: %v)", c, seen[c])
		}
		seen[c] = true
	}
	typed := strings.ToUpper(strings.ReplaceAll(a.recovery[3], "-", " "))
	res, err := d.CompleteMFA(ctx, latch.MFARequest{Token: d.challenge(t, a.email, latch.KindToken).Token, RecoveryCode: typed})
	if err != nil {
		t.Fatalf("recovery code typed as %q: %v", typed, err)
	}
	p := d.principal(t, res)
	if _, err := d.CompleteMFA(ctx, latch.MFARequest{Token: d.challenge(t, a.email, latch.KindToken).Token, RecoveryCode: a.recovery[3]}); !errors.Is(err, latch.ErrInvalidCredentials) {
		t.Fatalf("a spent recovery code: %v", err)
	}
	fresh, err := d.NewRecoveryCodes(ctx, p, mfaPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.CompleteMFA(ctx, latch.MFARequest{Token: d.challenge(t, a.email, latch.KindToken).Token, RecoveryCode: a.recovery[0]}); !errors.Is(err, latch.ErrInvalidCredentials) {
		t.Fatalf("a code of the replaced set: %v", err)
	}
	if _, err := d.CompleteMFA(ctx, latch.MFARequest{Token: d.challenge(t, a.email, latch.KindToken).Token, RecoveryCode: fresh[9]}); err != nil {
		t.Fatalf("a code of the new set: %v", err)
	}
	sec, err := d.Security(ctx, p)
	if err != nil || !sec.TOTP || sec.RecoveryCodesLeft != 9 {
		t.Fatalf("Security = %+v, %v", sec, err)
	}
}

func TestMFA_stepUp(t *testing.T) {
	d := newDomain(t, withMFA(&memory.FactorStore{}))
	ctx := context.Background()
	d.signup(t, "ada@example.com", mfaPassword)
	p := d.principal(t, d.login(t, "ada@example.com", mfaPassword, latch.KindToken))
	d.Clock.Advance(latch.DefaultReauthWindow + time.Second)
	for name, change := range map[string]func() error{
		"BeginTOTP":        func() error { _, err := d.BeginTOTP(ctx, p, mfaPassword); return err },
		"NewRecoveryCodes": func() error { _, err := d.NewRecoveryCodes(ctx, p, mfaPassword); return err },
		"ChangePassword": func() error {
			_, err := d.ChangePassword(ctx, p, mfaPassword, "a new passphrase, long enough")
			return err
		},
		"DisableTOTP": func() error { return d.DisableTOTP(ctx, p, mfaPassword, "000000") },
	} {
		if err := change(); !errors.Is(err, latch.ErrReauthRequired) {
			t.Errorf("%s outside the window: %v, want ErrReauthRequired", name, err)
		}
	}
	fresh := d.principal(t, d.login(t, "ada@example.com", mfaPassword, latch.KindSession))
	if _, err := d.BeginTOTP(ctx, fresh, mfaPassword); err != nil {
		t.Fatalf("after a new login: %v", err)
	}
}

func TestMFA_disable(t *testing.T) {
	d := newDomain(t, withMFA(&memory.FactorStore{}))
	ctx := context.Background()
	a := enrol(t, d, "ada@example.com")
	res, err := d.CompleteMFA(ctx, latch.MFARequest{Token: d.challenge(t, a.email, latch.KindSession).Token, TOTP: a.code(t, d, 0)})
	if err != nil {
		t.Fatal(err)
	}
	p := d.principal(t, res)
	d.Clock.Advance(30 * time.Second)
	if err := d.DisableTOTP(ctx, p, "wrong password", a.code(t, d, 0)); !errors.Is(err, latch.ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	if err := d.DisableTOTP(ctx, p, mfaPassword, "000000"); !errors.Is(err, latch.ErrInvalidCredentials) {
		t.Fatalf("wrong code: %v", err)
	}
	if err := d.DisableTOTP(ctx, p, mfaPassword, a.code(t, d, 0)); err != nil {
		t.Fatal(err)
	}
	res = d.login(t, a.email, mfaPassword, latch.KindSession)
	if res.MFA != nil {
		t.Fatal("login still asks for a second factor after TOTP was removed")
	}
	if sec, _ := d.Security(ctx, p); sec.TOTP || sec.RecoveryCodesLeft != 0 {
		t.Fatalf("after removal: %+v", sec)
	}
}

// With a master key the store holds the secret sealed; logins work as before.
func TestMFA_sealedSecret(t *testing.T) {
	sealer, err := jose.NewSealer("0123456789abcdef0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	factors := &memory.FactorStore{}
	d := newDomain(t, withMFA(factors), withDeps(func(d *latch.Deps) { d.Sealer = sealer }))
	ctx := context.Background()
	a := enrol(t, d, "ada@example.com")
	u, _ := d.Users.UserByEmail(ctx, a.email)
	f, err := factors.TOTP(ctx, u.ID)
	if err != nil || !f.Sealed || strings.Contains(string(f.Secret), string(a.secret)) {
		t.Fatalf("stored factor: sealed %v, %v", f != nil && f.Sealed, err)
	}
	if _, err := d.CompleteMFA(ctx, latch.MFARequest{Token: d.challenge(t, a.email, latch.KindSession).Token, TOTP: a.code(t, d, 0)}); err != nil {
		t.Fatal(err)
	}
}

// Deleting an account deletes its factors.
func TestMFA_deleteUser(t *testing.T) {
	factors := &memory.FactorStore{}
	d := newDomain(t, withMFA(factors))
	ctx := context.Background()
	a := enrol(t, d, "ada@example.com")
	u, _ := d.Users.UserByEmail(ctx, a.email)
	if err := d.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := factors.TOTP(ctx, u.ID); !errors.Is(err, latch.ErrNotFound) {
		t.Fatalf("TOTP after account deletion: %v", err)
	}
}
