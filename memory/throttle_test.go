package memory_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/latch-dev/latch/memory"
)

var t0 = time.Date(2031, time.March, 14, 15, 9, 26, 0, time.UTC)

func TestLoginThrottle_Locked(t *testing.T) {
	const window = 15 * time.Minute
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for _, c := range []struct {
		name     string
		max      int
		failures []time.Duration // after t0, in the order recorded
		reset    bool            // Reset after the failures
		now      time.Duration
		want     time.Duration
	}{
		{"no failures", 3, nil, false, 0, 0},
		{"below the limit", 3, []time.Duration{0, time.Minute}, false, 2 * time.Minute, 0},
		{"at the limit", 3, []time.Duration{0, time.Minute, 2 * time.Minute}, false, 2 * time.Minute, 13 * time.Minute},
		{"just before the oldest leaves", 3, []time.Duration{0, time.Minute, 2 * time.Minute}, false, window - time.Nanosecond, time.Nanosecond},
		{"the oldest has left", 3, []time.Duration{0, time.Minute, 2 * time.Minute}, false, window, 0},
		{"spread wider than the window", 3, []time.Duration{0, 10 * time.Minute, 20 * time.Minute}, false, 20 * time.Minute, 0},
		{"over the limit: the lock lasts until only max-1 remain", 3, []time.Duration{0, time.Minute, 2 * time.Minute, 3 * time.Minute}, false, window, time.Minute},
		{"recorded out of order", 3, []time.Duration{2 * time.Minute, 0, time.Minute}, false, 2 * time.Minute, 13 * time.Minute},
		{"reset", 3, []time.Duration{0, time.Minute, 2 * time.Minute}, true, 2 * time.Minute, 0},
		{"limit of one", 1, []time.Duration{0}, false, time.Minute, 14 * time.Minute},
		{"off", 0, []time.Duration{0, 0, 0, 0}, false, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := memory.NewLoginThrottle(c.max, window)
			for _, f := range c.failures {
				if err := l.RecordFailure(t.Context(), "a@example.com", at(f)); err != nil {
					t.Fatalf("RecordFailure: %v", err)
				}
			}
			if c.reset {
				if err := l.Reset(t.Context(), "a@example.com"); err != nil {
					t.Fatalf("Reset: %v", err)
				}
			}
			got, err := l.Locked(t.Context(), "a@example.com", at(c.now))
			if err != nil {
				t.Fatalf("Locked: %v", err)
			}
			if got != c.want {
				t.Errorf("Locked = %v, want %v", got, c.want)
			}
		})
	}
}

func TestLoginThrottle_perAccount(t *testing.T) {
	l := memory.NewLoginThrottle(2, time.Minute)
	for range 2 {
		if err := l.RecordFailure(t.Context(), "a@example.com", t0); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		account string
		locked  bool
	}{{"a@example.com", true}, {"b@example.com", false}} {
		d, err := l.Locked(t.Context(), c.account, t0)
		if err != nil {
			t.Fatal(err)
		}
		if (d > 0) != c.locked {
			t.Errorf("Locked(%s) = %v, want locked %v", c.account, d, c.locked)
		}
	}
}

func TestLoginThrottle_zeroValue(t *testing.T) {
	var l memory.LoginThrottle
	for range 10 {
		if err := l.RecordFailure(t.Context(), "a@example.com", t0); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := l.Locked(t.Context(), "a@example.com", t0); err != nil || d != 0 {
		t.Errorf("zero LoginThrottle: Locked = %v, %v; want 0, nil", d, err)
	}
}

func TestLoginThrottle_bounded(t *testing.T) {
	const window = time.Minute
	l := memory.NewLoginThrottle(3, window)
	// A spray of unknown addresses, one failure each, a second apart.
	const n = 10_000
	for i := range n {
		if err := l.RecordFailure(t.Context(), fmt.Sprintf("u%d@example.com", i), t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	// Only the accounts of the last window (plus what accumulated since the
	// last sweep) may stay: far fewer than n.
	if got := l.Len(); got > 2*1024+int(window/time.Second) {
		t.Errorf("after %d accounts spread over %v the throttle tracks %d; want old ones forgotten", n, n*time.Second, got)
	}
	// Pruning must not forget a live lock.
	for range 3 {
		if err := l.RecordFailure(t.Context(), "victim@example.com", t0.Add(n*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3000 {
		if err := l.RecordFailure(t.Context(), fmt.Sprintf("v%d@example.com", i), t0.Add(n*time.Second+time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	if d, _ := l.Locked(t.Context(), "victim@example.com", t0.Add(n*time.Second+30*time.Second)); d != 30*time.Second {
		t.Errorf("Locked after sweeps = %v, want 30s", d)
	}
}
