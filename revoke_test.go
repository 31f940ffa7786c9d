package latch_test

import (
	"context"
	"errors"
	"testing"

	"github.com/latch-dev/latch"
)

// Each kind of revocation refuses what it names and nothing else.
func TestService_RevocationKinds(t *testing.T) {
	ctx := context.Background()
	const addr, pw = "revoke@example.com", "revoke-passphrase-1"
	for _, cache := range []bool{false, true} {
		name := "store"
		var opts []domainOption
		if cache {
			name, opts = "session cache", []domainOption{withCache()}
		}
		t.Run(name, func(t *testing.T) {
			t.Run("jti: one access token", func(t *testing.T) {
				d := newDomain(t, opts...)
				d.signup(t, addr, pw)
				res := d.login(t, addr, pw, latch.KindToken)
				r1, err := d.Refresh(ctx, res.Secret)
				if err != nil {
					t.Fatal(err)
				}
				if err := d.RevokeToken(ctx, res.Access.Token); err != nil {
					t.Fatal(err)
				}
				mustRefuse(t, d, res.Access.Token)
				mustAccept(t, d, r1.Access.Token) // same family, another jti
			})
			t.Run("sid: a session and every token bound to it", func(t *testing.T) {
				d := newDomain(t, opts...)
				d.signup(t, addr, pw)
				a := d.login(t, addr, pw, latch.KindSession)
				b := d.login(t, addr, pw, latch.KindSession)
				pa, err := d.AuthenticateSession(ctx, a.Secret)
				if err != nil {
					t.Fatal(err)
				}
				at, err := d.Exchange(ctx, pa)
				if err != nil {
					t.Fatal(err)
				}
				if err := d.Logout(ctx, pa); err != nil {
					t.Fatal(err)
				}
				if _, err := d.AuthenticateSession(ctx, a.Secret); !errors.Is(err, latch.ErrUnauthenticated) {
					t.Fatalf("the logged-out cookie = %v, want ErrUnauthenticated", err)
				}
				mustRefuse(t, d, at.Token)
				if _, err := d.AuthenticateSession(ctx, b.Secret); err != nil {
					t.Fatalf("another session of the user = %v, want it alive", err)
				}
			})
			t.Run("sub: everything the user holds", func(t *testing.T) {
				d := newDomain(t, opts...)
				u := d.signup(t, addr, pw)
				other := d.signup(t, "other@example.com", pw)
				a := d.login(t, addr, pw, latch.KindSession)
				tok := d.login(t, addr, pw, latch.KindToken)
				keep := d.login(t, other.Email, pw, latch.KindToken)
				if err := d.LogoutAll(ctx, u.ID); err != nil {
					t.Fatal(err)
				}
				if _, err := d.AuthenticateSession(ctx, a.Secret); !errors.Is(err, latch.ErrUnauthenticated) {
					t.Fatalf("a cookie after logout-all = %v, want ErrUnauthenticated", err)
				}
				mustRefuse(t, d, tok.Access.Token)
				if _, err := d.Refresh(ctx, tok.Secret); !errors.Is(err, latch.ErrInvalidRefreshToken) {
					t.Fatalf("a refresh token after logout-all = %v, want ErrInvalidRefreshToken", err)
				}
				mustAccept(t, d, keep.Access.Token)
				d.Clock.Advance(1e9) // a second later: a new login is not caught by the sub entry
				fresh := d.login(t, addr, pw, latch.KindToken)
				mustAccept(t, d, fresh.Access.Token)
			})
		})
	}
}

func mustRefuse(t *testing.T, d *domain, token string) {
	t.Helper()
	if _, err := d.AuthenticateToken(context.Background(), token); !errors.Is(err, latch.ErrUnauthenticated) {
		t.Fatalf("a revoked access token = %v, want ErrUnauthenticated", err)
	}
}

func mustAccept(t *testing.T, d *domain, token string) {
	t.Helper()
	if _, err := d.AuthenticateToken(context.Background(), token); err != nil {
		t.Fatalf("a live access token = %v, want accepted", err)
	}
}

// A password change revokes the current session's old secret in the log
// (RevokeSecret), so that a copy of the session under it elsewhere is
// refused; the entry never reaches followers of the revocation stream.
func TestService_ChangePassword_RevokesTheOldSecret(t *testing.T) {
	ctx := context.Background()
	const addr, pw = "secret@example.com", "secret-passphrase-1"
	d := newDomain(t)
	d.signup(t, addr, pw)
	res := d.login(t, addr, pw, latch.KindSession)
	p, err := d.AuthenticateSession(ctx, res.Secret)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := d.ChangePassword(ctx, p, pw, "secret-passphrase-2")
	if err != nil {
		t.Fatal(err)
	}
	logged, err := d.Revs.RevocationsSince(ctx, 0, d.Clock.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var secret *latch.Revocation
	for _, r := range logged {
		if r.Kind == latch.RevokeSecret {
			secret = r
		}
	}
	if secret == nil || !secret.Expires.Equal(p.Session.ExpiresAt) {
		t.Fatalf("log after a password change: %+v; want a secret entry until the session's absolute deadline", logged)
	}
	var list latch.RevocationList
	list.Add(secret)
	if !list.RevokedSession(latch.HashSecret(res.Secret), p.Session) {
		t.Fatal("the list does not refuse the replaced secret")
	}
	if list.RevokedSession(latch.HashSecret(pc.Secret), p.Session) {
		t.Fatal("the list refuses the new secret")
	}
	sub, err := d.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Cancel()
	for _, r := range sub.Replay {
		if r.Kind == latch.RevokeSecret {
			t.Fatal("a secret entry was replayed to a stream follower")
		}
	}
	if _, err := d.AuthenticateSession(ctx, pc.Secret); err != nil {
		t.Fatalf("the new secret = %v", err)
	}
}
