package storetest

import (
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

// The lifetimes of the suite's sessions and families.
const (
	idleTimeout     = 30 * time.Minute
	absoluteTimeout = 12 * time.Hour
	refreshTTL      = time.Hour
	familyLifetime  = 24 * time.Hour
)

// newSession returns a cookie session of userID created at created.
func newSession(userID string, created time.Time) *latch.Session {
	return &latch.Session{
		ID:            newID(),
		UserID:        userID,
		Kind:          latch.KindSession,
		TokenHash:     newHash(),
		CSRFHash:      newHash(),
		CreatedAt:     created,
		LastSeenAt:    created,
		IdleExpiresAt: created.Add(idleTimeout),
		ExpiresAt:     created.Add(absoluteTimeout),
		UserAgent:     "storetest/1.0 (cookie)",
		IP:            "192.0.2.10",
		AMR:           []string{latch.AMRPassword, latch.AMROTP, latch.AMRMultiFactor},
	}
}

// newFamily returns a refresh family of userID started at created.
func newFamily(userID string, created time.Time) *latch.Session {
	return &latch.Session{
		ID:            newID(),
		UserID:        userID,
		Kind:          latch.KindToken,
		TokenHash:     newHash(),
		CreatedAt:     created,
		LastSeenAt:    created,
		IdleExpiresAt: created.Add(refreshTTL),
		ExpiresAt:     created.Add(familyLifetime),
		UserAgent:     "storetest/1.0 (token)",
		IP:            "2001:db8::10",
		AMR:           []string{latch.AMRPassword},
	}
}

func mustCreateSession(t *testing.T, st latch.SessionStore, s *latch.Session) {
	t.Helper()
	if err := st.CreateSession(ctx(t), s); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
}

func mustSessionByID(t *testing.T, st latch.SessionStore, id string) *latch.Session {
	t.Helper()
	s, err := st.SessionByID(ctx(t), id)
	if err != nil {
		t.Fatalf("SessionByID: %v", err)
	}
	return s
}

// wantGone fails t unless the session is found neither by ID nor by hash.
func wantGone(t *testing.T, st latch.SessionStore, id string, hash []byte) {
	t.Helper()
	s, err := st.SessionByID(ctx(t), id)
	wantErr(t, "SessionByID", err, latch.ErrNotFound)
	if s != nil {
		t.Errorf("SessionByID returned %+v with ErrNotFound, want nil", s)
	}
	s, err = st.SessionByTokenHash(ctx(t), hash)
	wantErr(t, "SessionByTokenHash", err, latch.ErrNotFound)
	if s != nil {
		t.Errorf("SessionByTokenHash returned %+v with ErrNotFound, want nil", s)
	}
}

func testSessions(t *testing.T, shared Stores, open func(*testing.T) Stores) {
	st := shared.Sessions

	t.Run("CreateSession then lookups", func(t *testing.T) {
		for _, s := range []*latch.Session{newSession(newID(), t0), newFamily(newID(), t0)} {
			t.Run(string(s.Kind), func(t *testing.T) {
				mustCreateSession(t, st, s)
				mustEqual(t, "SessionByID", mustSessionByID(t, st, s.ID), s)
				got, err := st.SessionByTokenHash(ctx(t), s.TokenHash)
				wantErr(t, "SessionByTokenHash", err, nil)
				mustEqual(t, "SessionByTokenHash", got, s)
			})
		}
	})

	t.Run("CreateSession keeps the refresh state", func(t *testing.T) {
		f := newFamily(newID(), t0)
		f.PrevHash, f.RotatedAt, f.GraceUsed = newHash(), t0.Add(time.Minute), true
		mustCreateSession(t, st, f)
		mustEqual(t, "SessionByID", mustSessionByID(t, st, f.ID), f)
	})

	t.Run("lookups of unknown sessions", func(t *testing.T) {
		mustCreateSession(t, st, newSession(newID(), t0))
		for _, c := range []struct {
			name   string
			lookup func() (*latch.Session, error)
		}{
			{"SessionByID unknown", func() (*latch.Session, error) { return st.SessionByID(ctx(t), newID()) }},
			{"SessionByID empty", func() (*latch.Session, error) { return st.SessionByID(ctx(t), "") }},
			{"SessionByTokenHash unknown", func() (*latch.Session, error) { return st.SessionByTokenHash(ctx(t), newHash()) }},
			{"SessionByTokenHash nil", func() (*latch.Session, error) { return st.SessionByTokenHash(ctx(t), nil) }},
		} {
			t.Run(c.name, func(t *testing.T) {
				s, err := c.lookup()
				wantErr(t, c.name, err, latch.ErrNotFound)
				if s != nil {
					t.Errorf("%s returned %+v with ErrNotFound, want nil", c.name, s)
				}
			})
		}
	})

	t.Run("SessionsByUser oldest first", func(t *testing.T) {
		user := newID()
		// Created out of order, both kinds, so that neither insertion order
		// nor kind can pass for age.
		newest := newSession(user, t0.Add(2*time.Hour))
		oldest := newFamily(user, t0)
		middle := newSession(user, t0.Add(time.Hour))
		for _, s := range []*latch.Session{newest, oldest, middle, newSession(newID(), t0.Add(30*time.Minute))} {
			mustCreateSession(t, st, s)
		}
		got, err := st.SessionsByUser(ctx(t), user)
		wantErr(t, "SessionsByUser", err, nil)
		want := []*latch.Session{oldest, middle, newest}
		if len(got) != len(want) {
			t.Fatalf("SessionsByUser returned %d sessions, want %d", len(got), len(want))
		}
		for i := range want {
			mustEqual(t, "SessionsByUser", got[i], want[i])
		}
	})

	t.Run("SessionsByUser unknown user", func(t *testing.T) {
		got, err := st.SessionsByUser(ctx(t), newID())
		wantErr(t, "SessionsByUser of a user without sessions", err, nil)
		if len(got) != 0 {
			t.Errorf("SessionsByUser of a user without sessions returned %d sessions", len(got))
		}
	})

	t.Run("TouchSessions updates and ignores unknown IDs", func(t *testing.T) {
		a, b := newSession(newID(), t0), newFamily(newID(), t0)
		mustCreateSession(t, st, a)
		mustCreateSession(t, st, b)
		touches := []latch.SessionTouch{
			{ID: a.ID, LastSeenAt: t0.Add(5 * time.Minute), IdleExpiresAt: t0.Add(35 * time.Minute)},
			{ID: newID(), LastSeenAt: t0.Add(5 * time.Minute), IdleExpiresAt: t0.Add(35 * time.Minute)},
			{ID: b.ID, LastSeenAt: t0.Add(6 * time.Minute), IdleExpiresAt: t0.Add(66 * time.Minute)},
		}
		wantErr(t, "TouchSessions", st.TouchSessions(ctx(t), touches), nil)
		for i, s := range []*latch.Session{a, b} {
			want := clone(s)
			tc := touches[2*i]
			want.LastSeenAt, want.IdleExpiresAt = tc.LastSeenAt, tc.IdleExpiresAt
			mustEqual(t, "SessionByID after TouchSessions", mustSessionByID(t, st, s.ID), want)
		}
	})

	t.Run("TouchSessions never moves a deadline backwards", func(t *testing.T) {
		at := func(d time.Duration) time.Time { return t0.Add(d) }
		// Each batch is one TouchSessions call; the session starts with its
		// idle deadline at t0+30m.
		for _, c := range []struct {
			name    string
			batches [][]time.Duration // idle deadlines, as offsets from t0
			want    time.Duration
		}{
			{"forwards", [][]time.Duration{{40 * time.Minute}}, 40 * time.Minute},
			{"before the created deadline", [][]time.Duration{{10 * time.Minute}}, idleTimeout},
			{"later then earlier, two calls", [][]time.Duration{{50 * time.Minute}, {40 * time.Minute}}, 50 * time.Minute},
			{"later then earlier, one call", [][]time.Duration{{50 * time.Minute, 40 * time.Minute}}, 50 * time.Minute},
			{"earlier then later, one call", [][]time.Duration{{40 * time.Minute, 50 * time.Minute}}, 50 * time.Minute},
		} {
			t.Run(c.name, func(t *testing.T) {
				s := newSession(newID(), t0)
				mustCreateSession(t, st, s)
				for _, batch := range c.batches {
					var touches []latch.SessionTouch
					for _, d := range batch {
						touches = append(touches, latch.SessionTouch{ID: s.ID, LastSeenAt: at(d - idleTimeout), IdleExpiresAt: at(d)})
					}
					wantErr(t, "TouchSessions", st.TouchSessions(ctx(t), touches), nil)
				}
				if got := mustSessionByID(t, st, s.ID).IdleExpiresAt; !got.Equal(at(c.want)) {
					t.Errorf("IdleExpiresAt = %v, want %v", got, at(c.want))
				}
			})
		}
	})

	t.Run("TouchSessions empty batch", func(t *testing.T) {
		wantErr(t, "TouchSessions(nil)", st.TouchSessions(ctx(t), nil), nil)
	})

	t.Run("ReplaceSessionToken", func(t *testing.T) {
		s := newSession(newID(), t0)
		mustCreateSession(t, st, s)
		want := clone(s)
		want.TokenHash, want.CSRFHash = newHash(), newHash()
		wantErr(t, "ReplaceSessionToken", st.ReplaceSessionToken(ctx(t), s.ID, want.TokenHash, want.CSRFHash), nil)
		got, err := st.SessionByTokenHash(ctx(t), want.TokenHash)
		wantErr(t, "SessionByTokenHash of the new secret", err, nil)
		mustEqual(t, "SessionByTokenHash of the new secret", got, want)
		mustEqual(t, "SessionByID", mustSessionByID(t, st, s.ID), want)
		got, err = st.SessionByTokenHash(ctx(t), s.TokenHash)
		wantErr(t, "SessionByTokenHash of the replaced secret", err, latch.ErrNotFound)
		if got != nil {
			t.Errorf("the replaced secret still finds %+v", got)
		}
	})

	t.Run("ReplaceSessionToken unknown", func(t *testing.T) {
		id, hash := newID(), newHash()
		wantErr(t, "ReplaceSessionToken of an unknown session", st.ReplaceSessionToken(ctx(t), id, hash, newHash()), latch.ErrNotFound)
		wantGone(t, st, id, hash)
	})

	t.Run("DeleteSession", func(t *testing.T) {
		user := newID()
		gone, kept := newSession(user, t0), newFamily(user, t0.Add(time.Minute))
		mustCreateSession(t, st, gone)
		mustCreateSession(t, st, kept)
		wantErr(t, "DeleteSession", st.DeleteSession(ctx(t), gone.ID), nil)
		wantGone(t, st, gone.ID, gone.TokenHash)
		wantErr(t, "DeleteSession again", st.DeleteSession(ctx(t), gone.ID), latch.ErrNotFound)
		list, err := st.SessionsByUser(ctx(t), user)
		wantErr(t, "SessionsByUser", err, nil)
		if len(list) != 1 {
			t.Fatalf("SessionsByUser after DeleteSession returned %d sessions, want 1", len(list))
		}
		mustEqual(t, "the other session of the user", list[0], kept)
	})

	t.Run("DeleteSession unknown", func(t *testing.T) {
		wantErr(t, "DeleteSession of an unknown ID", st.DeleteSession(ctx(t), newID()), latch.ErrNotFound)
	})

	t.Run("DeleteExpiredSessions", func(t *testing.T) {
		st := open(t).Sessions // the count covers the whole store
		now := t0.Add(10 * time.Hour)
		mk := func(idle, abs time.Time) *latch.Session {
			s := newSession(newID(), t0)
			s.IdleExpiresAt, s.ExpiresAt = idle, abs
			mustCreateSession(t, st, s)
			return s
		}
		live := []*latch.Session{
			mk(now.Add(time.Minute), t0.Add(absoluteTimeout)),
			mk(now.Add(time.Microsecond), now.Add(time.Microsecond)),
		}
		dead := []*latch.Session{
			mk(now, t0.Add(absoluteTimeout)),                   // idle deadline is now: dead (Live is now.Before)
			mk(now.Add(-time.Second), t0.Add(absoluteTimeout)), // idle deadline passed
			mk(now.Add(time.Hour), now.Add(-time.Second)),      // absolute deadline passed, idle not
			mk(now.Add(time.Hour), now),                        // absolute deadline is now
			mk(t0.Add(idleTimeout), t0.Add(absoluteTimeout)),   // never touched
			mk(t0.Add(-time.Hour), t0.Add(-time.Minute)),       // both long past
		}
		// Touched past its created idle deadline: the stored deadline counts.
		touched := newSession(newID(), t0)
		mustCreateSession(t, st, touched)
		wantErr(t, "TouchSessions", st.TouchSessions(ctx(t), []latch.SessionTouch{
			{ID: touched.ID, LastSeenAt: now.Add(-time.Minute), IdleExpiresAt: now.Add(idleTimeout - time.Minute)},
		}), nil)
		live = append(live, touched)
		// A rotated family, dead at now, goes with its spent tokens.
		fam := newFamily(newID(), t0)
		mustCreateSession(t, st, fam)
		rotated, err := st.RotateRefresh(ctx(t), latch.RefreshRotation{Presented: fam.TokenHash, Next: newHash(), Now: t0.Add(time.Minute), RefreshTTL: refreshTTL})
		wantErr(t, "RotateRefresh", err, nil)
		dead = append(dead, rotated)

		n, err := st.DeleteExpiredSessions(ctx(t), now)
		wantErr(t, "DeleteExpiredSessions", err, nil)
		if n != len(dead) {
			t.Errorf("DeleteExpiredSessions = %d, want %d", n, len(dead))
		}
		for _, s := range dead {
			wantGone(t, st, s.ID, s.TokenHash)
		}
		for _, s := range live {
			if _, err := st.SessionByID(ctx(t), s.ID); err != nil {
				t.Errorf("SessionByID of a session live at now: %v", err)
			}
		}
		n, err = st.DeleteExpiredSessions(ctx(t), now)
		wantErr(t, "DeleteExpiredSessions again", err, nil)
		if n != 0 {
			t.Errorf("DeleteExpiredSessions again = %d, want 0", n)
		}
	})

	t.Run("no aliasing", func(t *testing.T) {
		// A store must copy what it keeps and what it returns, byte slices
		// included: the caller may reuse its buffers.
		s := newFamily(newID(), t0)
		s.PrevHash = newHash()
		want := clone(s)
		want.TokenHash = append([]byte(nil), s.TokenHash...)
		want.PrevHash = append([]byte(nil), s.PrevHash...)
		mustCreateSession(t, st, s)
		s.TokenHash[0] ^= 0xff
		s.PrevHash[0] ^= 0xff
		s.UserAgent = "mutated-after-create"
		got, err := st.SessionByTokenHash(ctx(t), want.TokenHash)
		wantErr(t, "SessionByTokenHash after the caller changed its hash buffer", err, nil)
		mustEqual(t, "SessionByTokenHash after the caller changed its struct", got, want)
		got.TokenHash[0] ^= 0xff
		got.PrevHash[0] ^= 0xff
		got.IP = "mutated-after-read"
		again, err := st.SessionByID(ctx(t), want.ID)
		wantErr(t, "SessionByID", err, nil)
		mustEqual(t, "SessionByID after the caller changed a returned struct", again, want)
	})
}
