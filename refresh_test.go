package latch_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

func TestService_Refresh(t *testing.T) {
	ctx := context.Background()
	const addr, pw = "refresh@example.com", "refresh-passphrase-1"
	start := func(t *testing.T, grace time.Duration) (*domain, *latch.LoginResult) {
		d := newDomain(t, withConfig(func(c *latch.Config) { c.RefreshReuseGrace = grace; c.RefreshTTL = time.Hour }))
		d.signup(t, addr, pw)
		return d, d.login(t, addr, pw, latch.KindToken)
	}

	t.Run("rotates on every use", func(t *testing.T) {
		d, res := start(t, 0)
		r1, err := d.Refresh(ctx, res.Secret)
		if err != nil {
			t.Fatal(err)
		}
		if r1.Refresh == res.Secret || r1.Family.ID != res.Session.ID {
			t.Fatalf("refresh gave %q in family %s, want a new token in %s", r1.Refresh, r1.Family.ID, res.Session.ID)
		}
		if _, err := d.Refresh(ctx, r1.Refresh); err != nil {
			t.Fatalf("the successor does not refresh: %v", err)
		}
	})

	t.Run("reuse outside the grace revokes the family and its access tokens", func(t *testing.T) {
		d, res := start(t, 0)
		r1, err := d.Refresh(ctx, res.Secret)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Refresh(ctx, res.Secret); !errors.Is(err, latch.ErrRefreshReused) {
			t.Fatalf("replay = %v, want ErrRefreshReused", err)
		}
		if _, err := d.Refresh(ctx, r1.Refresh); !errors.Is(err, latch.ErrInvalidRefreshToken) {
			t.Fatalf("the family's current token after reuse = %v, want ErrInvalidRefreshToken", err)
		}
		for _, tok := range []string{res.Access.Token, r1.Access.Token} {
			if _, err := d.AuthenticateToken(ctx, tok); !errors.Is(err, latch.ErrUnauthenticated) {
				t.Fatalf("an access token of the revoked family = %v, want ErrUnauthenticated", err)
			}
		}
	})

	t.Run("the grace accepts the predecessor once, on either side of the rotation", func(t *testing.T) {
		for _, skew := range []time.Duration{time.Second, -time.Second} {
			d, res := start(t, 5*time.Second)
			if _, err := d.Refresh(ctx, res.Secret); err != nil {
				t.Fatal(err)
			}
			d.Clock.Advance(skew + 2*time.Second) // within 5 s of the rotation
			if _, err := d.Refresh(ctx, res.Secret); err != nil {
				t.Fatalf("skew %v: the predecessor within the grace = %v, want accepted", skew, err)
			}
			if _, err := d.Refresh(ctx, res.Secret); !errors.Is(err, latch.ErrRefreshReused) {
				t.Fatalf("skew %v: a second use of the grace = %v, want ErrRefreshReused", skew, err)
			}
		}
	})

	t.Run("the grace ends", func(t *testing.T) {
		d, res := start(t, 5*time.Second)
		if _, err := d.Refresh(ctx, res.Secret); err != nil {
			t.Fatal(err)
		}
		d.Clock.Advance(5 * time.Second)
		if _, err := d.Refresh(ctx, res.Secret); !errors.Is(err, latch.ErrRefreshReused) {
			t.Fatalf("the predecessor at the end of the grace = %v, want ErrRefreshReused", err)
		}
	})

	t.Run("an idle family dies at RefreshTTL", func(t *testing.T) {
		d, res := start(t, 0)
		d.Clock.Advance(time.Hour)
		if _, err := d.Refresh(ctx, res.Secret); !errors.Is(err, latch.ErrInvalidRefreshToken) {
			t.Fatalf("refresh after the idle lifetime = %v, want ErrInvalidRefreshToken", err)
		}
	})

	t.Run("of concurrent refreshes of one token exactly one wins", func(t *testing.T) {
		d, res := start(t, 0)
		const n = 16
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = d.Refresh(ctx, res.Secret)
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case errors.Is(err, latch.ErrRefreshReused), errors.Is(err, latch.ErrInvalidRefreshToken):
			default:
				t.Fatalf("unexpected error %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d of %d concurrent refreshes won, want exactly 1", won, n)
		}
	})
}
