package storetest

import (
	"sync"
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
	t.Run("LoginThrottle reservations", func(t *testing.T) {
		if th.LoginThrottle == nil {
			t.Skip("no LoginThrottle to test")
		}
		testReserve(t, th.LoginThrottle)
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

// testReserve checks the slots of guesses in flight: the failures within
// the window plus the reservations held never exceed maxFailures.
func testReserve(t *testing.T, open func(*testing.T, int, time.Duration) latch.LoginThrottle) {
	const window = 15 * time.Minute
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	type answer struct {
		granted bool
		locked  time.Duration
	}
	reserve := func(t *testing.T, l latch.LoginThrottle, account string, d time.Duration) (string, answer) {
		t.Helper()
		id, locked, err := l.Reserve(ctx(t), account, at(d))
		wantErr(t, "Reserve", err, nil)
		if id != "" && locked != 0 {
			t.Errorf("Reserve granted %q and said locked %v", id, locked)
		}
		return id, answer{id != "", locked}
	}
	settle := func(t *testing.T, l latch.LoginThrottle, account, id string, failed bool, d time.Duration) {
		t.Helper()
		wantErr(t, "Settle", l.Settle(ctx(t), account, id, failed, at(d)), nil)
	}
	granted, busy := answer{granted: true}, answer{}

	t.Run("steps", func(t *testing.T) {
		type step struct {
			op   string // "reserve", "fail" (settle as a failure), "release" (settle without), "record", "reset"
			n    int    // "fail"/"release": which reservation (1 = the first granted)
			at   time.Duration
			want answer // of "reserve"
		}
		for _, c := range []struct {
			name  string
			max   int
			steps []step
		}{
			{"slots up to the limit, then busy", 3, []step{
				{"reserve", 0, 0, granted}, {"reserve", 0, 0, granted}, {"reserve", 0, 0, granted},
				{"reserve", 0, 0, busy},
			}},
			{"a slot given back is free again", 2, []step{
				{"reserve", 0, 0, granted}, {"reserve", 0, 0, granted}, {"reserve", 0, 0, busy},
				{"release", 1, time.Second, answer{}}, {"reserve", 0, time.Second, granted},
			}},
			{"a failed guess keeps its slot as a failure", 2, []step{
				{"reserve", 0, 0, granted}, {"reserve", 0, 0, granted},
				{"fail", 1, time.Second, answer{}}, {"reserve", 0, time.Second, busy},
				{"fail", 2, time.Second, answer{}}, {"reserve", 0, time.Second, answer{locked: window}},
			}},
			{"failures recorded before count", 3, []step{
				{"record", 0, 0, answer{}}, {"record", 0, 0, answer{}},
				{"reserve", 0, 0, granted}, {"reserve", 0, 0, busy},
			}},
			{"failures that left the window do not count", 2, []step{
				{"record", 0, 0, answer{}}, {"record", 0, time.Minute, answer{}},
				{"reserve", 0, window, granted}, {"reserve", 0, window, busy},
			}},
			{"locked: the lock's end, as Locked says", 2, []step{
				{"record", 0, 0, answer{}}, {"record", 0, time.Minute, answer{}},
				{"reserve", 0, 2 * time.Minute, answer{locked: 13 * time.Minute}},
			}},
			{"reset keeps the slots in flight", 2, []step{
				{"record", 0, 0, answer{}}, {"reserve", 0, 0, granted}, {"reserve", 0, 0, busy},
				{"reset", 0, 0, answer{}}, {"reserve", 0, 0, granted}, {"reserve", 0, 0, busy},
			}},
			{"a reservation ends with its lease", 1, []step{
				{"reserve", 0, 0, granted}, {"reserve", 0, latch.GuessLease - time.Microsecond, busy},
				{"reserve", 0, latch.GuessLease, granted},
			}},
			{"off", 0, []step{
				{"record", 0, 0, answer{}}, {"reserve", 0, 0, granted}, {"reserve", 0, 0, granted}, {"fail", 1, 0, answer{}},
				{"reserve", 0, 0, granted},
			}},
		} {
			t.Run(c.name, func(t *testing.T) {
				l := open(t, c.max, window)
				account := newID() + "@example.com"
				var ids []string
				for i, s := range c.steps {
					switch s.op {
					case "reserve":
						id, got := reserve(t, l, account, s.at)
						if got != s.want {
							t.Fatalf("step %d (reserve at %v) = %+v, want %+v", i, s.at, got, s.want)
						}
						if id != "" {
							ids = append(ids, id)
						}
					case "fail", "release":
						settle(t, l, account, ids[s.n-1], s.op == "fail", s.at)
					case "record":
						wantErr(t, "RecordFailure", l.RecordFailure(ctx(t), account, at(s.at)), nil)
					case "reset":
						wantErr(t, "Reset", l.Reset(ctx(t), account), nil)
					}
				}
			})
		}
	})

	t.Run("unknown ids", func(t *testing.T) {
		l := open(t, 2, window)
		account := newID() + "@example.com"
		settle(t, l, account, "no-such-reservation", false, 0)
		settle(t, l, account, "no-such-reservation", true, 0) // still a failure
		settle(t, l, account, "", true, 0)
		if got, err := l.Locked(ctx(t), account, at(time.Minute)); err != nil || got != window-time.Minute {
			t.Errorf("Locked after two failures settled under unknown ids = %v, %v; want %v", got, err, window-time.Minute)
		}
	})

	t.Run("accounts are apart", func(t *testing.T) {
		l := open(t, 1, window)
		a, b := newID()+"@example.com", newID()+"@example.com"
		if _, got := reserve(t, l, a, 0); got != granted {
			t.Fatalf("Reserve of a = %+v, want granted", got)
		}
		if _, got := reserve(t, l, b, 0); got != granted {
			t.Errorf("Reserve of b while a is in flight = %+v, want granted", got)
		}
	})

	// The bug this guards against: concurrent guesses all passing the
	// check before any was counted.
	t.Run("concurrent reservations grant at most the limit", func(t *testing.T) {
		const max, k = 3, 40
		l := open(t, max, window)
		account := newID() + "@example.com"
		var wg sync.WaitGroup
		ids := make(chan string, k)
		for range k {
			wg.Go(func() {
				id, locked, err := l.Reserve(ctx(t), account, t0)
				if err != nil || locked != 0 {
					t.Errorf("Reserve = %q, %v, %v; want no error and no lock", id, locked, err)
				}
				if id != "" {
					ids <- id
				}
			})
		}
		wg.Wait()
		close(ids)
		seen := map[string]bool{}
		for id := range ids {
			if seen[id] {
				t.Errorf("reservation id %q granted twice", id)
			}
			seen[id] = true
		}
		if len(seen) != max {
			t.Fatalf("%d concurrent reservations granted %d slots, want %d", k, len(seen), max)
		}
		for id := range seen {
			wg.Go(func() { settle(t, l, account, id, true, time.Second) })
		}
		wg.Wait()
		if got, err := l.Locked(ctx(t), account, at(time.Second)); err != nil || got != window {
			t.Errorf("Locked after the %d granted guesses failed = %v, %v; want %v", max, got, err, window)
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
