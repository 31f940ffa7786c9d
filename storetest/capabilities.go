package storetest

import (
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

// testUseSession checks latch.SessionUser: UseSession finds a session by
// its current token hash as SessionByTokenHash does, and slides a live
// cookie session's deadlines, never backwards.
func testUseSession(t *testing.T, shared Stores, _ func(*testing.T) Stores) {
	st := shared.Sessions
	su := st.(latch.SessionUser)

	// use calls UseSession and wants it to succeed.
	use := func(t *testing.T, hash []byte, now time.Time) *latch.Session {
		t.Helper()
		got, err := su.UseSession(ctx(t), hash, now, idleTimeout)
		wantErr(t, "UseSession", err, nil)
		return got
	}
	// wantStored fails t unless both lookups return want.
	wantStored := func(t *testing.T, want *latch.Session) {
		t.Helper()
		mustEqual(t, "SessionByID after UseSession", mustSessionByID(t, st, want.ID), want)
		got, err := st.SessionByTokenHash(ctx(t), want.TokenHash)
		wantErr(t, "SessionByTokenHash after UseSession", err, nil)
		mustEqual(t, "SessionByTokenHash after UseSession", got, want)
	}

	t.Run("slides a live cookie session", func(t *testing.T) {
		for _, c := range []struct {
			name      string
			idle, abs time.Duration // the session's deadlines, after t0
			now       time.Duration // after t0
			want      time.Duration // the idle deadline after the use, after t0
		}{
			{"by the idle timeout", idleTimeout, absoluteTimeout, 10 * time.Minute, 10*time.Minute + idleTimeout},
			{"in its last instant", idleTimeout, absoluteTimeout, idleTimeout - time.Microsecond, 2*idleTimeout - time.Microsecond},
			{"capped at ExpiresAt", absoluteTimeout - 5*time.Minute, absoluteTimeout, absoluteTimeout - 10*time.Minute, absoluteTimeout},
		} {
			t.Run(c.name, func(t *testing.T) {
				s := newSession(newID(), t0)
				s.IdleExpiresAt, s.ExpiresAt = t0.Add(c.idle), t0.Add(c.abs)
				mustCreateSession(t, st, s)
				want := clone(s)
				want.LastSeenAt, want.IdleExpiresAt = t0.Add(c.now), t0.Add(c.want)
				mustEqual(t, "UseSession", use(t, s.TokenHash, t0.Add(c.now)), want)
				wantStored(t, want)
			})
		}
	})

	t.Run("slides again on a later use", func(t *testing.T) {
		s := newSession(newID(), t0)
		mustCreateSession(t, st, s)
		want := clone(s)
		for _, d := range []time.Duration{time.Minute, 10 * time.Minute, 25 * time.Minute} {
			want.LastSeenAt, want.IdleExpiresAt = t0.Add(d), t0.Add(d+idleTimeout)
			mustEqual(t, "UseSession", use(t, s.TokenHash, t0.Add(d)), want)
		}
		wantStored(t, want)
	})

	t.Run("never moves the idle deadline backwards", func(t *testing.T) {
		for _, c := range []struct {
			name string
			uses []time.Duration // after t0, in order
			idle time.Duration   // the session's idle deadline at creation, after t0
			want time.Duration
		}{
			{"a deadline beyond now+idle", []time.Duration{10 * time.Minute}, 2 * time.Hour, 2 * time.Hour},
			// Instances' clocks differ: a use reported late must not cut
			// the deadline a later one set.
			{"an earlier use after a later one", []time.Duration{20 * time.Minute, 5 * time.Minute}, idleTimeout, 20*time.Minute + idleTimeout},
		} {
			t.Run(c.name, func(t *testing.T) {
				s := newSession(newID(), t0)
				s.IdleExpiresAt = t0.Add(c.idle)
				mustCreateSession(t, st, s)
				var got *latch.Session
				for _, d := range c.uses {
					got = use(t, s.TokenHash, t0.Add(d))
				}
				if !got.IdleExpiresAt.Equal(t0.Add(c.want)) {
					t.Errorf("IdleExpiresAt = %v, want %v", got.IdleExpiresAt, t0.Add(c.want))
				}
				if stored := mustSessionByID(t, st, s.ID); !stored.IdleExpiresAt.Equal(t0.Add(c.want)) {
					t.Errorf("stored IdleExpiresAt = %v, want %v", stored.IdleExpiresAt, t0.Add(c.want))
				}
				// The last use is one of the uses, or the creation where the
				// store skipped a write that moved nothing.
				ok := got.LastSeenAt.Equal(s.LastSeenAt)
				for _, d := range c.uses {
					ok = ok || got.LastSeenAt.Equal(t0.Add(d))
				}
				if !ok {
					t.Errorf("LastSeenAt = %v, want the creation's or a use's", got.LastSeenAt)
				}
			})
		}
	})

	t.Run("returns dead sessions unchanged", func(t *testing.T) {
		for _, c := range []struct {
			name      string
			idle, abs time.Duration // the session's deadlines, after t0
			now       time.Duration // after t0
		}{
			{"idle deadline is now", idleTimeout, absoluteTimeout, idleTimeout},
			{"idle deadline passed", idleTimeout, absoluteTimeout, time.Hour},
			{"absolute deadline is now", absoluteTimeout + time.Hour, absoluteTimeout, absoluteTimeout},
			{"absolute deadline passed", absoluteTimeout + time.Hour, absoluteTimeout, absoluteTimeout + time.Minute},
		} {
			t.Run(c.name, func(t *testing.T) {
				s := newSession(newID(), t0)
				s.IdleExpiresAt, s.ExpiresAt = t0.Add(c.idle), t0.Add(c.abs)
				mustCreateSession(t, st, s)
				mustEqual(t, "UseSession of a dead session", use(t, s.TokenHash, t0.Add(c.now)), s)
				wantStored(t, s)
			})
		}
	})

	t.Run("returns families unchanged", func(t *testing.T) {
		// A family slides on refresh only: its deadline is the refresh
		// TTL's, which the session idle timeout must not cut.
		f := newFamily(newID(), t0)
		f.PrevHash, f.RotatedAt = newHash(), t0
		mustCreateSession(t, st, f)
		// Used when now+idle lies past the family's idle deadline.
		mustEqual(t, "UseSession of a family", use(t, f.TokenHash, f.IdleExpiresAt.Add(-time.Minute)), f)
		wantStored(t, f)
	})

	t.Run("unknown hashes", func(t *testing.T) {
		f, tokens := chain(t, st, 1)
		for _, c := range []struct {
			name string
			hash []byte
		}{
			{"random", newHash()},
			{"nil", nil},
			{"a spent refresh token", tokens[0]},
		} {
			t.Run(c.name, func(t *testing.T) {
				got, err := su.UseSession(ctx(t), c.hash, rotAt, idleTimeout)
				wantErr(t, "UseSession", err, latch.ErrNotFound)
				if got != nil {
					t.Errorf("UseSession returned %+v with ErrNotFound, want nil", got)
				}
			})
		}
		wantUnchanged(t, st, f)
	})

	t.Run("forgets replaced and deleted secrets", func(t *testing.T) {
		// A store that caches what it was used with must drop it.
		s := newSession(newID(), t0)
		mustCreateSession(t, st, s)
		use(t, s.TokenHash, t0.Add(time.Minute))
		newHash, csrf := newHash(), newHash()
		wantErr(t, "ReplaceSessionToken", st.ReplaceSessionToken(ctx(t), s.ID, newHash, csrf), nil)
		_, err := su.UseSession(ctx(t), s.TokenHash, t0.Add(2*time.Minute), idleTimeout)
		wantErr(t, "UseSession of the replaced secret", err, latch.ErrNotFound)
		if got := use(t, newHash, t0.Add(3*time.Minute)); got.ID != s.ID {
			t.Fatalf("UseSession of the new secret found %s, want %s", got.ID, s.ID)
		}
		wantErr(t, "DeleteSession", st.DeleteSession(ctx(t), s.ID), nil)
		_, err = su.UseSession(ctx(t), newHash, t0.Add(4*time.Minute), idleTimeout)
		wantErr(t, "UseSession of a deleted session", err, latch.ErrNotFound)
	})
}

// testCountLiveSessions checks latch.SessionCounter on a store of its own:
// the count covers the whole store.
func testCountLiveSessions(t *testing.T, _ Stores, open func(*testing.T) Stores) {
	st := open(t).Sessions
	c := st.(latch.SessionCounter)
	count := func(t *testing.T, now time.Time) int {
		t.Helper()
		n, err := c.CountLiveSessions(ctx(t), now)
		wantErr(t, "CountLiveSessions", err, nil)
		return n
	}

	t.Run("empty store", func(t *testing.T) {
		if n := count(t, t0); n != 0 {
			t.Errorf("CountLiveSessions of an empty store = %d, want 0", n)
		}
	})

	now := t0.Add(time.Hour)
	mk := func(s *latch.Session, idle, abs time.Time) {
		s.IdleExpiresAt, s.ExpiresAt = idle, abs
		mustCreateSession(t, st, s)
	}
	// Live at now: two cookie sessions and a family, one of each kind
	// with a microsecond to live.
	mk(newSession(newID(), t0), now.Add(time.Minute), t0.Add(absoluteTimeout))
	mk(newSession(newID(), t0), now.Add(time.Microsecond), now.Add(time.Microsecond))
	mk(newFamily(newID(), t0), now.Add(time.Microsecond), t0.Add(familyLifetime))
	// Dead at now, live at t0.
	mk(newSession(newID(), t0), now, t0.Add(absoluteTimeout))
	mk(newSession(newID(), t0), now.Add(-time.Minute), t0.Add(absoluteTimeout))
	mk(newFamily(newID(), t0), now.Add(time.Hour), now)
	mk(newFamily(newID(), t0), now.Add(time.Hour), now.Add(-time.Second))

	for _, c := range []struct {
		name string
		at   time.Time
		want int
	}{
		{"all live", t0, 7},
		{"some dead", now, 3},
		{"all dead", t0.Add(familyLifetime), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if n := count(t, c.at); n != c.want {
				t.Errorf("CountLiveSessions = %d, want %d", n, c.want)
			}
		})
	}
}
