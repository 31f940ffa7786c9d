package redis_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/memory"
	"github.com/latch-dev/latch/storetest"
)

// step is one call on a throttle or limiter, at an offset from t0, with the
// answer every implementation must give.
type step struct {
	op   string // "fail", "locked", "reset" (throttle); "allow" (limiter)
	key  string
	at   time.Duration
	want time.Duration
}

// TestThrottles runs the conformance suite on Redis, which memory.
// LoginThrottle and memory.RateLimiter pass too: the two answer alike.
func TestThrottles(t *testing.T) {
	c := mustOpen(t, testURL())
	waitHealthy(t, c)
	storetest.RunThrottles(t, storetest.Throttles{
		LoginThrottle: func(t *testing.T, maxFailures int, window time.Duration) latch.LoginThrottle {
			waitHealthy(t, c) // else the fallback answers, and the suite tests memory
			return c.LoginThrottle(maxFailures, window, memory.NewLoginThrottle(maxFailures, window))
		},
		RateLimiter: func(t *testing.T, perSecond float64) latch.RateLimiter {
			waitHealthy(t, c)
			return c.RateLimiter(perSecond, memory.NewRateLimiter(perSecond))
		},
	})
}

func TestLoginThrottle_sharedByTwoInstances(t *testing.T) {
	const max, window = 3, 10 * time.Minute
	prefix := newPrefix()
	a := mustOpenPrefix(t, testURL(), prefix)
	b := mustOpenPrefix(t, testURL(), prefix)
	waitHealthy(t, a)
	waitHealthy(t, b)
	ta := a.LoginThrottle(max, window, memory.NewLoginThrottle(max, window))
	tb := b.LoginThrottle(max, window, memory.NewLoginThrottle(max, window))
	runThrottle(t, ta, tb, []step{
		{"fail", "a", 0, 0}, // on a
		{"locked", "a", 0, 0},
		{"fail", "a", time.Second, 0},
		{"locked", "a", time.Second, 0},
		{"fail", "a", 2 * time.Second, 0},
		{"locked", "a", 2 * time.Second, window - 2*time.Second}, // on b
		{"reset", "a", 3 * time.Second, 0},
		{"locked", "a", 3 * time.Second, 0},
	})
}

// Guesses in flight on two instances share one bound: concurrent
// reservations on both grant max slots in all, and the failures they settle
// lock the account for both.
func TestLoginThrottle_reservationsSharedByTwoInstances(t *testing.T) {
	const max, window, k = 3, 10 * time.Minute, 20
	prefix := newPrefix()
	a := mustOpenPrefix(t, testURL(), prefix)
	b := mustOpenPrefix(t, testURL(), prefix)
	waitHealthy(t, a)
	waitHealthy(t, b)
	throttles := []latch.LoginThrottle{
		a.LoginThrottle(max, window, memory.NewLoginThrottle(max, window)),
		b.LoginThrottle(max, window, memory.NewLoginThrottle(max, window)),
	}
	ctx, t0 := context.Background(), base()
	type grant struct {
		on int
		id string
	}
	grants := make(chan grant, 2*k)
	var wg sync.WaitGroup
	for i := range 2 * k {
		wg.Go(func() {
			id, locked, err := throttles[i%2].Reserve(ctx, "flood@example.com", t0)
			if err != nil || locked != 0 {
				t.Errorf("Reserve = %q, %v, %v; want no error and no lock", id, locked, err)
			}
			if id != "" {
				grants <- grant{i % 2, id}
			}
		})
	}
	wg.Wait()
	close(grants)
	n := 0
	for g := range grants {
		n++
		if err := throttles[g.on].Settle(ctx, "flood@example.com", g.id, true, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if n != max {
		t.Fatalf("%d concurrent reservations on two instances granted %d slots, want %d", 2*k, n, max)
	}
	for i, th := range throttles {
		if _, locked, err := th.Reserve(ctx, "flood@example.com", t0.Add(time.Second)); err != nil || locked != window {
			t.Errorf("instance %d: Reserve after %d failures: locked %v, %v; want %v", i, max, locked, err, window)
		}
	}
}

// runThrottle runs steps, alternating between two throttles (the same one
// twice for a single instance).
func runThrottle(t *testing.T, a, b latch.LoginThrottle, steps []step) {
	t.Helper()
	t0 := base()
	ctx := t.Context()
	account := map[string]string{}
	for i, s := range steps {
		th := a
		if i%2 == 1 {
			th = b
		}
		if account[s.key] == "" {
			account[s.key] = s.key + randID() + "@example.com"
		}
		var got time.Duration
		var err error
		switch s.op {
		case "fail":
			err = th.RecordFailure(ctx, account[s.key], t0.Add(s.at))
		case "reset":
			err = th.Reset(ctx, account[s.key])
		case "locked":
			got, err = th.Locked(ctx, account[s.key], t0.Add(s.at))
		}
		if err != nil || got != s.want {
			t.Errorf("step %d (%s %s at %v) = %v, %v; want %v", i, s.op, s.key, s.at, got, err, s.want)
		}
	}
}

func TestRateLimiter_sharedByTwoInstances(t *testing.T) {
	const rate = 2 // a token every 500 ms, six in a burst
	var steps []step
	for range 6 {
		steps = append(steps, step{"allow", "ip1", 0, 0})
	}
	steps = append(steps,
		step{"allow", "ip1", 0, 500 * time.Millisecond},
		step{"allow", "ip1", 100 * time.Millisecond, 400 * time.Millisecond},
		step{"allow", "ip2", 100 * time.Millisecond, 0}, // keys are apart
		step{"allow", "ip1", 500 * time.Millisecond, 0},
		step{"allow", "ip1", 500 * time.Millisecond, 500 * time.Millisecond},
	)
	prefix := newPrefix()
	a, b := mustOpenPrefix(t, testURL(), prefix), mustOpenPrefix(t, testURL(), prefix)
	waitHealthy(t, a)
	waitHealthy(t, b)
	runLimiter(t, a.RateLimiter(rate, memory.NewRateLimiter(rate)), b.RateLimiter(rate, memory.NewRateLimiter(rate)), steps)
}

func runLimiter(t *testing.T, a, b latch.RateLimiter, steps []step) {
	t.Helper()
	t0 := base()
	keys := map[string]string{}
	for i, s := range steps {
		l := a
		if i%2 == 1 {
			l = b
		}
		if keys[s.key] == "" {
			keys[s.key] = s.key + randID()
		}
		got, err := l.Allow(t.Context(), keys[s.key], t0.Add(s.at))
		if err != nil || got != s.want {
			t.Errorf("step %d (%s at %v) = %v, %v; want %v", i, s.key, s.at, got, err, s.want)
		}
	}
}

// TestThrottle_Fallback stops Redis: limits go on per instance, no caller
// sees an error, and Redis serves again once it is back.
func TestThrottle_Fallback(t *testing.T) {
	srv := startServer(t)
	c := mustOpen(t, srv.url())
	waitHealthy(t, c)
	th := c.LoginThrottle(2, time.Minute, memory.NewLoginThrottle(2, time.Minute))
	l := c.RateLimiter(1, memory.NewRateLimiter(1))
	ctx := context.Background()
	t0 := base()
	if err := th.RecordFailure(ctx, "x@example.com", t0); err != nil { // before: Redis and the fallback
		t.Fatal(err)
	}
	srv.stop()
	waitFor(t, "the outage", 2*time.Second, func() bool { return !c.Healthy() })
	if err := th.RecordFailure(ctx, "x@example.com", t0.Add(time.Second)); err != nil {
		t.Fatalf("RecordFailure while Redis is down: %v", err)
	}
	if wait, err := th.Locked(ctx, "x@example.com", t0.Add(2*time.Second)); err != nil || wait != time.Minute-2*time.Second {
		t.Errorf("Locked while Redis is down = %v, %v; want %v (the fallback saw both failures)", wait, err, time.Minute-2*time.Second)
	}
	for i := range 4 {
		wait, err := l.Allow(ctx, "ip", t0)
		want := time.Duration(0)
		if i == 3 {
			want = time.Second
		}
		if err != nil || wait != want {
			t.Errorf("Allow %d while Redis is down = %v, %v; want %v", i, wait, err, want)
		}
	}
	if err := th.Reset(ctx, "x@example.com"); err != nil {
		t.Errorf("Reset while Redis is down: %v", err)
	}
	srv.start()
	waitHealthy(t, c)
	for i := range 4 {
		wait, err := l.Allow(ctx, "ip", t0)
		if err != nil || (i < 3) != (wait == 0) {
			t.Errorf("Allow %d after the recovery = %v, %v", i, wait, err)
		}
	}
}
