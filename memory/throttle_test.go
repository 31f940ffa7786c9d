package memory_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/latch-dev/latch/memory"
)

var t0 = time.Date(2031, time.March, 14, 15, 9, 26, 0, time.UTC)

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
