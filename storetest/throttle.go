package storetest

import (
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

// Throttles is what a package with a login throttle and a rate limiter
// hands RunThrottles: constructors of new ones. Accounts and keys are
// random per test, so the ones returned may share state with earlier ones.
// A nil field skips the tests of that interface.
type Throttles struct {
	// LoginThrottle returns a throttle that locks an account after
	// maxFailures failures within window (--login-max-failures,
	// --login-failure-window); maxFailures <= 0 turns it off.
	LoginThrottle func(t *testing.T, maxFailures int, window time.Duration) latch.LoginThrottle
	// RateLimiter returns a token bucket per key that refills at perSecond
	// tokens a second and holds three seconds' worth, at least one
	// (--login-ip-rate); perSecond <= 0 turns it off.
	RateLimiter func(t *testing.T, perSecond float64) latch.RateLimiter
}

// RunThrottles runs the conformance suite of latch.LoginThrottle and
// latch.RateLimiter as subtests of t. Times are whole microseconds.
func RunThrottles(t *testing.T, th Throttles) {
	t.Helper()
	t.Run("LoginThrottle", func(t *testing.T) {
		if th.LoginThrottle == nil {
			t.Skip("no LoginThrottle to test")
		}
		testLoginThrottle(t, th.LoginThrottle)
	})
	t.Run("RateLimiter", func(t *testing.T) {
		if th.RateLimiter == nil {
			t.Skip("no RateLimiter to test")
		}
		testRateLimiter(t, th.RateLimiter)
	})
}

func testLoginThrottle(t *testing.T, open func(*testing.T, int, time.Duration) latch.LoginThrottle) {
	const window = 15 * time.Minute
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	fail := func(t *testing.T, l latch.LoginThrottle, account string, d time.Duration) {
		t.Helper()
		wantErr(t, "RecordFailure", l.RecordFailure(ctx(t), account, at(d)), nil)
	}
	locked := func(t *testing.T, l latch.LoginThrottle, account string, d time.Duration) time.Duration {
		t.Helper()
		wait, err := l.Locked(ctx(t), account, at(d))
		wantErr(t, "Locked", err, nil)
		return wait
	}

	t.Run("Locked", func(t *testing.T) {
		three := []time.Duration{0, time.Minute, 2 * time.Minute}
		for _, c := range []struct {
			name     string
			max      int
			failures []time.Duration // after t0, in the order recorded
			reset    bool            // Reset after the failures
			now      time.Duration
			want     time.Duration
		}{
			{"no failures", 3, nil, false, 0, 0},
			{"below the limit", 3, three[:2], false, 2 * time.Minute, 0},
			{"at the limit: until the oldest leaves the window", 3, three, false, 2 * time.Minute, 13 * time.Minute},
			{"just before the oldest leaves", 3, three, false, window - time.Microsecond, time.Microsecond},
			{"the oldest has left", 3, three, false, window, 0},
			{"spread wider than the window", 3, []time.Duration{0, 10 * time.Minute, 20 * time.Minute}, false, 20 * time.Minute, 0},
			{"over the limit: locked until only max-1 remain", 3, []time.Duration{0, time.Minute, 2 * time.Minute, 3 * time.Minute}, false, window, time.Minute},
			// Concurrent logins may report out of order.
			{"recorded out of order", 3, []time.Duration{2 * time.Minute, 0, time.Minute}, false, 2 * time.Minute, 13 * time.Minute},
			{"reset", 3, three, true, 2 * time.Minute, 0},
			{"limit of one", 1, []time.Duration{0}, false, time.Minute, 14 * time.Minute},
			{"off", 0, []time.Duration{0, 0, 0, 0}, false, 0, 0},
		} {
			t.Run(c.name, func(t *testing.T) {
				l := open(t, c.max, window)
				account := newID() + "@example.com"
				for _, f := range c.failures {
					fail(t, l, account, f)
				}
				if c.reset {
					wantErr(t, "Reset", l.Reset(ctx(t), account), nil)
				}
				if got := locked(t, l, account, c.now); got != c.want {
					t.Errorf("Locked = %v, want %v", got, c.want)
				}
			})
		}
	})

	t.Run("accounts are apart", func(t *testing.T) {
		l := open(t, 2, time.Minute)
		a, b := newID()+"@example.com", newID()+"@example.com"
		fail(t, l, a, 0)
		fail(t, l, a, 0)
		if got := locked(t, l, a, 0); got != time.Minute {
			t.Errorf("Locked of the failing account = %v, want 1m", got)
		}
		if got := locked(t, l, b, 0); got != 0 {
			t.Errorf("Locked of another account = %v, want 0", got)
		}
		wantErr(t, "Reset of another account", l.Reset(ctx(t), b), nil)
		if got := locked(t, l, a, 0); got != time.Minute {
			t.Errorf("Locked after Reset of another account = %v, want 1m", got)
		}
	})

	t.Run("a lock ends and comes back", func(t *testing.T) {
		const window = 10 * time.Minute
		l := open(t, 3, window)
		account := newID() + "@example.com"
		for i, s := range []struct {
			op   string // "fail", "locked" or "reset"
			at   time.Duration
			want time.Duration // of "locked"
		}{
			{"fail", 0, 0},
			{"fail", time.Minute, 0},
			{"locked", 2 * time.Minute, 0}, // two failures of three
			{"fail", 2 * time.Minute, 0},
			{"locked", 2 * time.Minute, 8 * time.Minute},
			{"locked", 9*time.Minute + 500*time.Millisecond, time.Minute - 500*time.Millisecond},
			{"locked", 10 * time.Minute, 0}, // the first failure left the window
			{"fail", 10 * time.Minute, 0},   // the newest three: 1m, 2m, 10m
			{"locked", 10 * time.Minute, time.Minute},
			{"reset", 10 * time.Minute, 0},
			{"locked", 10 * time.Minute, 0},
			{"fail", 11 * time.Minute, 0}, // counting starts over
			{"locked", 11 * time.Minute, 0},
		} {
			var got time.Duration
			switch s.op {
			case "fail":
				fail(t, l, account, s.at)
			case "reset":
				wantErr(t, "Reset", l.Reset(ctx(t), account), nil)
			case "locked":
				got = locked(t, l, account, s.at)
			}
			if got != s.want {
				t.Errorf("step %d (%s at %v): Locked = %v, want %v", i, s.op, s.at, got, s.want)
			}
		}
	})
}

func testRateLimiter(t *testing.T, open func(*testing.T, float64) latch.RateLimiter) {
	t.Run("Allow", func(t *testing.T) {
		type call struct {
			at   time.Duration // after t0
			n    int           // calls at that time (1 when 0)
			want time.Duration // of the last of them
		}
		for _, c := range []struct {
			name  string
			rate  float64
			calls []call
		}{
			{"burst of three times the rate", 2, []call{{0, 6, 0}, {0, 1, 500 * time.Millisecond}}},
			{"refill of one token", 2, []call{{0, 6, 0}, {500 * time.Millisecond, 1, 0}, {500 * time.Millisecond, 1, 500 * time.Millisecond}}},
			{"partial refill", 2, []call{{0, 6, 0}, {200 * time.Millisecond, 1, 300 * time.Millisecond}}},
			{"refused calls take nothing", 2, []call{{0, 6, 0}, {0, 10, 500 * time.Millisecond}, {500 * time.Millisecond, 1, 0}}},
			{"refill caps at the burst", 2, []call{{0, 6, 0}, {time.Hour, 6, 0}, {time.Hour, 1, 500 * time.Millisecond}}},
			{"steady at the rate", 10, []call{{0, 30, 0}, {100 * time.Millisecond, 1, 0}, {200 * time.Millisecond, 1, 0}, {200 * time.Millisecond, 1, 100 * time.Millisecond}}},
			{"slow rate keeps one token", 0.1, []call{{0, 1, 0}, {0, 1, 10 * time.Second}, {10 * time.Second, 1, 0}}},
			{"off", 0, []call{{0, 1000, 0}}},
			{"clock going backwards mints nothing", 2, []call{{time.Second, 6, 0}, {0, 1, 1500 * time.Millisecond}}},
		} {
			t.Run(c.name, func(t *testing.T) {
				l := open(t, c.rate)
				key := newID()
				for i, k := range c.calls {
					var got time.Duration
					for range max(k.n, 1) {
						var err error
						got, err = l.Allow(ctx(t), key, t0.Add(k.at))
						wantErr(t, "Allow", err, nil)
					}
					if got != k.want {
						t.Fatalf("call %d (%d at %v): Allow = %v, want %v", i, max(k.n, 1), k.at, got, k.want)
					}
				}
			})
		}
	})

	t.Run("keys are apart", func(t *testing.T) {
		l := open(t, 1)
		a, b := newID(), newID()
		for range 3 {
			if wait, err := l.Allow(ctx(t), a, t0); err != nil || wait != 0 {
				t.Fatalf("Allow within the burst = %v, %v; want 0, nil", wait, err)
			}
		}
		if wait, err := l.Allow(ctx(t), a, t0); err != nil || wait != time.Second {
			t.Errorf("Allow past the burst = %v, %v; want 1s, nil", wait, err)
		}
		if wait, err := l.Allow(ctx(t), b, t0); err != nil || wait != 0 {
			t.Errorf("Allow of another key = %v, %v; want 0, nil", wait, err)
		}
	})
}
