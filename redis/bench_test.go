package redis_test

import (
	"testing"
	"time"

	"github.com/latch-dev/latch/memory"
)

// BenchmarkUseSession is the hot path of a cookie request on Redis: one
// round trip running the sliding script. Compare its rate with
// BenchmarkBareGet, measured in the same run (PERF.md: target ≥ 0.8×).
func BenchmarkUseSession(b *testing.B) {
	c := mustOpen(b, testURL())
	s := c.Sessions(&memory.SessionStore{})
	waitHealthy(b, c)
	t0 := base()
	sess := newSession(t0)
	if err := s.CreateSession(b.Context(), sess); err != nil {
		b.Fatal(err)
	}
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond) // a write every 250 uses, as a busy session
		if _, err := s.UseSession(b.Context(), sess.TokenHash, now, idle); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareGet is a plain go-redis GET of a small value over the same
// client settings: the ceiling UseSession is measured against.
func BenchmarkBareGet(b *testing.B) {
	c := mustOpen(b, testURL())
	key := "{" + newPrefix() + ":bench}"
	rdb := c.Redis()
	if err := rdb.Set(b.Context(), key, "a small value of about the size of a flag", time.Minute).Err(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rdb.Del(b.Context(), key) })
	b.ReportAllocs()
	for b.Loop() {
		if err := rdb.Get(b.Context(), key).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUseSessionParallel and BenchmarkBareGetParallel measure the
// same under concurrency (many requests in flight), where Redis's own CPU
// per command counts.
func BenchmarkUseSessionParallel(b *testing.B) {
	c := mustOpen(b, testURL())
	s := c.Sessions(&memory.SessionStore{})
	waitHealthy(b, c)
	t0 := base()
	sess := newSession(t0)
	if err := s.CreateSession(b.Context(), sess); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.UseSession(b.Context(), sess.TokenHash, time.Now(), idle); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkBareGetParallel(b *testing.B) {
	c := mustOpen(b, testURL())
	key := "{" + newPrefix() + ":bench}"
	rdb := c.Redis()
	if err := rdb.Set(b.Context(), key, "a small value of about the size of a flag", time.Minute).Err(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rdb.Del(b.Context(), key) })
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := rdb.Get(b.Context(), key).Err(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
