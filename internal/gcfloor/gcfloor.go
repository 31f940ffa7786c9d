// Package gcfloor keeps the garbage collector's heap goal from falling
// below a floor while the live heap is small.
//
// With GOGC=100 Go collects when the heap reaches twice what the last
// collection found live, but never below 4 MiB. A server whose live heap
// is about a megabyte therefore collects every 2–3 MB of allocation, every
// thousand requests or so, and marks its whole live heap each time: on
// latch's whoami that was a seventh of every request's instructions
// (BENCHMARKS.md, docs/decisions.md). Go has no setting for that minimum
// other than GOGC itself, which also multiplies the goal of a large heap
// (argon2id's 19 MiB per hash would then cost several times that in RSS).
// So after every collection the package sets GOGC to the least value,
// never below the one it started with, that puts the next goal at the
// floor; once the live heap is large enough for the goal to pass the floor
// on its own, GOGC is back at its starting value. A memory limit
// (GOMEMLIMIT) still caps the goal as usual.
package gcfloor

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// goMinimum is the Go runtime's heap minimum at GOGC=100, which it scales
// by GOGC/100 (runtime/mgcpacer.go, defaultHeapMinimum).
const goMinimum = 4 << 20

// Floor holds the heap goal at or above a number of bytes; Start makes one.
type Floor struct {
	bytes uint64
	base  int // GOGC when started, restored by Stop

	mu      sync.Mutex
	stopped bool
	percent int // GOGC as last set
	samples []metrics.Sample
}

// Start begins holding the heap goal at floor bytes or more, from the
// first collection on, and returns the Floor for Stop. It refuses a floor
// under Go's own minimum, and a collector turned off (GOGC=off).
func Start(floor uint64) (*Floor, error) {
	if floor < goMinimum {
		return nil, fmt.Errorf("gcfloor: a floor of %d bytes is under Go's own minimum of %d", floor, goMinimum)
	}
	base := gogc()
	if base < 0 {
		return nil, fmt.Errorf("gcfloor: the collector is off (GOGC=off)")
	}
	f := &Floor{bytes: floor, base: base, percent: base, samples: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"},
	}}
	f.arm()
	return f, nil
}

// gogc is the collector's GOGC now (-1: off), read without setting it.
func gogc() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(int64(s[0].Value.Uint64())) // off reads as the uint64 of -1
}

// arm makes an object that is garbage at once and asks to be called when
// a collection has found it so: once per collection.
func (f *Floor) arm() {
	runtime.AddCleanup(new([2]*byte), (*Floor).collected, f)
}

// collected runs after each collection, on the runtime's cleanup goroutine.
func (f *Floor) collected() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	metrics.Read(f.samples)
	live := f.samples[0].Value.Uint64()
	scan := live + f.samples[1].Value.Uint64() + f.samples[2].Value.Uint64()
	if p := Percent(f.bytes, live, scan, f.base); p != f.percent {
		debug.SetGCPercent(p)
		f.percent = p
	}
	f.arm()
}

// Stop ends the floor and puts GOGC back to its value at Start.
func (f *Floor) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stopped {
		f.stopped = true
		debug.SetGCPercent(f.base)
	}
}

// Percent is the GOGC that puts the heap goal at floor bytes after a
// collection that found live bytes live and scan bytes to scan (the live
// heap, the goroutine stacks and the globals), never below base, the GOGC
// the operator chose. Go's goal is the larger of its heap minimum
// (4 MiB × GOGC/100) and live + scan × GOGC/100; the answer is the least
// GOGC at which either reaches the floor.
func Percent(floor, live, scan uint64, base int) int {
	if base < 0 || live+scan*uint64(base)/100 >= floor {
		return base
	}
	p := floor * 100 / goMinimum // the heap minimum alone reaches the floor
	if scan > 0 {
		p = min(p, (floor-live)*100/scan) // the goal of the live heap does, sooner
	}
	return max(int(p), base)
}
