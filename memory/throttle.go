package memory

import (
	"context"
	"slices"
	"strconv"
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
// leaves the window (a failure at f counts while now < f+window); a
// reservation taken at now holds its slot while now < its time +
// latch.GuessLease, or until settled.
//
// Memory is bounded by the accounts that failed within one window or have
// a guess in flight: the throttle keeps at most maxFailures times and
// maxFailures reservations per account, and forgets an account once its
// last failure has left the window and it holds no reservation, sweeping
// the whole table whenever it has doubled since the last sweep (amortised
// O(1)).
//
// The zero value never locks, like a throttle with maxFailures <= 0.
type LoginThrottle struct {
	max    int
	window time.Duration

	mu       sync.Mutex
	accounts map[string]*throttled
	sweepAt  int
	seq      uint64
}

// throttled is the state of one account.
type throttled struct {
	failures []time.Time // oldest first, at most max
	leases   []lease     // guesses in flight, at most max
}

type lease struct {
	id    string
	until time.Time
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
	return l.locked(l.accounts[account], now), nil
}

// locked is how long a is locked at now.
func (l *LoginThrottle) locked(a *throttled, now time.Time) time.Duration {
	if a == nil {
		return 0
	}
	f := a.failures
	// f holds at most max times, so a lock needs all of them in the window:
	// the oldest one leaving lifts it.
	if len(f) < l.max || !f[0].Add(l.window).After(now) {
		return 0
	}
	return f[0].Add(l.window).Sub(now)
}

// RecordFailure implements latch.LoginThrottle.
func (l *LoginThrottle) RecordFailure(_ context.Context, account string, now time.Time) error {
	if l.max <= 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fail(l.account(account, now), now)
	return nil
}

// account returns the state of account, made on first use.
func (l *LoginThrottle) account(account string, now time.Time) *throttled {
	if a := l.accounts[account]; a != nil {
		return a
	}
	if l.accounts == nil {
		l.accounts = map[string]*throttled{}
	}
	if len(l.accounts) >= max(l.sweepAt, minSweep) {
		l.sweep(now)
	}
	a := &throttled{}
	l.accounts[account] = a
	return a
}

// fail counts a failure at now.
func (l *LoginThrottle) fail(a *throttled, now time.Time) {
	f := append(a.failures, now)
	// Concurrent logins may report out of order; keep the times sorted.
	for i := len(f) - 1; i > 0 && f[i].Before(f[i-1]); i-- {
		f[i], f[i-1] = f[i-1], f[i]
	}
	if len(f) > l.max {
		f = slices.Delete(f, 0, len(f)-l.max)
	}
	a.failures = f
}

// Reset implements latch.LoginThrottle.
func (l *LoginThrottle) Reset(_ context.Context, account string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a := l.accounts[account]; a != nil {
		if len(a.leases) == 0 {
			delete(l.accounts, account)
		} else {
			a.failures = nil
		}
	}
	return nil
}

// Reserve implements latch.LoginThrottle.
func (l *LoginThrottle) Reserve(_ context.Context, account string, now time.Time) (string, time.Duration, error) {
	if l.max <= 0 {
		return "unlimited", 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.account(account, now)
	a.leases = slices.DeleteFunc(a.leases, func(x lease) bool { return !x.until.After(now) })
	if wait := l.locked(a, now); wait > 0 {
		return "", wait, nil
	}
	recent := 0
	for _, f := range a.failures {
		if f.Add(l.window).After(now) {
			recent++
		}
	}
	if recent+len(a.leases) >= l.max {
		return "", 0, nil
	}
	l.seq++
	id := strconv.FormatUint(l.seq, 10)
	a.leases = append(a.leases, lease{id: id, until: now.Add(latch.GuessLease)})
	return id, 0, nil
}

// Settle implements latch.LoginThrottle.
func (l *LoginThrottle) Settle(_ context.Context, account, id string, failed bool, now time.Time) error {
	if l.max <= 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.accounts[account]
	if a == nil && !failed {
		return nil
	}
	if a == nil {
		a = l.account(account, now)
	}
	a.leases = slices.DeleteFunc(a.leases, func(x lease) bool { return x.id == id })
	if failed {
		l.fail(a, now)
	} else if len(a.leases) == 0 && len(a.failures) == 0 {
		delete(l.accounts, account)
	}
	return nil
}

// sweep forgets the accounts none of whose failures is in the window and
// that hold no live reservation.
func (l *LoginThrottle) sweep(now time.Time) {
	for account, a := range l.accounts {
		a.leases = slices.DeleteFunc(a.leases, func(x lease) bool { return !x.until.After(now) })
		f := a.failures
		if len(a.leases) == 0 && (len(f) == 0 || !f[len(f)-1].Add(l.window).After(now)) {
			delete(l.accounts, account)
		}
	}
	l.sweepAt = 2 * len(l.accounts)
}
