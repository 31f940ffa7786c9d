package memory_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/latch-dev/latch/memory"
)

func TestRateLimiter_Allow(t *testing.T) {
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
			l := memory.NewRateLimiter(c.rate)
			for i, k := range c.calls {
				var got time.Duration
				for range max(k.n, 1) {
					var err error
					if got, err = l.Allow(t.Context(), "192.0.2.1", t0.Add(k.at)); err != nil {
						t.Fatalf("Allow: %v", err)
					}
				}
				if got != k.want {
					t.Fatalf("call %d (%d at %v): Allow = %v, want %v", i, max(k.n, 1), k.at, got, k.want)
				}
			}
		})
	}
}

func TestRateLimiter_perKey(t *testing.T) {
	l := memory.NewRateLimiter(1)
	for range 3 {
		if d, _ := l.Allow(t.Context(), "192.0.2.1", t0); d != 0 {
			t.Fatalf("Allow within the burst = %v", d)
		}
	}
	if d, _ := l.Allow(t.Context(), "192.0.2.1", t0); d != time.Second {
		t.Errorf("Allow past the burst = %v, want 1s", d)
	}
	if d, _ := l.Allow(t.Context(), "192.0.2.2", t0); d != 0 {
		t.Errorf("Allow of another key = %v, want 0", d)
	}
}

func TestRateLimiter_zeroValue(t *testing.T) {
	var l memory.RateLimiter
	for range 100 {
		if d, err := l.Allow(t.Context(), "192.0.2.1", t0); err != nil || d != 0 {
			t.Fatalf("zero RateLimiter: Allow = %v, %v; want 0, nil", d, err)
		}
	}
}

func TestRateLimiter_bounded(t *testing.T) {
	l := memory.NewRateLimiter(10)
	const n = 10_000
	for i := range n {
		// One key a millisecond: each bucket is full again 100 ms later.
		if _, err := l.Allow(t.Context(), fmt.Sprintf("10.0.%d.%d", i/256, i%256), t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.Len(); got > 2*1024 {
		t.Errorf("after %d keys the limiter tracks %d; want full buckets forgotten", n, got)
	}
	// A sweep must keep a bucket that is not full.
	now := t0.Add(n * time.Millisecond)
	for range 30 {
		_, _ = l.Allow(t.Context(), "192.0.2.1", now)
	}
	for i := range 3000 {
		_, _ = l.Allow(t.Context(), fmt.Sprintf("10.1.%d.%d", i/256, i%256), now)
	}
	if d, _ := l.Allow(t.Context(), "192.0.2.1", now); d != 100*time.Millisecond {
		t.Errorf("Allow of an empty bucket after sweeps = %v, want 100ms", d)
	}
}
