package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

// grace is the reuse grace of the tests that give one.
const grace = 5 * time.Second

// rotAt is when the tests rotate a family they created at t0.
var rotAt = t0.Add(time.Minute)

func rotation(presented []byte, now time.Time, grace time.Duration) latch.RefreshRotation {
	return latch.RefreshRotation{Presented: presented, Next: newHash(), Now: now, RefreshTTL: refreshTTL, Grace: grace}
}

// rotated is the state in which a successful rotation r leaves the family f:
// the current token displaced into PrevHash with a fresh grace, r.Next
// current, and the idle deadline slid to min(r.Now+r.RefreshTTL, ExpiresAt).
// A refresh is a use, so LastSeenAt is r.Now too.
func rotated(f *latch.Session, r latch.RefreshRotation) *latch.Session {
	w := clone(f)
	w.PrevHash, w.TokenHash = f.TokenHash, r.Next
	w.RotatedAt, w.GraceUsed = r.Now, false
	w.LastSeenAt = r.Now
	w.IdleExpiresAt = r.Now.Add(r.RefreshTTL)
	if w.ExpiresAt.Before(w.IdleExpiresAt) {
		w.IdleExpiresAt = w.ExpiresAt
	}
	return w
}

// graceRotated is the state in which a rotation through the grace (the
// predecessor presented) leaves f: r.Next current, the predecessor kept with
// its grace used up, the displaced current token spent.
func graceRotated(f *latch.Session, r latch.RefreshRotation) *latch.Session {
	w := rotated(f, r)
	w.PrevHash, w.GraceUsed = f.PrevHash, true
	return w
}

func mustRotate(t *testing.T, st latch.SessionStore, r latch.RefreshRotation) *latch.Session {
	t.Helper()
	s, err := st.RotateRefresh(ctx(t), r)
	if err != nil {
		t.Fatalf("RotateRefresh: %v", err)
	}
	return s
}

// chain creates a family at t0 and rotates it n times at rotAt. It returns
// the family's state and its tokens, oldest first: tokens[n] is current.
func chain(t *testing.T, st latch.SessionStore, n int) (*latch.Session, [][]byte) {
	t.Helper()
	f := newFamily(newID(), t0)
	mustCreateSession(t, st, f)
	tokens := [][]byte{f.TokenHash}
	for range n {
		r := rotation(f.TokenHash, rotAt, 0)
		f = mustRotate(t, st, r)
		tokens = append(tokens, r.Next)
	}
	return f, tokens
}

// wantUnchanged fails t unless the stored family equals before.
func wantUnchanged(t *testing.T, st latch.SessionStore, before *latch.Session) {
	t.Helper()
	mustEqual(t, "the family after a failed RotateRefresh", mustSessionByID(t, st, before.ID), before)
}

func testRotateRefresh(t *testing.T, shared Stores, _ func(*testing.T) Stores) {
	st := shared.Sessions

	t.Run("rotates the current token", func(t *testing.T) {
		f := newFamily(newID(), t0)
		mustCreateSession(t, st, f)
		r := rotation(f.TokenHash, t0.Add(10*time.Minute), grace)
		want := rotated(f, r)
		mustEqual(t, "RotateRefresh", mustRotate(t, st, r), want)
		mustEqual(t, "SessionByID", mustSessionByID(t, st, f.ID), want)
		got, err := st.SessionByTokenHash(ctx(t), r.Next)
		wantErr(t, "SessionByTokenHash of the successor", err, nil)
		mustEqual(t, "SessionByTokenHash of the successor", got, want)
		_, err = st.SessionByTokenHash(ctx(t), r.Presented)
		wantErr(t, "SessionByTokenHash of the spent token", err, latch.ErrNotFound)
	})

	t.Run("rotates along a chain", func(t *testing.T) {
		f, tokens := chain(t, st, 5)
		if !equalField(f.TokenHash, tokens[5]) || !equalField(f.PrevHash, tokens[4]) {
			t.Fatalf("after 5 rotations TokenHash, PrevHash = %x, %x; want %x, %x", f.TokenHash, f.PrevHash, tokens[5], tokens[4])
		}
		// Every ancestor is spent; presented again, each is reuse.
		for i, tok := range tokens[:5] {
			got, err := st.RotateRefresh(ctx(t), rotation(tok, rotAt.Add(time.Minute), 0))
			wantErr(t, fmt.Sprintf("RotateRefresh of ancestor %d", i), err, latch.ErrRefreshReused)
			mustEqual(t, "the family returned with ErrRefreshReused", got, f)
		}
		wantUnchanged(t, st, f)
	})

	t.Run("slides the idle deadline, capped at ExpiresAt", func(t *testing.T) {
		for _, c := range []struct {
			name string
			now  time.Duration // after t0; the family expires at t0+24h
			ttl  time.Duration
			want time.Duration
		}{
			{"within the lifetime", 10 * time.Minute, time.Hour, 70 * time.Minute},
			{"shorter TTL moves it earlier", time.Minute, 10 * time.Minute, 11 * time.Minute},
			{"capped", 23*time.Hour + 30*time.Minute, time.Hour, familyLifetime},
			{"exactly at the cap", 23 * time.Hour, time.Hour, familyLifetime},
		} {
			t.Run(c.name, func(t *testing.T) {
				f := newFamily(newID(), t0)
				f.IdleExpiresAt = f.ExpiresAt // alive until the end, whenever used
				mustCreateSession(t, st, f)
				r := rotation(f.TokenHash, t0.Add(c.now), 0)
				r.RefreshTTL = c.ttl
				got := mustRotate(t, st, r)
				if !got.IdleExpiresAt.Equal(t0.Add(c.want)) {
					t.Errorf("IdleExpiresAt = %v, want %v", got.IdleExpiresAt, t0.Add(c.want))
				}
				mustEqual(t, "SessionByID", mustSessionByID(t, st, f.ID), got)
			})
		}
	})

	t.Run("unknown tokens", func(t *testing.T) {
		cookie := newSession(newID(), t0)
		mustCreateSession(t, st, cookie)
		f := newFamily(newID(), t0)
		mustCreateSession(t, st, f)
		for _, c := range []struct {
			name      string
			presented []byte
		}{
			{"random", newHash()},
			{"nil", nil},
			// A cookie secret is no refresh token (token types kept apart).
			{"a cookie session's secret", cookie.TokenHash},
			// Never seen: the CSRF hash is no token of any family.
			{"a cookie session's CSRF hash", cookie.CSRFHash},
		} {
			t.Run(c.name, func(t *testing.T) {
				got, err := st.RotateRefresh(ctx(t), rotation(c.presented, rotAt, grace))
				wantErr(t, "RotateRefresh", err, latch.ErrNotFound)
				if got != nil {
					t.Errorf("RotateRefresh returned %+v with ErrNotFound, want nil", got)
				}
			})
		}
		wantUnchanged(t, st, cookie)
		wantUnchanged(t, st, f)
	})

	t.Run("reuse", func(t *testing.T) {
		for _, c := range []struct {
			name      string
			rotations int
			presented int           // index into the chain's tokens
			at        time.Duration // after the last rotation
			grace     time.Duration
			graceUsed bool // make the predecessor's grace used up
		}{
			{name: "predecessor, no grace", rotations: 1, presented: 0, at: time.Minute},
			{name: "predecessor at the rotation instant, no grace", rotations: 1, presented: 0},
			{name: "predecessor after the grace", rotations: 1, presented: 0, at: grace + time.Microsecond, grace: grace},
			{name: "predecessor at the end of the grace", rotations: 1, presented: 0, at: grace, grace: grace},
			{name: "older ancestor within the grace", rotations: 2, presented: 0, grace: grace},
			{name: "predecessor whose grace is used", rotations: 1, presented: 0, grace: grace, graceUsed: true},
			// The grace is a distance from RotatedAt: instances' clocks differ.
			{name: "predecessor a grace before the rotation", rotations: 1, presented: 0, at: -grace, grace: grace},
			{name: "predecessor before the rotation, no grace", rotations: 1, presented: 0, at: -time.Second},
		} {
			t.Run(c.name, func(t *testing.T) {
				var f *latch.Session
				var tokens [][]byte
				if c.graceUsed {
					// No rotation leaves GraceUsed set; CreateSession can.
					f = newFamily(newID(), t0)
					f.PrevHash, f.RotatedAt, f.GraceUsed = newHash(), rotAt, true
					mustCreateSession(t, st, f)
					tokens = [][]byte{f.PrevHash, f.TokenHash}
				} else {
					f, tokens = chain(t, st, c.rotations)
				}
				got, err := st.RotateRefresh(ctx(t), rotation(tokens[c.presented], rotAt.Add(c.at), c.grace))
				wantErr(t, "RotateRefresh of a spent token", err, latch.ErrRefreshReused)
				mustEqual(t, "the family returned with ErrRefreshReused", got, f)
				wantUnchanged(t, st, f)
			})
		}
	})

	t.Run("grace", func(t *testing.T) {
		for _, c := range []struct {
			name string
			at   time.Duration // after the rotation
		}{
			{"at the rotation instant", 0},
			{"within the grace", grace / 2},
			{"at the last instant of the grace", grace - time.Microsecond},
			{"before the rotation, within the grace (a clock behind)", -grace / 2},
		} {
			t.Run(c.name, func(t *testing.T) {
				f, tokens := chain(t, st, 1)
				now := rotAt.Add(c.at)
				// The predecessor is accepted once; the displaced current
				// token is spent, with no grace of its own: one grace per
				// rotation, so racing tabs never keep two chains alive.
				r := rotation(tokens[0], now, grace)
				want := graceRotated(f, r)
				mustEqual(t, "RotateRefresh of the predecessor within the grace", mustRotate(t, st, r), want)
				mustEqual(t, "SessionByID", mustSessionByID(t, st, f.ID), want)
				_, err := st.SessionByTokenHash(ctx(t), tokens[1])
				wantErr(t, "SessionByTokenHash of the displaced token", err, latch.ErrNotFound)

				got, err := st.RotateRefresh(ctx(t), rotation(tokens[0], now, grace))
				wantErr(t, "RotateRefresh of the predecessor a second time", err, latch.ErrRefreshReused)
				mustEqual(t, "the family returned with ErrRefreshReused", got, want)
				wantUnchanged(t, st, want)

				got, err = st.RotateRefresh(ctx(t), rotation(tokens[1], now.Add(grace/4), grace))
				wantErr(t, "RotateRefresh of the displaced token", err, latch.ErrRefreshReused)
				mustEqual(t, "the family returned with ErrRefreshReused", got, want)
			})
		}
	})

	t.Run("rotation gives a fresh grace", func(t *testing.T) {
		// A family whose predecessor used up its grace: rotating the current
		// token makes it the predecessor, with a grace of its own.
		f := newFamily(newID(), t0)
		f.PrevHash, f.RotatedAt, f.GraceUsed = newHash(), t0, true
		mustCreateSession(t, st, f)
		r := rotation(f.TokenHash, rotAt, grace)
		want := rotated(f, r)
		mustEqual(t, "RotateRefresh", mustRotate(t, st, r), want)
		r2 := rotation(f.TokenHash, rotAt.Add(time.Second), grace)
		mustEqual(t, "RotateRefresh of the predecessor within its grace", mustRotate(t, st, r2), graceRotated(want, r2))
	})

	t.Run("expired family", func(t *testing.T) {
		for _, c := range []struct {
			name      string
			idle, abs time.Duration // deadlines after t0
			now       time.Duration // after t0
		}{
			{"idle deadline is now", time.Hour, familyLifetime, time.Hour},
			{"idle deadline passed", time.Hour, familyLifetime, 2 * time.Hour},
			{"absolute deadline is now", familyLifetime + time.Hour, familyLifetime, familyLifetime},
			{"absolute deadline passed", familyLifetime + time.Hour, familyLifetime, familyLifetime + time.Minute},
		} {
			for _, p := range []struct {
				name    string
				grace   time.Duration
				current bool
			}{
				{"current token", grace, true},
				{"spent token", 0, false},
				{"predecessor within the grace", c.now + time.Hour, false},
			} {
				t.Run(c.name+"/"+p.name, func(t *testing.T) {
					f := newFamily(newID(), t0)
					f.IdleExpiresAt, f.ExpiresAt = t0.Add(c.idle), t0.Add(c.abs)
					f.PrevHash, f.RotatedAt = newHash(), t0
					mustCreateSession(t, st, f)
					presented := f.PrevHash
					if p.current {
						presented = f.TokenHash
					}
					got, err := st.RotateRefresh(ctx(t), rotation(presented, t0.Add(c.now), p.grace))
					wantErr(t, "RotateRefresh in an expired family", err, latch.ErrNotFound)
					if got != nil {
						t.Errorf("RotateRefresh returned %+v with ErrNotFound, want nil", got)
					}
					wantUnchanged(t, st, f)
				})
			}
		}
	})

	t.Run("deleted family", func(t *testing.T) {
		f, tokens := chain(t, st, 2)
		wantErr(t, "DeleteSession", st.DeleteSession(ctx(t), f.ID), nil)
		for i, tok := range tokens {
			got, err := st.RotateRefresh(ctx(t), rotation(tok, rotAt, grace))
			wantErr(t, fmt.Sprintf("RotateRefresh of token %d of a deleted family", i), err, latch.ErrNotFound)
			if got != nil {
				t.Errorf("RotateRefresh returned %+v with ErrNotFound, want nil", got)
			}
		}
	})

	t.Run("concurrent rotations of one token", func(t *testing.T) {
		const n = 20
		for round := range 5 {
			f := newFamily(newID(), t0)
			mustCreateSession(t, st, f)
			var (
				start   = make(chan struct{})
				wg      sync.WaitGroup
				results [n]*latch.Session
				errs    [n]error
				rots    [n]latch.RefreshRotation
			)
			for i := range n {
				rots[i] = rotation(f.TokenHash, rotAt, 0)
				wg.Go(func() {
					<-start
					results[i], errs[i] = st.RotateRefresh(ctx(t), rots[i])
				})
			}
			close(start)
			wg.Wait()
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil && winner >= 0:
					t.Fatalf("round %d: callers %d and %d both rotated the same token", round, winner, i)
				case err == nil:
					winner = i
				case !errors.Is(err, latch.ErrRefreshReused):
					t.Errorf("round %d: caller %d: error = %v, want nil for one caller and ErrRefreshReused for the others", round, i, err)
				}
			}
			if winner < 0 {
				t.Fatalf("round %d: none of %d concurrent rotations succeeded", round, n)
			}
			want := rotated(f, rots[winner])
			mustEqual(t, "the winner's family", results[winner], want)
			mustEqual(t, "SessionByID after the race", mustSessionByID(t, st, f.ID), want)
		}
	})

	t.Run("concurrent rotations of distinct families", func(t *testing.T) {
		// Writers that do not conflict must not fail either (no "database
		// is locked" under load).
		const families, rotations = 8, 20
		var wg sync.WaitGroup
		var errs [families]error
		fams := make([]*latch.Session, families)
		for i := range fams {
			fams[i] = newFamily(newID(), t0)
			mustCreateSession(t, st, fams[i])
		}
		for i, f := range fams {
			wg.Go(func() {
				cur := f.TokenHash
				for j := range rotations {
					r := rotation(cur, rotAt.Add(time.Duration(j)*time.Second), 0)
					if _, err := st.RotateRefresh(ctx(t), r); err != nil {
						errs[i] = err
						return
					}
					cur = r.Next
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("family %d: RotateRefresh: %v", i, err)
			}
		}
	})
}
