package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

// newFactorUser creates an account for factors to belong to.
func newFactorUser(t *testing.T, s Stores) *latch.User {
	t.Helper()
	u := newUser()
	mustCreateUser(t, s.Users, u)
	return u
}

func newPasskey(userID string, created time.Time) *latch.Passkey {
	return &latch.Passkey{CredentialID: newHash(), UserID: userID, Name: "key " + newID(),
		Data: []byte(`{"publicKey":"` + newID() + `"}`), SignCount: 7, CreatedAt: created}
}

func testFactors(t *testing.T, s Stores, open func(*testing.T) Stores) {
	st := s.Factors

	t.Run("TOTP put, confirm, replace, delete", func(t *testing.T) {
		u := newFactorUser(t, s)
		_, err := st.TOTP(ctx(t), u.ID)
		wantErr(t, "TOTP of an account without one", err, latch.ErrNotFound)
		f := &latch.TOTPFactor{UserID: u.ID, Secret: newHash()[:20], Sealed: true, CreatedAt: t0}
		wantErr(t, "PutTOTP", st.PutTOTP(ctx(t), f), nil)
		got, err := st.TOTP(ctx(t), u.ID)
		wantErr(t, "TOTP", err, nil)
		mustEqual(t, "TOTP", got, f)
		wantErr(t, "UseTOTPStep before confirmation", st.UseTOTPStep(ctx(t), u.ID, 100), latch.ErrNotFound)

		c := *f
		c.Confirmed, c.LastStep = true, 50
		wantErr(t, "PutTOTP confirmed", st.PutTOTP(ctx(t), &c), nil)
		got, err = st.TOTP(ctx(t), u.ID)
		wantErr(t, "TOTP", err, nil)
		mustEqual(t, "TOTP after confirmation", got, &c)

		r := &latch.TOTPFactor{UserID: u.ID, Secret: newHash()[:20], CreatedAt: t0.Add(time.Minute)}
		wantErr(t, "PutTOTP replacing", st.PutTOTP(ctx(t), r), nil)
		got, err = st.TOTP(ctx(t), u.ID)
		wantErr(t, "TOTP", err, nil)
		mustEqual(t, "TOTP after replacement", got, r)

		wantErr(t, "DeleteTOTP", st.DeleteTOTP(ctx(t), u.ID), nil)
		wantErr(t, "DeleteTOTP again", st.DeleteTOTP(ctx(t), u.ID), latch.ErrNotFound)
		_, err = st.TOTP(ctx(t), u.ID)
		wantErr(t, "TOTP after delete", err, latch.ErrNotFound)
	})

	t.Run("UseTOTPStep moves forward only, once per step", func(t *testing.T) {
		u := newFactorUser(t, s)
		f := &latch.TOTPFactor{UserID: u.ID, Secret: newHash()[:20], Confirmed: true, LastStep: 10, CreatedAt: t0}
		wantErr(t, "PutTOTP", st.PutTOTP(ctx(t), f), nil)
		for _, c := range []struct {
			step int64
			want error
		}{{9, latch.ErrNotFound}, {10, latch.ErrNotFound}, {12, nil}, {11, latch.ErrNotFound}, {12, latch.ErrNotFound}, {13, nil}} {
			wantErr(t, "UseTOTPStep", st.UseTOTPStep(ctx(t), u.ID, c.step), c.want)
		}
		got, err := st.TOTP(ctx(t), u.ID)
		wantErr(t, "TOTP", err, nil)
		if got.LastStep != 13 {
			t.Fatalf("LastStep = %d, want 13", got.LastStep)
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if st.UseTOTPStep(ctx(t), u.ID, 14) == nil {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d of 8 concurrent uses of one step succeeded, want 1", wins.Load())
		}
		wantErr(t, "UseTOTPStep of an account without TOTP", st.UseTOTPStep(ctx(t), newID(), 99), latch.ErrNotFound)
	})

	t.Run("recovery codes", func(t *testing.T) {
		u := newFactorUser(t, s)
		left := func(want int) {
			t.Helper()
			n, err := st.RecoveryCodesLeft(ctx(t), u.ID)
			wantErr(t, "RecoveryCodesLeft", err, nil)
			if n != want {
				t.Fatalf("RecoveryCodesLeft = %d, want %d", n, want)
			}
		}
		left(0)
		old := [][]byte{newHash(), newHash(), newHash()}
		wantErr(t, "ReplaceRecoveryCodes", st.ReplaceRecoveryCodes(ctx(t), u.ID, old), nil)
		left(3)
		wantErr(t, "UseRecoveryCode", st.UseRecoveryCode(ctx(t), u.ID, old[1]), nil)
		wantErr(t, "UseRecoveryCode again", st.UseRecoveryCode(ctx(t), u.ID, old[1]), latch.ErrNotFound)
		wantErr(t, "UseRecoveryCode of another account", st.UseRecoveryCode(ctx(t), newID(), old[0]), latch.ErrNotFound)
		left(2)
		fresh := [][]byte{newHash(), newHash()}
		wantErr(t, "ReplaceRecoveryCodes", st.ReplaceRecoveryCodes(ctx(t), u.ID, fresh), nil)
		wantErr(t, "UseRecoveryCode of the old set", st.UseRecoveryCode(ctx(t), u.ID, old[0]), latch.ErrNotFound)
		left(2)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if st.UseRecoveryCode(ctx(t), u.ID, fresh[0]) == nil {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d of 8 concurrent uses of one code succeeded, want 1", wins.Load())
		}
		wantErr(t, "ReplaceRecoveryCodes with none", st.ReplaceRecoveryCodes(ctx(t), u.ID, nil), nil)
		left(0)
	})

	t.Run("passkeys", func(t *testing.T) {
		u, other := newFactorUser(t, s), newFactorUser(t, s)
		a, b := newPasskey(u.ID, t0), newPasskey(u.ID, t0.Add(time.Second))
		for _, p := range []*latch.Passkey{b, a} {
			wantErr(t, "CreatePasskey", st.CreatePasskey(ctx(t), p), nil)
		}
		dup := newPasskey(other.ID, t0)
		dup.CredentialID = a.CredentialID
		wantErr(t, "CreatePasskey with a taken credential ID", st.CreatePasskey(ctx(t), dup), latch.ErrCredentialTaken)

		list, err := st.Passkeys(ctx(t), u.ID)
		wantErr(t, "Passkeys", err, nil)
		if len(list) != 2 {
			t.Fatalf("Passkeys: %d, want 2", len(list))
		}
		mustEqual(t, "Passkeys[0] (oldest first)", list[0], a)
		mustEqual(t, "Passkeys[1]", list[1], b)
		if l, _ := st.Passkeys(ctx(t), other.ID); len(l) != 0 {
			t.Fatalf("Passkeys of another account: %d", len(l))
		}

		got, err := st.PasskeyByCredentialID(ctx(t), b.CredentialID)
		wantErr(t, "PasskeyByCredentialID", err, nil)
		mustEqual(t, "PasskeyByCredentialID", got, b)
		_, err = st.PasskeyByCredentialID(ctx(t), newHash())
		wantErr(t, "PasskeyByCredentialID of an unknown ID", err, latch.ErrNotFound)

		wantErr(t, "RenamePasskey", st.RenamePasskey(ctx(t), u.ID, b.CredentialID, "laptop"), nil)
		got, _ = st.PasskeyByCredentialID(ctx(t), b.CredentialID)
		renamed := *b
		renamed.Name = "laptop"
		mustEqual(t, "after RenamePasskey (the name and nothing else)", got, &renamed)
		wantErr(t, "RenamePasskey of another account's", st.RenamePasskey(ctx(t), other.ID, b.CredentialID, "mine"), latch.ErrNotFound)
		wantErr(t, "RenamePasskey of an unknown ID", st.RenamePasskey(ctx(t), u.ID, newHash(), "x"), latch.ErrNotFound)

		for i, c := range []struct {
			name  string
			count uint32
			want  error
		}{
			{"UsePasskey with the counter ahead", 9, nil},
			{"UsePasskey with the counter standing still", 9, latch.ErrInvalidPasskey},
			{"UsePasskey with the counter gone back", 8, latch.ErrInvalidPasskey},
			{"UsePasskey with 0 after a counter", 0, latch.ErrInvalidPasskey},
			{"UsePasskey further ahead", 12, nil},
		} {
			before, _ := st.PasskeyByCredentialID(ctx(t), b.CredentialID)
			use := *before
			use.Data, use.SignCount, use.LastUsedAt = []byte(`{"v":"`+newID()+`"}`), c.count, t0.Add(time.Duration(i+1)*time.Hour)
			wantErr(t, c.name, st.UsePasskey(ctx(t), &use), c.want)
			after, _ := st.PasskeyByCredentialID(ctx(t), b.CredentialID)
			if c.want == nil {
				mustEqual(t, "after "+c.name, after, &use)
			} else {
				mustEqual(t, "after "+c.name+" (nothing written)", after, before)
			}
		}
		stolen, _ := st.PasskeyByCredentialID(ctx(t), b.CredentialID)
		stolen.UserID, stolen.SignCount = other.ID, 100
		wantErr(t, "UsePasskey of another account's", st.UsePasskey(ctx(t), stolen), latch.ErrNotFound)
		unknown := newPasskey(u.ID, t0)
		wantErr(t, "UsePasskey of an unknown ID", st.UsePasskey(ctx(t), unknown), latch.ErrNotFound)

		// An authenticator without a counter reports 0 every time: each
		// use is recorded.
		zero := newPasskey(u.ID, t0)
		zero.SignCount = 0
		wantErr(t, "CreatePasskey (no counter)", st.CreatePasskey(ctx(t), zero), nil)
		for i := range 2 {
			z := *zero
			z.LastUsedAt = t0.Add(time.Duration(i+1) * time.Minute)
			wantErr(t, "UsePasskey with 0 and 0", st.UsePasskey(ctx(t), &z), nil)
		}
		wantErr(t, "DeletePasskey (no counter)", st.DeletePasskey(ctx(t), u.ID, zero.CredentialID), nil)

		wantErr(t, "DeletePasskey by another account", st.DeletePasskey(ctx(t), other.ID, a.CredentialID), latch.ErrNotFound)
		wantErr(t, "DeletePasskey", st.DeletePasskey(ctx(t), u.ID, a.CredentialID), nil)
		wantErr(t, "DeletePasskey again", st.DeletePasskey(ctx(t), u.ID, a.CredentialID), latch.ErrNotFound)
	})

	t.Run("UsePasskey races with one counter", func(t *testing.T) {
		u := newFactorUser(t, s)
		p := newPasskey(u.ID, t0)
		wantErr(t, "CreatePasskey", st.CreatePasskey(ctx(t), p), nil)
		// Eight assertions read the stored counter (7) and carry 8: a key
		// and its copies. One is recorded; the others are refused.
		var wg sync.WaitGroup
		var wins, refused atomic.Int32
		for i := range 8 {
			wg.Go(func() {
				use := *p
				use.SignCount, use.LastUsedAt = 8, t0.Add(time.Duration(i)*time.Second)
				switch err := st.UsePasskey(ctx(t), &use); {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, latch.ErrInvalidPasskey):
					refused.Add(1)
				default:
					t.Errorf("UsePasskey: %v", err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || refused.Load() != 7 {
			t.Fatalf("%d of 8 racing uses with one counter recorded and %d refused, want 1 and 7", wins.Load(), refused.Load())
		}
		if got, _ := st.PasskeyByCredentialID(ctx(t), p.CredentialID); got.SignCount != 8 {
			t.Fatalf("stored counter %d, want 8", got.SignCount)
		}
	})

	t.Run("DeleteFactors", func(t *testing.T) {
		u, keep := newFactorUser(t, s), newFactorUser(t, s)
		for _, id := range []string{u.ID, keep.ID} {
			wantErr(t, "PutTOTP", st.PutTOTP(ctx(t), &latch.TOTPFactor{UserID: id, Secret: newHash()[:20], Confirmed: true, CreatedAt: t0}), nil)
			wantErr(t, "ReplaceRecoveryCodes", st.ReplaceRecoveryCodes(ctx(t), id, [][]byte{newHash()}), nil)
			wantErr(t, "CreatePasskey", st.CreatePasskey(ctx(t), newPasskey(id, t0)), nil)
		}
		wantErr(t, "DeleteFactors", st.DeleteFactors(ctx(t), u.ID), nil)
		wantErr(t, "DeleteFactors of an account without any", st.DeleteFactors(ctx(t), newID()), nil)
		_, err := st.TOTP(ctx(t), u.ID)
		wantErr(t, "TOTP after DeleteFactors", err, latch.ErrNotFound)
		if n, _ := st.RecoveryCodesLeft(ctx(t), u.ID); n != 0 {
			t.Fatalf("recovery codes left after DeleteFactors: %d", n)
		}
		if l, _ := st.Passkeys(ctx(t), u.ID); len(l) != 0 {
			t.Fatalf("passkeys left after DeleteFactors: %d", len(l))
		}
		_, err = st.TOTP(ctx(t), keep.ID)
		wantErr(t, "another account's TOTP", err, nil)
		if l, _ := st.Passkeys(ctx(t), keep.ID); len(l) != 1 {
			t.Fatalf("another account's passkeys: %d, want 1", len(l))
		}
	})
}
