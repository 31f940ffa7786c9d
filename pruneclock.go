package latch

import (
	"sync"
	"time"
)

// TrustForward is how long the clock must stay ahead of the real time
// that has passed before a PruneClock follows it: a step forward held for
// a day is taken as a correction (an instance that started with a slow
// clock), not as a mistake about to be undone.
const TrustForward = 24 * time.Hour

// PruneClock is the time up to which expired state may be forgotten (the
// janitor's pruning of revocations and sessions, and the log reads that
// skip expired entries): the clock's reading, but never moving ahead
// faster than real time, read from a monotonic clock, has passed since
// the last reading.
//
// A clock stepped forward by hours makes every revocation look expired;
// forgetting them then would let their tokens in again once the clock is
// set back, while their exp is still ahead. A PruneClock stays where real
// time says the clock should be, so nothing is forgotten before it has
// expired by both; the revocation set and the log keep the entries, and
// the step back finds them. It follows a clock that goes back at once
// (forgetting later is always safe), and a step forward that has held for
// TrustForward of real time. The zero value is ready; safe for concurrent
// use.
type PruneClock struct {
	mu         sync.Mutex
	set        bool
	at         time.Time     // the last answer
	elapsed    time.Duration // the monotonic reading of the last answer
	ahead      bool          // the clock has been ahead of what real time allows ...
	aheadSince time.Duration // ... since this monotonic reading
}

// Time returns the prune time for the clock's reading now and the
// monotonic reading elapsed (real time since any fixed instant).
func (c *PruneClock) Time(now time.Time, elapsed time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.set {
		c.set, c.at, c.elapsed = true, now, elapsed
		return now
	}
	limit := c.at.Add(max(elapsed-c.elapsed, 0))
	c.elapsed = max(elapsed, c.elapsed)
	switch {
	case !now.After(limit):
		c.at, c.ahead = now, false
	case !c.ahead:
		c.at, c.ahead, c.aheadSince = limit, true, elapsed
	case elapsed-c.aheadSince >= TrustForward:
		c.at, c.ahead = now, false
	default:
		c.at = limit
	}
	return c.at
}
