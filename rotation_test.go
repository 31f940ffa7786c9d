package latch_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

func TestSession_Rotate(t *testing.T) {
	t0 := time.Date(2031, time.March, 14, 15, 9, 26, 0, time.UTC)
	rotAt := t0.Add(time.Minute) // when the family last rotated
	const grace = 5 * time.Second
	hash := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	cur, prev, older, next := hash(1), hash(2), hash(3), hash(4)

	// family is a refresh family created at t0 that rotated from prev to
	// cur at rotAt; each case changes what it needs.
	family := func() *latch.Session {
		return &latch.Session{
			ID: "f", UserID: "u", Kind: latch.KindToken,
			TokenHash: cur, PrevHash: prev, RotatedAt: rotAt,
			CreatedAt: t0, LastSeenAt: rotAt,
			IdleExpiresAt: rotAt.Add(time.Hour), ExpiresAt: t0.Add(24 * time.Hour),
		}
	}
	// rotated is the family after a rotation at now with the given TTL
	// through the current token; graced, through the predecessor's grace.
	rotated := func(now time.Time, ttl time.Duration) *latch.Session {
		w := family()
		w.TokenHash, w.PrevHash, w.RotatedAt, w.GraceUsed, w.LastSeenAt = next, cur, now, false, now
		w.IdleExpiresAt = now.Add(ttl)
		if w.ExpiresAt.Before(w.IdleExpiresAt) {
			w.IdleExpiresAt = w.ExpiresAt
		}
		return w
	}
	graced := func(now time.Time) *latch.Session {
		w := rotated(now, time.Hour)
		w.PrevHash, w.GraceUsed = prev, true
		return w
	}

	for _, c := range []struct {
		name      string
		edit      func(s *latch.Session) // of family()
		presented []byte
		at        time.Time
		ttl       time.Duration // time.Hour when 0
		grace     time.Duration
		want      *latch.Session // nil: s itself with ErrRefreshReused, or nil with ErrNotFound
		wantErr   error
	}{
		{name: "current token", presented: cur, at: rotAt.Add(10 * time.Minute), grace: grace, want: rotated(rotAt.Add(10*time.Minute), time.Hour)},
		{name: "current token, zero grace", presented: cur, at: rotAt.Add(time.Second), want: rotated(rotAt.Add(time.Second), time.Hour)},
		{name: "current token, idle deadline capped at ExpiresAt", presented: cur, at: t0.Add(23*time.Hour + 30*time.Minute),
			edit: func(s *latch.Session) { s.IdleExpiresAt = s.ExpiresAt }, want: func() *latch.Session {
				w := rotated(t0.Add(23*time.Hour+30*time.Minute), time.Hour)
				w.IdleExpiresAt = w.ExpiresAt
				return w
			}()},
		{name: "current token, a shorter TTL moves the deadline earlier", presented: cur, at: rotAt.Add(time.Second), ttl: time.Minute,
			want: rotated(rotAt.Add(time.Second), time.Minute)},
		{name: "current token after a used grace gets a fresh one", presented: cur, at: rotAt.Add(time.Minute), grace: grace,
			edit: func(s *latch.Session) { s.GraceUsed = true }, want: rotated(rotAt.Add(time.Minute), time.Hour)},

		{name: "predecessor at the rotation instant", presented: prev, at: rotAt, grace: grace, want: graced(rotAt)},
		{name: "predecessor after RotatedAt, within the grace", presented: prev, at: rotAt.Add(grace - time.Microsecond), grace: grace, want: graced(rotAt.Add(grace - time.Microsecond))},
		{name: "predecessor before RotatedAt, within the grace (a clock behind)", presented: prev, at: rotAt.Add(-grace + time.Microsecond), grace: grace, want: graced(rotAt.Add(-grace + time.Microsecond))},
		{name: "predecessor at the end of the grace", presented: prev, at: rotAt.Add(grace), grace: grace, wantErr: latch.ErrRefreshReused},
		{name: "predecessor a grace before RotatedAt", presented: prev, at: rotAt.Add(-grace), grace: grace, wantErr: latch.ErrRefreshReused},
		{name: "predecessor after the grace", presented: prev, at: rotAt.Add(time.Minute), grace: grace, wantErr: latch.ErrRefreshReused},
		{name: "predecessor whose grace is used", presented: prev, at: rotAt, grace: grace,
			edit: func(s *latch.Session) { s.GraceUsed = true }, wantErr: latch.ErrRefreshReused},
		{name: "predecessor at the rotation instant, zero grace", presented: prev, at: rotAt, wantErr: latch.ErrRefreshReused},
		{name: "spent token of a live family", presented: older, at: rotAt, grace: grace, wantErr: latch.ErrRefreshReused},
		{name: "first token of a family that never rotated", presented: prev, at: rotAt, grace: grace,
			edit: func(s *latch.Session) { s.PrevHash, s.RotatedAt = nil, time.Time{} }, wantErr: latch.ErrRefreshReused},

		{name: "idle deadline is now, current token", presented: cur, at: rotAt.Add(time.Hour), grace: grace, wantErr: latch.ErrNotFound},
		{name: "idle deadline passed, predecessor within the grace", presented: prev, at: rotAt.Add(time.Second), grace: grace,
			edit: func(s *latch.Session) { s.IdleExpiresAt = rotAt }, wantErr: latch.ErrNotFound},
		{name: "idle deadline passed, spent token", presented: older, at: rotAt.Add(2 * time.Hour), wantErr: latch.ErrNotFound},
		{name: "absolute deadline is now, current token", presented: cur, at: rotAt,
			edit: func(s *latch.Session) { s.ExpiresAt = rotAt }, wantErr: latch.ErrNotFound},
		{name: "absolute deadline passed, spent token", presented: older, at: rotAt,
			edit: func(s *latch.Session) { s.ExpiresAt = t0 }, wantErr: latch.ErrNotFound},
		{name: "cookie session's secret", presented: cur, at: rotAt,
			edit: func(s *latch.Session) { s.Kind = latch.KindSession }, wantErr: latch.ErrNotFound},
		{name: "cookie session with a predecessor in grace", presented: prev, at: rotAt, grace: grace,
			edit: func(s *latch.Session) { s.Kind = latch.KindSession }, wantErr: latch.ErrNotFound},
		{name: "nothing presented", presented: nil, at: rotAt, grace: grace,
			edit: func(s *latch.Session) { s.PrevHash = nil }, wantErr: latch.ErrNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := family()
			if c.edit != nil {
				c.edit(s)
			}
			before := *s
			ttl := c.ttl
			if ttl == 0 {
				ttl = time.Hour
			}
			got, err := s.Rotate(latch.RefreshRotation{Presented: c.presented, Next: next, Now: c.at, RefreshTTL: ttl, Grace: c.grace})
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("Rotate: error = %v, want %v", err, c.wantErr)
			}
			if !reflect.DeepEqual(*s, before) {
				t.Errorf("Rotate changed its receiver:\n got %+v\nwant %+v", *s, before)
			}
			switch {
			case errors.Is(c.wantErr, latch.ErrRefreshReused):
				if got != s {
					t.Errorf("Rotate returned %+v with ErrRefreshReused, want the family itself", got)
				}
			case c.wantErr != nil:
				if got != nil {
					t.Errorf("Rotate returned %+v with %v, want nil", got, err)
				}
			case !reflect.DeepEqual(got, c.want):
				t.Errorf("Rotate:\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}
