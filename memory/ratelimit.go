package memory

import (
	"context"
	"sync"
	"time"

	"github.com/latch-dev/latch"
)

var _ latch.RateLimiter = (*RateLimiter)(nil)

// burstSeconds is the bucket's depth in seconds of refill: a burst of three
// times the rate (--login-ip-rate).
const burstSeconds = 3

// RateLimiter is a latch.RateLimiter in memory: a token bucket per key
// that refills at a fixed rate and holds three seconds' worth of tokens
// (at least one).
//
// It keeps the bucket in its time form (GCRA): per key, the time at which
// the bucket will be full again. That is exact (no floating-point token
// counts), costs one map entry per key, and makes a full bucket the same as
// a missing one, so entries whose time has passed are swept away whenever
// the table has doubled since the last sweep: memory is bounded by the keys
// seen within the last few seconds.
//
// The zero value allows everything, like a limiter with rate 0.
type RateLimiter struct {
	interval time.Duration // refill time of one token; 0: no limit
	depth    time.Duration // capacity, as refill time

	mu      sync.Mutex
	full    map[string]time.Time // key -> when its bucket is full again
	sweepAt int
}

// NewRateLimiter returns a limiter that allows perSecond requests a second
// per key, in bursts of up to 3×perSecond. perSecond <= 0 turns it off.
func NewRateLimiter(perSecond float64) *RateLimiter {
	if perSecond <= 0 {
		return &RateLimiter{}
	}
	interval := time.Duration(float64(time.Second) / perSecond)
	return &RateLimiter{interval: interval, depth: max(burstSeconds*time.Second, interval)}
}

// Allow implements latch.RateLimiter.
func (l *RateLimiter) Allow(_ context.Context, key string, now time.Time) (time.Duration, error) {
	if l.interval <= 0 {
		return 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.full == nil {
		l.full = map[string]time.Time{}
	}
	if len(l.full) >= max(l.sweepAt, minSweep) {
		l.sweep(now)
	}
	full := later(l.full[key], now)
	// Taking a token pushes "full again" one interval later; the bucket
	// cannot be more than its depth from full.
	next := full.Add(l.interval)
	if wait := next.Sub(now) - l.depth; wait > 0 {
		return wait, nil
	}
	l.full[key] = next
	return 0, nil
}

// sweep forgets the keys whose bucket is full: they are as good as new.
func (l *RateLimiter) sweep(now time.Time) {
	for key, full := range l.full {
		if !full.After(now) {
			delete(l.full, key)
		}
	}
	l.sweepAt = 2 * len(l.full)
}
