package redis_test

import (
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/redis"
)

// TestSessionCopy_Exact checks that a copy read back from Redis equals what
// was stored to the nanosecond, odd times included.
func TestSessionCopy_Exact(t *testing.T) {
	f := newSessionFixture(t, testURL())
	now := time.Now()
	for name, s := range map[string]*latch.Session{
		"nanoseconds and a zone": func() *latch.Session {
			s := newSession(now.In(time.FixedZone("x", 3600)).Add(123 * time.Nanosecond))
			s.RotatedAt, s.GraceUsed, s.PrevHash = now.Add(-time.Second+7), true, randHash()
			return s
		}(),
		"zero and ancient times": func() *latch.Session {
			s := newSession(now)
			s.CreatedAt, s.LastSeenAt, s.RotatedAt = time.Time{}, time.Date(1901, 2, 3, 4, 5, 6, 7, time.UTC), time.Time{}
			s.CSRFHash, s.UserAgent, s.IP = nil, "", ""
			return s
		}(),
		"far future": func() *latch.Session {
			s := newSession(now)
			s.ExpiresAt = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
			return s
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			f.create(t, s)
			reads := f.next.byHash.Load()
			got, err := f.s.SessionByTokenHash(t.Context(), s.TokenHash)
			if err != nil || f.next.byHash.Load() != reads {
				t.Fatalf("SessionByTokenHash = %v (next read: %v)", err, f.next.byHash.Load() != reads)
			}
			if d := sessionDiff(got, s); d != "" {
				t.Errorf("the copy differs in %s:\n got %+v\nwant %+v", d, got, s)
			}
		})
	}
}

// FuzzDecodeSession feeds garbage to the decoder (it must fail, never
// panic) and round-trips what it accepts.
func FuzzDecodeSession(f *testing.F) {
	s := newSession(time.Now())
	f.Add(redis.EncodeSession(s))
	f.Add(redis.EncodeSession(&latch.Session{}))
	f.Add("")
	f.Add("                0                 0                 0 s \x01\x05")
	f.Fuzz(func(t *testing.T, v string) {
		got, err := redis.DecodeSession(v)
		if err != nil {
			return
		}
		again, err := redis.DecodeSession(redis.EncodeSession(got))
		if err != nil {
			t.Fatalf("re-encoding a decoded session: %v", err)
		}
		if d := sessionDiff(again, got); d != "" {
			t.Fatalf("round trip differs in %s", d)
		}
	})
}
