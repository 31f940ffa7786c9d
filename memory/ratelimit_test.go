package memory_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/latch-dev/latch/memory"
)

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
