package memory

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/latch-dev/latch"
)

var _ latch.LoginThrottle = (*LoginThrottle)(nil)

// minSweep is the table size below which the throttle and the rate limiter
// never sweep: small tables cost little, and sweeping them often would.
const minSweep = 1024

// LoginThrottle is a latch.LoginThrottle in memory. An account with
// maxFailures failures within the window is locked until the oldest of them
// leaves the window (a failure at f counts while now < f+window).
//
// Memory is bounded by the accounts that failed within one window: the
// throttle keeps at most maxFailures times per account, and forgets an
// account once its last failure has left the window, sweeping the whole
// table whenever it has doubled since the last sweep (amortised O(1)).
//
// The zero value never locks, like a throttle with maxFailures <= 0.
type LoginThrottle struct {
	max    int
	window time.Duration

	mu       sync.Mutex
	failures map[string][]time.Time // oldest first, at most max
	sweepAt  int
}

// NewLoginThrottle returns a throttle that locks an account after
// maxFailures failures within window (--login-max-failures,
// --login-failure-window). maxFailures <= 0 turns it off.
func NewLoginThrottle(maxFailures int, window time.Duration) *LoginThrottle {
	return &LoginThrottle{max: maxFailures, window: window}
}

// Locked implements latch.LoginThrottle.
func (l *LoginThrottle) Locked(_ context.Context, account string, now time.Time) (time.Duration, error) {
	if l.max <= 0 {
		return 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.failures[account]
	// f holds at most max times, so a lock needs all of them in the window:
	// the oldest one leaving lifts it.
	if len(f) < l.max || !f[0].Add(l.window).After(now) {
		return 0, nil
	}
	return f[0].Add(l.window).Sub(now), nil
}

// RecordFailure implements latch.LoginThrottle.
func (l *LoginThrottle) RecordFailure(_ context.Context, account string, now time.Time) error {
	if l.max <= 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failures == nil {
		l.failures = map[string][]time.Time{}
	}
	if len(l.failures) >= max(l.sweepAt, minSweep) {
		l.sweep(now)
	}
	f := append(l.failures[account], now)
	// Concurrent logins may report out of order; keep the times sorted.
	for i := len(f) - 1; i > 0 && f[i].Before(f[i-1]); i-- {
		f[i], f[i-1] = f[i-1], f[i]
	}
	if len(f) > l.max {
		f = slices.Delete(f, 0, len(f)-l.max)
	}
	l.failures[account] = f
	return nil
}

// Reset implements latch.LoginThrottle.
func (l *LoginThrottle) Reset(_ context.Context, account string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, account)
	return nil
}

// sweep forgets the accounts none of whose failures is in the window.
func (l *LoginThrottle) sweep(now time.Time) {
	for account, f := range l.failures {
		if !f[len(f)-1].Add(l.window).After(now) {
			delete(l.failures, account)
		}
	}
	l.sweepAt = 2 * len(l.failures)
}
