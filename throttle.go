package latch

import (
	"context"
	"time"
)

// LoginThrottle counts failed logins per account (a normalised email, known
// or not, so that a lock tells nothing about which addresses exist).
type LoginThrottle interface {
	// Locked returns how long until the account may try again, or 0.
	Locked(ctx context.Context, account string, now time.Time) (time.Duration, error)
	// RecordFailure counts one failure at now.
	RecordFailure(ctx context.Context, account string, now time.Time) error
	// Reset forgets the account's failures (after a successful login).
	Reset(ctx context.Context, account string) error
}

// RateLimiter is a token bucket per key (a client IP).
type RateLimiter interface {
	// Allow takes one token; it returns 0 when allowed, else how long until
	// the next token.
	Allow(ctx context.Context, key string, now time.Time) (time.Duration, error)
}
