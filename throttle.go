package latch

import (
	"context"
	"time"
)

// GuessLease is how long a reservation of LoginThrottle holds its slot at
// most: far longer than a guess takes (the hasher's queue wait, 2 s by
// default, and one hash), so that a slot is never freed under a guess
// still running, and short enough that the slots of an instance that died
// mid-guess come back soon.
const GuessLease = 30 * time.Second

// LoginThrottle counts failed logins per account (a normalised email, known
// or not, so that a lock tells nothing about which addresses exist).
//
// An account with maxFailures failures within the window is locked. So that
// concurrent guesses cannot all pass the check before any of them is
// counted, a guess reserves a slot before it is hashed (Reserve) and gives
// it back when judged (Settle): the failures within the window plus the
// guesses in flight never exceed maxFailures, on every instance that
// shares the throttle.
type LoginThrottle interface {
	// Locked returns how long until the account may try again, or 0.
	// Guesses in flight do not lock.
	Locked(ctx context.Context, account string, now time.Time) (time.Duration, error)
	// RecordFailure counts one failure at now.
	RecordFailure(ctx context.Context, account string, now time.Time) error
	// Reset forgets the account's failures (after a successful login).
	// Guesses in flight keep their reservations.
	Reset(ctx context.Context, account string) error

	// Reserve asks for a slot to check one guess at account at now. It
	// returns a non-empty id when the failures within the window plus the
	// reservations held (each for at most GuessLease) are fewer than
	// maxFailures, and takes one. Otherwise id is empty, and locked is how
	// long the account is locked (as Locked says), or 0 when it is not
	// locked but guesses in flight hold every slot left: the caller may
	// try again when one of them settles. A throttle that never locks
	// always grants a slot.
	Reserve(ctx context.Context, account string, now time.Time) (id string, locked time.Duration, err error)
	// Settle gives back reservation id (unknown or expired ids are no
	// error); with failed, it counts a failure at now in the same step, so
	// that no other guess can take the slot before the failure counts.
	Settle(ctx context.Context, account, id string, failed bool, now time.Time) error
}

// RateLimiter is a token bucket per key (a client IP).
type RateLimiter interface {
	// Allow takes one token; it returns 0 when allowed, else how long until
	// the next token.
	Allow(ctx context.Context, key string, now time.Time) (time.Duration, error)
}
