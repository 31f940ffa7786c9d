package latch_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

// The lockout is one rule for the login and for the current password of a
// password change: failures of either count for both.
func TestService_Lockout(t *testing.T) {
	ctx := context.Background()
	const addr, pw = "lock@example.com", "lockout-passphrase-1"
	cases := []struct {
		name string
		fail func(d *domain, p *latch.Principal) error
	}{
		{"login", func(d *domain, _ *latch.Principal) error {
			_, err := d.Login(ctx, latch.LoginRequest{Email: addr, Password: "wrong-passphrase", Mode: latch.KindSession})
			return err
		}},
		{"password change", func(d *domain, p *latch.Principal) error {
			_, err := d.ChangePassword(ctx, p, "wrong-passphrase", "another-passphrase-2")
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newDomain(t)
			d.signup(t, addr, pw)
			res := d.login(t, addr, pw, latch.KindSession)
			p, err := d.AuthenticateSession(ctx, res.Secret)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				err := c.fail(d, p)
				if errors.Is(err, latch.ErrRateLimited) {
					t.Fatalf("locked after %d failures, want 5", i)
				}
				if err == nil {
					t.Fatal("a wrong password was accepted")
				}
			}
			_, err = d.Login(ctx, latch.LoginRequest{Email: addr, Password: pw, Mode: latch.KindSession})
			var rl *latch.RateLimitError
			if !errors.As(err, &rl) || rl.RetryAfter <= 0 {
				t.Fatalf("the right password after 5 failures = %v, want a RateLimitError", err)
			}
			if _, err := d.ChangePassword(ctx, p, pw, "another-passphrase-2"); !errors.Is(err, latch.ErrRateLimited) {
				t.Fatalf("a password change on a locked account = %v, want ErrRateLimited", err)
			}
			d.Clock.Advance(15*time.Minute + time.Second)
			if _, err := d.Login(ctx, latch.LoginRequest{Email: addr, Password: pw, Mode: latch.KindSession}); err != nil {
				t.Fatalf("login after the window = %v, want it to succeed", err)
			}
		})
	}

	t.Run("unknown addresses lock too, telling nothing", func(t *testing.T) {
		d := newDomain(t)
		for range 5 {
			_, err := d.Login(ctx, latch.LoginRequest{Email: "nobody@example.com", Password: "whatever-pass-1", Mode: latch.KindSession})
			if !errors.Is(err, latch.ErrInvalidCredentials) {
				t.Fatalf("unknown address = %v, want ErrInvalidCredentials", err)
			}
		}
		_, err := d.Login(ctx, latch.LoginRequest{Email: "nobody@example.com", Password: "whatever-pass-1", Mode: latch.KindSession})
		if !errors.Is(err, latch.ErrRateLimited) {
			t.Fatalf("sixth attempt on an unknown address = %v, want ErrRateLimited", err)
		}
	})

	t.Run("a success clears the count", func(t *testing.T) {
		d := newDomain(t)
		d.signup(t, addr, pw)
		for range 4 {
			_, _ = d.Login(ctx, latch.LoginRequest{Email: addr, Password: "wrong-passphrase", Mode: latch.KindSession})
		}
		d.login(t, addr, pw, latch.KindSession)
		for range 4 {
			_, _ = d.Login(ctx, latch.LoginRequest{Email: addr, Password: "wrong-passphrase", Mode: latch.KindSession})
		}
		d.login(t, addr, pw, latch.KindSession) // 8 failures, never 5 in a row
	})
}
