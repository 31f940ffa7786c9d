package latch_test

import (
	"context"
	"errors"
	"testing"

	"github.com/latch-dev/latch"
)

// DeleteUser revokes what the account holds, then removes it; others keep theirs.
func TestService_DeleteUser(t *testing.T) {
	ctx := context.Background()
	const pw = "delete-passphrase-1"
	for _, cache := range []bool{false, true} {
		var opts []domainOption
		name := "store"
		if cache {
			name, opts = "session cache", []domainOption{withCache()}
		}
		t.Run(name, func(t *testing.T) {
			d := newDomain(t, opts...)
			u := d.signup(t, "gone@example.com", pw)
			other := d.signup(t, "stays@example.com", pw)
			sess := d.login(t, u.Email, pw, latch.KindSession)
			tok := d.login(t, u.Email, pw, latch.KindToken)
			keep := d.login(t, other.Email, pw, latch.KindToken)

			if err := d.DeleteUser(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := d.AuthenticateSession(ctx, sess.Secret); !errors.Is(err, latch.ErrUnauthenticated) {
				t.Errorf("the deleted user's cookie = %v, want ErrUnauthenticated", err)
			}
			mustRefuse(t, d, tok.Access.Token)
			if _, err := d.Refresh(ctx, tok.Secret); !errors.Is(err, latch.ErrInvalidRefreshToken) {
				t.Errorf("the deleted user's refresh token = %v, want ErrInvalidRefreshToken", err)
			}
			if _, err := d.Users.UserByID(ctx, u.ID); !errors.Is(err, latch.ErrNotFound) {
				t.Errorf("UserByID after DeleteUser = %v, want ErrNotFound", err)
			}
			if _, err := d.Login(ctx, latch.LoginRequest{Email: u.Email, Password: pw, Mode: latch.KindSession}); !errors.Is(err, latch.ErrInvalidCredentials) {
				t.Errorf("login of the deleted user = %v, want ErrInvalidCredentials", err)
			}
			mustAccept(t, d, keep.Access.Token)
			if err := d.DeleteUser(ctx, u.ID); !errors.Is(err, latch.ErrNotFound) {
				t.Errorf("DeleteUser again = %v, want ErrNotFound", err)
			}
			// The address can be used again, by a new account.
			again := d.signup(t, u.Email, pw)
			if again.ID == u.ID {
				t.Error("a new account got the deleted account's ID")
			}
		})
	}
}
