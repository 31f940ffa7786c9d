package storetest

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

func newAccountToken(purpose latch.TokenPurpose) *latch.AccountToken {
	return &latch.AccountToken{Hash: newHash(), Purpose: purpose, UserID: newID(), Email: newID() + "@example.com",
		CreatedAt: t0, ExpiresAt: t0.Add(15 * time.Minute), Data: "token cookie"}
}

func mustCreateToken(t *testing.T, st latch.AccountTokenStore, tok *latch.AccountToken) {
	t.Helper()
	if err := st.CreateAccountToken(ctx(t), tok); err != nil {
		t.Fatalf("CreateAccountToken: %v", err)
	}
}

func testAccountTokens(t *testing.T, s Stores, open func(*testing.T) Stores) {
	st := s.AccountTokens

	t.Run("create, look up, consume once", func(t *testing.T) {
		tok := newAccountToken(latch.PurposePasswordReset)
		mustCreateToken(t, st, tok)
		got, err := st.AccountToken(ctx(t), tok.Hash, t0)
		wantErr(t, "AccountToken", err, nil)
		mustEqual(t, "AccountToken", got, tok)
		got, err = st.AccountToken(ctx(t), tok.Hash, t0)
		wantErr(t, "AccountToken again (a look-up spends nothing)", err, nil)
		mustEqual(t, "AccountToken again", got, tok)
		got, err = st.ConsumeAccountToken(ctx(t), tok.Hash, t0)
		wantErr(t, "ConsumeAccountToken", err, nil)
		mustEqual(t, "ConsumeAccountToken", got, tok)
		_, err = st.ConsumeAccountToken(ctx(t), tok.Hash, t0)
		wantErr(t, "ConsumeAccountToken of a spent token", err, latch.ErrNotFound)
		_, err = st.AccountToken(ctx(t), tok.Hash, t0)
		wantErr(t, "AccountToken of a spent token", err, latch.ErrNotFound)
	})

	t.Run("wrong answers are counted", func(t *testing.T) {
		tok := newAccountToken(latch.PurposeMFALogin)
		mustCreateToken(t, st, tok)
		for want := 1; want <= 3; want++ {
			n, err := st.FailAccountToken(ctx(t), tok.Hash, t0)
			wantErr(t, "FailAccountToken", err, nil)
			if n != want {
				t.Fatalf("FailAccountToken #%d = %d", want, n)
			}
		}
		got, err := st.AccountToken(ctx(t), tok.Hash, t0)
		wantErr(t, "AccountToken", err, nil)
		want := *tok
		want.Attempts = 3
		mustEqual(t, "AccountToken after three failures", got, &want)
		_, err = st.FailAccountToken(ctx(t), tok.Hash, tok.ExpiresAt)
		wantErr(t, "FailAccountToken at expiry", err, latch.ErrNotFound)
		_, err = st.FailAccountToken(ctx(t), newHash(), t0)
		wantErr(t, "FailAccountToken of an unknown token", err, latch.ErrNotFound)
	})

	t.Run("expiry", func(t *testing.T) {
		tok := newAccountToken(latch.PurposeVerifyEmail)
		mustCreateToken(t, st, tok)
		for _, c := range []struct {
			name string
			now  time.Time
			want error
		}{
			{"a microsecond before", tok.ExpiresAt.Add(-time.Microsecond), nil},
			{"at ExpiresAt", tok.ExpiresAt, latch.ErrNotFound},
			{"after", tok.ExpiresAt.Add(time.Hour), latch.ErrNotFound},
		} {
			_, err := st.AccountToken(ctx(t), tok.Hash, c.now)
			wantErr(t, "AccountToken "+c.name, err, c.want)
		}
		_, err := st.ConsumeAccountToken(ctx(t), tok.Hash, tok.ExpiresAt)
		wantErr(t, "ConsumeAccountToken at ExpiresAt", err, latch.ErrNotFound)
		got, err := st.ConsumeAccountToken(ctx(t), tok.Hash, tok.ExpiresAt.Add(-time.Microsecond))
		wantErr(t, "ConsumeAccountToken before ExpiresAt (the expired attempt spent nothing)", err, nil)
		mustEqual(t, "ConsumeAccountToken", got, tok)
	})

	t.Run("unknown", func(t *testing.T) {
		_, err := st.AccountToken(ctx(t), newHash(), t0)
		wantErr(t, "AccountToken unknown", err, latch.ErrNotFound)
		_, err = st.ConsumeAccountToken(ctx(t), newHash(), t0)
		wantErr(t, "ConsumeAccountToken unknown", err, latch.ErrNotFound)
	})

	t.Run("DeleteAccountTokens by user and purpose", func(t *testing.T) {
		a := newAccountToken(latch.PurposePasswordReset)
		b := clone(a)
		b.Hash = newHash()
		verify := clone(a)
		verify.Hash, verify.Purpose = newHash(), latch.PurposeVerifyEmail
		other := newAccountToken(latch.PurposePasswordReset)
		for _, tok := range []*latch.AccountToken{a, b, verify, other} {
			mustCreateToken(t, st, tok)
		}
		wantErr(t, "DeleteAccountTokens", st.DeleteAccountTokens(ctx(t), a.UserID, latch.PurposePasswordReset), nil)
		for _, c := range []struct {
			name string
			tok  *latch.AccountToken
			want error
		}{
			{"the user's reset token", a, latch.ErrNotFound},
			{"the user's other reset token", b, latch.ErrNotFound},
			{"the user's token of another purpose", verify, nil},
			{"another user's reset token", other, nil},
		} {
			_, err := st.AccountToken(ctx(t), c.tok.Hash, t0)
			wantErr(t, c.name, err, c.want)
		}
		wantErr(t, "DeleteAccountTokens of nothing", st.DeleteAccountTokens(ctx(t), newID(), latch.PurposePasswordReset), nil)
	})

	t.Run("no aliasing", func(t *testing.T) {
		tok := newAccountToken(latch.PurposeChangeEmail)
		want := clone(tok)
		want.Hash = bytes.Clone(tok.Hash)
		mustCreateToken(t, st, tok)
		tok.Hash[0] ^= 0xff // the caller reuses its buffer
		got, err := st.AccountToken(ctx(t), want.Hash, t0)
		wantErr(t, "AccountToken after the caller changed its buffer", err, nil)
		mustEqual(t, "AccountToken", got, want)
	})

	t.Run("concurrent consumes: exactly one wins", func(t *testing.T) {
		tok := newAccountToken(latch.PurposePasswordReset)
		mustCreateToken(t, st, tok)
		const n = 16
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { _, errs[i] = st.ConsumeAccountToken(ctx(t), tok.Hash, t0) })
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !isErr(err, latch.ErrNotFound):
				t.Fatalf("ConsumeAccountToken: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d of %d concurrent consumes succeeded, want 1", won, n)
		}
	})

	t.Run("DeleteExpiredAccountTokens", func(t *testing.T) {
		st := open(t).AccountTokens // counts need a store of its own
		live := newAccountToken(latch.PurposePasswordReset)
		dead := newAccountToken(latch.PurposePasswordReset)
		dead.ExpiresAt = t0.Add(time.Minute)
		mustCreateToken(t, st, live)
		mustCreateToken(t, st, dead)
		n, err := st.DeleteExpiredAccountTokens(ctx(t), dead.ExpiresAt)
		wantErr(t, "DeleteExpiredAccountTokens", err, nil)
		if n != 1 {
			t.Fatalf("DeleteExpiredAccountTokens deleted %d, want 1", n)
		}
		_, err = st.AccountToken(ctx(t), live.Hash, t0)
		wantErr(t, "AccountToken of the live token", err, nil)
	})
}
