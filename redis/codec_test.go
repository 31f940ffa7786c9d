package redis_test

import (
	"regexp"
	"strconv"
	"strings"
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

// TestLuaSources_Layout checks the scripts against the encoder: every
// field they cut out of a copy is a header time, the kind byte they read
// is the kind, and no placeholder of the layout is left unreplaced.
func TestLuaSources_Layout(t *testing.T) {
	s := newSession(time.Date(2031, time.March, 14, 15, 9, 26, 0, time.UTC))
	s.LastSeenAt = s.CreatedAt.Add(time.Second)
	v := redis.EncodeSession(s)
	header := map[int64]string{
		s.IdleExpiresAt.UnixMicro(): "idle deadline",
		s.LastSeenAt.UnixMicro():    "last use",
		s.ExpiresAt.UnixMicro():     "absolute deadline",
	}
	sub := regexp.MustCompile(`string\.sub\(\w+, (\d+), (\d+)\)`)
	kind := regexp.MustCompile(`string\.byte\(\w+, (\d+)\) ~= (\d+)`)
	for name, src := range redis.LuaSources {
		t.Run(name, func(t *testing.T) {
			if strings.Contains(src, "$") {
				t.Errorf("a placeholder is left in the script:\n%s", src)
			}
			cuts := sub.FindAllStringSubmatch(src, -1)
			if len(cuts) == 0 {
				t.Fatal("the script cuts no field: the pattern of this test is out of date")
			}
			for _, m := range cuts {
				from, _ := strconv.Atoi(m[1])
				to, _ := strconv.Atoi(m[2])
				n, err := strconv.ParseInt(strings.TrimLeft(v[from-1:to], " "), 10, 64)
				if _, ok := header[n]; err != nil || !ok {
					t.Errorf("string.sub(v, %d, %d) cuts %q from a copy, not a header time", from, to, v[from-1:to])
				}
			}
			for _, m := range kind.FindAllStringSubmatch(src, -1) {
				at, _ := strconv.Atoi(m[1])
				want, _ := strconv.Atoi(m[2])
				if int(v[at-1]) != want || want != 's' {
					t.Errorf("string.byte(v, %d) ~= %d: the copy of a cookie session has %q there", at, want, v[at-1])
				}
			}
		})
	}
}
