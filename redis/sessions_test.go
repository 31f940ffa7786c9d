package redis_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/memory"
	"github.com/latch-dev/latch/redis"
	"github.com/latch-dev/latch/storetest"
)

// openStores is storetest's open over url, with memory stores as next.
func openStores(url string) func(t *testing.T) storetest.Stores {
	return func(t *testing.T) storetest.Stores {
		c := mustOpen(t, url)
		st := storetest.Stores{
			Sessions:    c.Sessions(&memory.SessionStore{}),
			Revocations: c.Revocations(&memory.RevocationStore{}),
		}
		// Trusted before the suite starts, so that it tests the Redis paths.
		waitHealthy(t, c)
		return st
	}
}

func TestStores(t *testing.T) {
	storetest.Run(t, openStores(testURL()))
}

const idle = 30 * time.Minute

func randHash() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

func randID() string { return rand.Text() }

// base is the tests' "now": real time (copies expire at their deadlines by
// Redis's clock), in whole milliseconds.
func base() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func newSession(now time.Time) *latch.Session {
	return &latch.Session{ID: randID(), UserID: randID(), Kind: latch.KindSession, TokenHash: randHash(), CSRFHash: randHash(),
		CreatedAt: now, LastSeenAt: now, IdleExpiresAt: now.Add(idle), ExpiresAt: now.Add(12 * time.Hour),
		UserAgent: "redis_test", IP: "192.0.2.1"}
}

func sessionKey(prefix string, hash []byte) string {
	return "{" + prefix + ":s:" + hex.EncodeToString(hash) + "}"
}

// sessionFixture is a SessionStore over a counting memory store.
type sessionFixture struct {
	prefix string
	c      *redis.Client
	next   *countingSessions
	s      *redis.SessionStore
	rt     *counter
}

func newSessionFixture(t *testing.T, url string) *sessionFixture {
	t.Helper()
	f := &sessionFixture{prefix: newPrefix(), next: &countingSessions{SessionStore: &memory.SessionStore{}}, rt: &counter{}}
	f.c = mustOpenPrefix(t, url, f.prefix)
	f.c.Redis().AddHook(f.rt)
	f.s = f.c.Sessions(f.next)
	t.Cleanup(func() { _ = f.s.Close() })
	waitHealthy(t, f.c)
	return f
}

func (f *sessionFixture) create(t *testing.T, s *latch.Session) {
	t.Helper()
	if err := f.s.CreateSession(t.Context(), s); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
}

func (f *sessionFixture) use(t *testing.T, hash []byte, now time.Time) *latch.Session {
	t.Helper()
	s, err := f.s.UseSession(t.Context(), hash, now, idle)
	if err != nil {
		t.Fatalf("UseSession: %v", err)
	}
	return s
}

func (f *sessionFixture) cached(t *testing.T, hash []byte) bool {
	t.Helper()
	n, err := f.c.Redis().Exists(t.Context(), sessionKey(f.prefix, hash)).Result()
	if err != nil {
		t.Fatalf("EXISTS: %v", err)
	}
	return n == 1
}

func TestSessionStore_UseSession(t *testing.T) {
	f := newSessionFixture(t, testURL())
	t0 := base()

	t.Run("one round trip", func(t *testing.T) {
		s := newSession(t0)
		f.create(t, s)
		f.use(t, s.TokenHash, t0) // loads the script into Redis
		trips, reads := f.rt.n.Load(), f.next.byHash.Load()
		// Uses closer together than redis.SlideStep: nothing to slide, one GET each.
		const n = 10
		for i := range n {
			f.use(t, s.TokenHash, t0.Add(time.Duration(i+1)*redis.SlideStep/(2*n)))
		}
		if got := f.rt.n.Load() - trips; got != n {
			t.Errorf("%d UseSession calls made %d Redis round trips, want %d", n, got, n)
		}
		if got := f.next.byHash.Load() - reads; got != 0 {
			t.Errorf("%d UseSession calls of a cached session read next %d times, want 0", n, got)
		}
	})

	t.Run("a slide is one round trip too", func(t *testing.T) {
		s := newSession(t0)
		f.create(t, s)
		f.use(t, s.TokenHash, t0)
		trips := f.rt.n.Load()
		const n = 5
		for i := range n {
			got := f.use(t, s.TokenHash, t0.Add(time.Duration(i+1)*time.Second))
			if want := t0.Add(time.Duration(i+1)*time.Second + idle); !got.IdleExpiresAt.Equal(want) {
				t.Fatalf("use %d: IdleExpiresAt = %v, want %v", i+1, got.IdleExpiresAt, want)
			}
		}
		if got := f.rt.n.Load() - trips; got != n {
			t.Errorf("%d UseSession calls a second apart made %d Redis round trips, want %d (the script, no GET first)", n, got, n)
		}
	})

	t.Run("a session not seen here: one round trip", func(t *testing.T) {
		// As a session drawn from a million is: cached in Redis (by its
		// creation, or by another instance) but not used lately here.
		s := newSession(t0)
		f.create(t, s)
		trips := f.rt.n.Load()
		got := f.use(t, s.TokenHash, t0.Add(time.Minute))
		if want := t0.Add(time.Minute + idle); !got.IdleExpiresAt.Equal(want) {
			t.Errorf("IdleExpiresAt = %v, want %v", got.IdleExpiresAt, want)
		}
		if n := f.rt.n.Load() - trips; n != 1 {
			t.Errorf("the first use made %d Redis round trips, want 1", n)
		}
	})

	t.Run("a wrong hint costs a round trip, not an answer", func(t *testing.T) {
		// Two sessions whose token hashes share the 8 bytes the hints are
		// kept by: the hint of one is read for the other.
		a, b := newSession(t0), newSession(t0)
		copy(b.TokenHash[:8], a.TokenHash[:8])
		f.create(t, a)
		f.create(t, b)
		f.use(t, a.TokenHash, t0.Add(time.Minute)) // the hint: nothing to slide before t0+1m+step
		trips := f.rt.n.Load()
		got := f.use(t, b.TokenHash, t0.Add(time.Minute)) // b's copy still has t0's deadline
		if got.ID != b.ID || !got.IdleExpiresAt.Equal(t0.Add(time.Minute+idle)) {
			t.Errorf("b used with a's hint: %s, IdleExpiresAt %v; want %s, %v", got.ID, got.IdleExpiresAt, b.ID, t0.Add(time.Minute+idle))
		}
		if n := f.rt.n.Load() - trips; n != 2 {
			t.Errorf("made %d Redis round trips, want 2 (the GET the hint chose, then the script)", n)
		}
		if err := f.s.DeleteSession(t.Context(), a.ID); err != nil {
			t.Fatal(err)
		}
		f.use(t, b.TokenHash, t0.Add(time.Minute+100*time.Millisecond)) // b's hint now
		if _, err := f.s.UseSession(t.Context(), a.TokenHash, t0.Add(time.Minute+200*time.Millisecond), idle); !errors.Is(err, latch.ErrNotFound) {
			t.Errorf("the deleted session used with b's hint: err %v, want ErrNotFound", err)
		}
	})

	t.Run("slides", func(t *testing.T) {
		s := newSession(t0)
		s.ExpiresAt = t0.Add(time.Hour)
		f.create(t, s)
		for _, c := range []struct {
			name           string
			at             time.Duration // after t0
			wantIdle, seen time.Duration // after t0
		}{
			{"forwards", time.Minute, time.Minute + idle, time.Minute},
			{"less than a step: unchanged", time.Minute + 200*time.Millisecond, time.Minute + idle, time.Minute},
			{"a step", time.Minute + 300*time.Millisecond, time.Minute + 300*time.Millisecond + idle, time.Minute + 300*time.Millisecond},
			{"capped at the absolute deadline", 31 * time.Minute, time.Hour, 31 * time.Minute},
			{"never backwards", 5 * time.Minute, time.Hour, 31 * time.Minute},
		} {
			got := f.use(t, s.TokenHash, t0.Add(c.at))
			if !got.IdleExpiresAt.Equal(t0.Add(c.wantIdle)) || !got.LastSeenAt.Equal(t0.Add(c.seen)) {
				t.Errorf("%s: IdleExpiresAt, LastSeenAt = %v, %v; want %v, %v", c.name,
					got.IdleExpiresAt, got.LastSeenAt, t0.Add(c.wantIdle), t0.Add(c.seen))
			}
			want := *s
			want.IdleExpiresAt, want.LastSeenAt = got.IdleExpiresAt, got.LastSeenAt
			if d := sessionDiff(got, &want); d != "" {
				t.Errorf("%s: other fields changed: %s", c.name, d)
			}
		}
		// The flusher's write-back: next learns the latest deadline.
		if err := f.s.Flush(t.Context()); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		got, err := f.next.SessionByID(t.Context(), s.ID)
		if err != nil || !got.IdleExpiresAt.Equal(t0.Add(time.Hour)) || !got.LastSeenAt.Equal(t0.Add(31*time.Minute)) {
			t.Errorf("next after Flush: %+v (err %v), want the deadline and last use above", got, err)
		}
	})

	t.Run("only moved deadlines are written back", func(t *testing.T) {
		s := newSession(t0)
		f.create(t, s)
		flush := func() int64 {
			t.Helper()
			n := f.next.touches.Load()
			if err := f.s.Flush(t.Context()); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			return f.next.touches.Load() - n
		}
		flush()
		f.use(t, s.TokenHash, t0.Add(time.Minute))
		f.use(t, s.TokenHash, t0.Add(time.Minute+100*time.Millisecond))
		if n := flush(); n != 1 {
			t.Errorf("Flush after a slide wrote %d rows, want 1", n)
		}
		f.use(t, s.TokenHash, t0.Add(time.Minute+200*time.Millisecond))
		if n := flush(); n != 0 {
			t.Errorf("Flush after a use that moved nothing wrote %d rows, want 0", n)
		}
	})

	t.Run("dead at now: unchanged, from next", func(t *testing.T) {
		s := newSession(t0)
		f.create(t, s)
		reads := f.next.byHash.Load()
		got := f.use(t, s.TokenHash, t0.Add(idle))
		if d := sessionDiff(got, s); d != "" {
			t.Errorf("a dead session changed: %s", d)
		}
		if f.next.byHash.Load() == reads {
			t.Errorf("a copy dead at now was trusted without asking next")
		}
	})

	t.Run("refresh families do not slide", func(t *testing.T) {
		fam := newSession(t0)
		fam.Kind, fam.CSRFHash = latch.KindToken, nil
		f.create(t, fam)
		if got := f.use(t, fam.TokenHash, t0.Add(time.Minute)); !got.IdleExpiresAt.Equal(fam.IdleExpiresAt) {
			t.Errorf("a family slid to %v", got.IdleExpiresAt)
		}
	})

	t.Run("unknown", func(t *testing.T) {
		s, err := f.s.UseSession(t.Context(), randHash(), t0, idle)
		if !errors.Is(err, latch.ErrNotFound) || s != nil {
			t.Errorf("UseSession of an unknown hash = %v, %v; want nil, ErrNotFound", s, err)
		}
	})

	t.Run("miss fills", func(t *testing.T) {
		s := newSession(t0)
		if err := f.next.CreateSession(t.Context(), s); err != nil { // behind the decorator's back
			t.Fatal(err)
		}
		reads := f.next.byHash.Load()
		f.use(t, s.TokenHash, t0.Add(time.Second))
		if f.next.byHash.Load() != reads+1 || !f.cached(t, s.TokenHash) {
			t.Fatalf("a miss did not load from next and fill Redis")
		}
		trips := f.rt.n.Load()
		got := f.use(t, s.TokenHash, t0.Add(time.Second+redis.SlideStep/2))
		if f.next.byHash.Load() != reads+1 || f.rt.n.Load() != trips+1 {
			t.Errorf("after the fill UseSession read next or made more than one round trip")
		}
		if !got.IdleExpiresAt.Equal(t0.Add(time.Second + idle)) {
			t.Errorf("IdleExpiresAt = %v, want %v", got.IdleExpiresAt, t0.Add(time.Second+idle))
		}
	})

	t.Run("the flusher writes deadlines back", func(t *testing.T) {
		s := newSession(t0)
		f.create(t, s)
		f.s.Start(t.Context())
		want := f.use(t, s.TokenHash, t0.Add(time.Minute)).IdleExpiresAt
		waitFor(t, "the deadline in next", 3*time.Second, func() bool {
			got, err := f.next.SessionByID(t.Context(), s.ID)
			return err == nil && got.IdleExpiresAt.Equal(want)
		})
	})
}

func sessionDiff(got, want *latch.Session) string {
	switch {
	case got.ID != want.ID, got.UserID != want.UserID, got.Kind != want.Kind, got.UserAgent != want.UserAgent,
		got.IP != want.IP, got.GraceUsed != want.GraceUsed:
		return "identity or strings"
	case !bytes.Equal(got.TokenHash, want.TokenHash), !bytes.Equal(got.CSRFHash, want.CSRFHash),
		!bytes.Equal(got.PrevHash, want.PrevHash):
		return "hashes"
	case !got.CreatedAt.Equal(want.CreatedAt), !got.LastSeenAt.Equal(want.LastSeenAt), !got.RotatedAt.Equal(want.RotatedAt),
		!got.IdleExpiresAt.Equal(want.IdleExpiresAt), !got.ExpiresAt.Equal(want.ExpiresAt):
		return "times"
	}
	return ""
}

func TestSessionStore_Invalidation(t *testing.T) {
	f := newSessionFixture(t, testURL())
	t0 := base()
	wantGone := func(t *testing.T, hash []byte) {
		t.Helper()
		if s, err := f.s.SessionByTokenHash(t.Context(), hash); !errors.Is(err, latch.ErrNotFound) {
			t.Errorf("SessionByTokenHash of an invalidated hash = %v, %v; want ErrNotFound", s, err)
		}
		if s, err := f.s.UseSession(t.Context(), hash, t0, idle); !errors.Is(err, latch.ErrNotFound) {
			t.Errorf("UseSession of an invalidated hash = %v, %v; want ErrNotFound", s, err)
		}
		if f.cached(t, hash) {
			t.Errorf("an invalidated hash is cached")
		}
	}

	t.Run("ReplaceSessionToken", func(t *testing.T) {
		s := newSession(t0)
		f.create(t, s)
		f.use(t, s.TokenHash, t0.Add(time.Second))
		nh, nc := randHash(), randHash()
		if err := f.s.ReplaceSessionToken(t.Context(), s.ID, nh, nc); err != nil {
			t.Fatalf("ReplaceSessionToken: %v", err)
		}
		wantGone(t, s.TokenHash)
		if !f.cached(t, nh) {
			t.Errorf("the new token is not cached")
		}
		reads := f.next.byHash.Load()
		got := f.use(t, nh, t0.Add(2*time.Second))
		if f.next.byHash.Load() != reads || got.ID != s.ID || !bytes.Equal(got.CSRFHash, nc) {
			t.Errorf("the new token's copy: %+v (next reads %d)", got, f.next.byHash.Load()-reads)
		}
	})

	t.Run("DeleteSession", func(t *testing.T) {
		s := newSession(t0)
		f.create(t, s)
		f.use(t, s.TokenHash, t0.Add(time.Second))
		if err := f.s.DeleteSession(t.Context(), s.ID); err != nil {
			t.Fatalf("DeleteSession: %v", err)
		}
		wantGone(t, s.TokenHash)
	})

	t.Run("RotateRefresh", func(t *testing.T) {
		fam := newSession(t0)
		fam.Kind, fam.CSRFHash = latch.KindToken, nil
		f.create(t, fam)
		next := randHash()
		if _, err := f.s.RotateRefresh(t.Context(), latch.RefreshRotation{Presented: fam.TokenHash, Next: next,
			Now: t0.Add(time.Second), RefreshTTL: time.Hour}); err != nil {
			t.Fatalf("RotateRefresh: %v", err)
		}
		wantGone(t, fam.TokenHash)
		if got, err := f.s.SessionByTokenHash(t.Context(), next); err != nil || got.ID != fam.ID {
			t.Errorf("SessionByTokenHash of the successor = %v, %v", got, err)
		}
	})

	t.Run("a lookup racing a replacement cannot cache the old token", func(t *testing.T) {
		s := newSession(t0)
		f.create(t, s)
		// Not cached, so the lookup below reads next ...
		if err := f.c.Redis().Del(t.Context(), sessionKey(f.prefix, s.TokenHash)).Err(); err != nil {
			t.Fatal(err)
		}
		release := make(chan struct{})
		f.next.read = make(chan struct{})
		f.next.hold.Store(&release)
		done := make(chan error)
		go func() {
			_, err := f.s.UseSession(context.Background(), s.TokenHash, t0.Add(time.Second), idle)
			done <- err
		}()
		<-f.next.read // ... and has read the old session
		f.next.hold.Store(nil)
		if err := f.s.ReplaceSessionToken(t.Context(), s.ID, randHash(), randHash()); err != nil {
			t.Fatalf("ReplaceSessionToken: %v", err)
		}
		close(release) // now it tries to cache what it read
		if err := <-done; err != nil {
			t.Fatalf("the racing UseSession: %v", err)
		}
		wantGone(t, s.TokenHash)
	})
}

func TestOpen_URLs(t *testing.T) {
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"redis://127.0.0.1:1/0", true},
		{"redis+sentinel://127.0.0.1:1", false}, // ParseURL's errors: see TestParseURL
	} {
		t.Run(c.url, func(t *testing.T) {
			cl, err := redis.Open(t.Context(), c.url)
			if (err == nil) != c.ok {
				t.Fatalf("Open error = %v, want ok=%v", err, c.ok)
			}
			if cl != nil {
				_ = cl.Close()
			}
		})
	}
	t.Run("nothing listening", func(t *testing.T) {
		cl, err := redis.Open(t.Context(), "redis://127.0.0.1:1/0")
		if err != nil {
			t.Fatalf("Open of an address where nothing listens: %v; want a client that recovers later", err)
		}
		defer cl.Close()
		if cl.Healthy() {
			t.Errorf("a client of nothing is healthy")
		}
	})
	for _, p := range []string{"", "a:b", "a{b}", "a*", "x y"} {
		if _, err := redis.Open(t.Context(), "redis://127.0.0.1:1", redis.WithPrefix(p)); err == nil {
			t.Errorf("WithPrefix(%q) accepted", p)
		}
	}
}
