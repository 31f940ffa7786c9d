package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		name              string
		floor, live, scan uint64
		base, want        int
	}{
		{"a small heap: Go's minimum scaled to the floor", 16 * mib, 1 * mib, 1200 * 1024, 100, 400},
		{"a middling heap: its own goal reaches the floor first", 16 * mib, 6 * mib, 6 * mib, 100, 166},
		{"a heap whose goal passes the floor unaided", 16 * mib, 10 * mib, 10*mib + 300*1024, 100, 100},
		{"a live heap above the floor", 16 * mib, 40 * mib, 41 * mib, 100, 100},
		{"never below the operator's GOGC", 16 * mib, 1 * mib, 1 * mib, 800, 800},
		{"the operator's GOGC raised where the floor needs more", 64 * mib, 1 * mib, 1 * mib, 200, 1600},
		{"the collector off stays off", 16 * mib, 1 * mib, 1 * mib, -1, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Percent(c.floor, c.live, c.scan, c.base); got != c.want {
				t.Errorf("Percent(%d, %d, %d, %d) = %d, want %d", c.floor, c.live, c.scan, c.base, got, c.want)
			}
		})
	}
}

func TestStart_refuses(t *testing.T) {
	if _, err := Start(1 << 20); err == nil {
		t.Error("a floor under Go's 4 MiB minimum was accepted")
	}
	old := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(old)
	if _, err := Start(16 << 20); err == nil {
		t.Error("started with the collector off")
	}
}

// heapGoal is the runtime's current heap goal.
func heapGoal() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// collectUntil runs collections until ok holds (the floor acts on the
// runtime's cleanup goroutine, just after a collection), or fails.
func collectUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		runtime.GC()
		time.Sleep(time.Millisecond)
		if ok() {
			return
		}
	}
	t.Fatalf("%s: not after 5 s of collections (heap goal %d, GOGC %d)", what, heapGoal(), gogc())
}

func TestFloor(t *testing.T) {
	const floor = 64 << 20
	base := gogc()
	f, err := Start(floor)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()

	// A small live heap: the goal is held at the floor, not at Go's 4 MiB
	// or twice the live heap.
	collectUntil(t, "the goal at the floor with a small heap", func() bool {
		g := heapGoal()
		return g >= floor*95/100 && g <= floor*105/100
	})

	// A live heap whose own goal passes the floor: GOGC back at the
	// operator's, so the goal is about twice the live heap, not several
	// times it.
	live := make([]byte, 48<<20)
	for i := range live {
		live[i] = 1
	}
	collectUntil(t, "GOGC back at its value with a large heap", func() bool { return gogc() == base })
	if g := heapGoal(); g > 3*uint64(len(live)) {
		t.Errorf("heap goal %d with %d live: the floor multiplied a large heap", g, len(live))
	}
	runtime.KeepAlive(live)
	live = nil

	// Small again: the floor again.
	collectUntil(t, "the goal at the floor once the heap is small again", func() bool { return heapGoal() >= floor*95/100 && gogc() > base })

	f.Stop()
	if p := gogc(); p != base {
		t.Errorf("GOGC %d after Stop, want %d", p, base)
	}
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	runtime.GC()
	if p := gogc(); p != base {
		t.Errorf("GOGC %d after Stop and collections, want %d (the floor still acting)", p, base)
	}
}
