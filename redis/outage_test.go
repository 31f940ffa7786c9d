package redis_test

import (
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/memory"
	"github.com/latch-dev/latch/redis"
)

// TestOutage_Partition cuts one client off a Redis that keeps its data, so
// that writes made meanwhile leave stale copies there, and checks that the
// client answers from next throughout and deletes the stale copies before
// it trusts Redis again.
func TestOutage_Partition(t *testing.T) {
	srv := startServer(t)
	px := newProxy(t, srv.addr())
	f := newSessionFixture(t, px.url())
	direct := goredis.NewClient(&goredis.Options{Addr: srv.addr(), DisableIdentity: true})
	defer direct.Close()
	t0 := base()

	a, b := newSession(t0), newSession(t0)
	f.create(t, a)
	f.create(t, b)
	f.use(t, a.TokenHash, t0.Add(time.Second))
	f.use(t, b.TokenHash, t0.Add(time.Second))

	px.set(cut)
	start := time.Now()
	if got := f.use(t, a.TokenHash, t0.Add(2*time.Second)); got.ID != a.ID {
		t.Fatalf("UseSession during the outage returned %s, want %s", got.ID, a.ID)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the first lookup during the outage took %v", d)
	}
	if f.c.Healthy() {
		t.Fatalf("healthy after a failed command")
	}
	start = time.Now()
	for i := range 20 {
		f.use(t, a.TokenHash, t0.Add(3*time.Second+time.Duration(i)*time.Millisecond))
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("20 lookups while Redis is known to be down took %v: they should not wait for it", d)
	}

	// Writes succeed without Redis, and leave it stale.
	nb := randHash()
	if err := f.s.ReplaceSessionToken(t.Context(), b.ID, nb, randHash()); err != nil {
		t.Fatalf("ReplaceSessionToken during the outage: %v", err)
	}
	if err := f.s.DeleteSession(t.Context(), a.ID); err != nil {
		t.Fatalf("DeleteSession during the outage: %v", err)
	}
	if n := direct.Exists(t.Context(), sessionKey(f.prefix, b.TokenHash), sessionKey(f.prefix, a.TokenHash)).Val(); n != 2 {
		t.Fatalf("the test needs the stale copies in Redis; found %d of 2", n)
	}
	for _, h := range [][]byte{a.TokenHash, b.TokenHash} {
		if _, err := f.s.UseSession(t.Context(), h, t0.Add(4*time.Second), idle); !errors.Is(err, latch.ErrNotFound) {
			t.Errorf("UseSession of a dead token during the outage: %v, want ErrNotFound", err)
		}
	}
	if got := f.use(t, nb, t0.Add(4*time.Second)); got.ID != b.ID {
		t.Errorf("the new token during the outage found %s", got.ID)
	}

	px.set(forward)
	waitHealthy(t, f.c) // by itself: nothing calls it meanwhile
	if n := direct.Exists(t.Context(), sessionKey(f.prefix, b.TokenHash), sessionKey(f.prefix, a.TokenHash)).Val(); n != 0 {
		t.Errorf("%d stale copies survived the recovery", n)
	}
	for _, h := range [][]byte{a.TokenHash, b.TokenHash} {
		if _, err := f.s.UseSession(t.Context(), h, t0.Add(5*time.Second), idle); !errors.Is(err, latch.ErrNotFound) {
			t.Errorf("UseSession of a dead token after the recovery: %v, want ErrNotFound", err)
		}
	}
	f.use(t, nb, t0.Add(5*time.Second)) // fills
	trips, reads := f.rt.n.Load(), f.next.byHash.Load()
	f.use(t, nb, t0.Add(5*time.Second+redis.SlideStep/2))
	if f.rt.n.Load() != trips+1 || f.next.byHash.Load() != reads {
		t.Errorf("after the recovery UseSession is not served by Redis in one round trip")
	}
}

// TestOutage_Hang blackholes Redis: the first lookup waits for the short
// read timeout, then Redis is known to be down and nothing waits for it.
func TestOutage_Hang(t *testing.T) {
	srv := startServer(t)
	px := newProxy(t, srv.addr())
	f := newSessionFixture(t, px.url())
	t0 := base()
	a := newSession(t0)
	f.create(t, a)
	f.use(t, a.TokenHash, t0.Add(time.Second))

	px.set(hang)
	start := time.Now()
	if got := f.use(t, a.TokenHash, t0.Add(2*time.Second)); got.ID != a.ID {
		t.Fatalf("UseSession during the hang returned %s", got.ID)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the first lookup into the hang took %v; timeouts should be well under a second", d)
	}
	start = time.Now()
	for i := range 20 {
		f.use(t, a.TokenHash, t0.Add(3*time.Second+time.Duration(i)*time.Millisecond))
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("20 lookups while Redis hangs took %v", d)
	}
	px.set(forward)
	waitHealthy(t, f.c)
}

// TestOutage_RestartEmpty kills Redis, keeps working on next, restarts it
// empty and checks that the client recovers by itself, refilling the
// revocation set.
func TestOutage_RestartEmpty(t *testing.T) {
	srv := startServer(t)
	prefix := newPrefix()
	c := mustOpenPrefix(t, srv.url(), prefix)
	sessNext := &countingSessions{SessionStore: &memory.SessionStore{}}
	revNext := &countingRevocations{RevocationStore: &memory.RevocationStore{}}
	sessions, revs := c.Sessions(sessNext), c.Revocations(revNext)
	defer sessions.Close()
	throttle := c.LoginThrottle(3, time.Minute, memory.NewLoginThrottle(3, time.Minute))
	limiter := c.RateLimiter(1, memory.NewRateLimiter(1))
	waitHealthy(t, c)
	t0 := base()
	ctx := t.Context()

	a := newSession(t0)
	if err := sessions.CreateSession(ctx, a); err != nil {
		t.Fatal(err)
	}
	r1 := &latch.Revocation{Kind: latch.RevokeSID, Value: a.ID, Expires: t0.Add(time.Hour), CreatedAt: t0}
	if err := revs.AddRevocations(ctx, []*latch.Revocation{r1}); err != nil {
		t.Fatal(err)
	}

	srv.stop()
	waitFor(t, "the outage to be noticed without traffic", 2*time.Second, func() bool { return !c.Healthy() })

	if got, err := sessions.UseSession(ctx, a.TokenHash, t0.Add(time.Second), idle); err != nil || got.ID != a.ID {
		t.Fatalf("UseSession while Redis is down = %v, %v", got, err)
	}
	b := newSession(t0)
	if err := sessions.CreateSession(ctx, b); err != nil {
		t.Fatalf("CreateSession while Redis is down: %v", err)
	}
	r2 := &latch.Revocation{Kind: latch.RevokeJTI, Value: randID(), Expires: t0.Add(time.Hour), CreatedAt: t0}
	if err := revs.AddRevocations(ctx, []*latch.Revocation{r2}); err != nil {
		t.Fatalf("AddRevocations while Redis is down: %v", err)
	}
	if got, err := revs.RevocationsSince(ctx, 0, t0, 0); err != nil || len(got) != 2 {
		t.Fatalf("RevocationsSince while Redis is down = %d entries, %v; want 2", len(got), err)
	}
	for i := range 3 {
		if err := throttle.RecordFailure(ctx, "someone@example.com", t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatalf("RecordFailure while Redis is down: %v", err)
		}
	}
	if wait, err := throttle.Locked(ctx, "someone@example.com", t0.Add(3*time.Second)); err != nil || wait != time.Minute-3*time.Second {
		t.Errorf("Locked while Redis is down = %v, %v; want %v from the fallback", wait, err, time.Minute-3*time.Second)
	}
	if _, err := limiter.Allow(ctx, "192.0.2.1", t0); err != nil {
		t.Errorf("Allow while Redis is down: %v", err)
	}

	srv.start() // empty
	waitHealthy(t, c)

	// The revocation set was refilled from next, entries added during the
	// outage included, and is served from Redis again.
	if n := c.Redis().ZCard(ctx, "{"+prefix+":r}").Val(); n != 2 {
		t.Errorf("after the restart Redis holds %d revocations, want 2", n)
	}
	rows := revNext.rows.Load()
	got, err := revs.RevocationsSince(ctx, 0, t0, 0)
	if err != nil || len(got) != 2 || got[0].Seq != r1.Seq || got[1].Seq != r2.Seq {
		t.Errorf("RevocationsSince after the restart = %v, %v", got, err)
	}
	if n := revNext.rows.Load() - rows; n != 0 {
		t.Errorf("RevocationsSince after the recovery read %d entries from next, want 0", n)
	}
	// Sessions reload from next and are cached again.
	for _, s := range []*latch.Session{a, b} {
		if got, err := sessions.UseSession(ctx, s.TokenHash, t0.Add(2*time.Second), idle); err != nil || got.ID != s.ID {
			t.Errorf("UseSession after the restart = %v, %v", got, err)
		}
	}
	hashReads := sessNext.byHash.Load()
	if _, err := sessions.UseSession(ctx, b.TokenHash, t0.Add(3*time.Second), idle); err != nil || sessNext.byHash.Load() != hashReads {
		t.Errorf("UseSession after the refill read next (err %v)", err)
	}
	// The throttle is shared again: Redis starts empty, so not locked.
	if wait, err := throttle.Locked(ctx, "someone@example.com", t0.Add(3*time.Second)); err != nil || wait != 0 {
		t.Errorf("Locked from the restarted Redis = %v, %v; want 0", wait, err)
	}
}

// TestRevocationStore_LostSet empties the revocation keys behind the
// client's back (a restart between two health checks) and checks that
// reads notice, answer from next, and refill.
func TestRevocationStore_LostSet(t *testing.T) {
	prefix := newPrefix()
	c := mustOpenPrefix(t, testURL(), prefix)
	next := &countingRevocations{RevocationStore: &memory.RevocationStore{}}
	revs := c.Revocations(next)
	waitHealthy(t, c)
	t0 := base()
	var all []*latch.Revocation
	for range 5 {
		all = append(all, &latch.Revocation{Kind: latch.RevokeJTI, Value: randID(), Expires: t0.Add(time.Hour), CreatedAt: t0})
	}
	if err := revs.AddRevocations(t.Context(), all); err != nil {
		t.Fatal(err)
	}
	if err := deleteKeys(t.Context(), c.Redis(), "{"+prefix+":r}*"); err != nil {
		t.Fatal(err)
	}
	got, err := revs.RevocationsSince(t.Context(), 0, t0, 0)
	if err != nil || len(got) != len(all) {
		t.Fatalf("RevocationsSince after Redis lost the set = %d entries, %v; want %d", len(got), err, len(all))
	}
	waitFor(t, "the refill", 5*time.Second, func() bool {
		return c.Healthy() && c.Redis().ZCard(t.Context(), "{"+prefix+":r}").Val() == int64(len(all))
	})
	rows := next.rows.Load()
	if got, err := revs.RevocationsSince(t.Context(), all[1].Seq, t0, 2); err != nil || len(got) != 2 || got[0].Seq != all[2].Seq {
		t.Errorf("RevocationsSince after the refill = %v, %v", got, err)
	}
	if n := next.rows.Load() - rows; n != 0 {
		t.Errorf("RevocationsSince after the refill read %d entries from next, want 0", n)
	}
}
