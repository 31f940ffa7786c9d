package latch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// The wait of a guess for a slot of its account (LoginThrottle.Reserve)
// while other guesses at the same account are in flight: at most
// guessWait, at most guessWaiters of them per account in this process,
// asking the throttle again whenever a guess at the account settles here
// and every guessPoll (guesses settle on other instances too). Past
// either bound the guess is refused with a RateLimitError of
// guessRetryAfter: overload of one account, not a lock. These are bounds
// of waiting, in real time, not security decisions, so they do not read
// the injected clock.
const (
	guessWait       = 2 * time.Second
	guessWaiters    = 32
	guessPoll       = 50 * time.Millisecond
	guessRetryAfter = time.Second
)

// guessQueues are the guesses of this process waiting for a slot, by
// account; an account has an entry only while some guess waits.
type guessQueues struct {
	mu sync.Mutex
	m  map[string]*guessQueue
}

type guessQueue struct {
	waiters int
	settled chan struct{} // closed (and replaced) when a guess at the account settles here
}

// join adds a waiter for account and returns the channel closed at the
// next settle, or false when guessWaiters already wait.
func (g *guessQueues) join(account string) (<-chan struct{}, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	q := g.m[account]
	if q == nil {
		if g.m == nil {
			g.m = map[string]*guessQueue{}
		}
		q = &guessQueue{settled: make(chan struct{})}
		g.m[account] = q
	}
	if q.waiters >= guessWaiters {
		return nil, false
	}
	q.waiters++
	return q.settled, true
}

// next returns the channel closed at the next settle of account (one the
// caller joined).
func (g *guessQueues) next(account string) <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.m[account].settled
}

// leave removes a waiter of account.
func (g *guessQueues) leave(account string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if q := g.m[account]; q != nil {
		if q.waiters--; q.waiters == 0 {
			delete(g.m, account)
		}
	}
}

// settled wakes the waiters of account.
func (g *guessQueues) settled(account string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if q := g.m[account]; q != nil {
		close(q.settled)
		q.settled = make(chan struct{})
	}
}

// guessPassword checks one password against a PHC string under the
// lockout of account (a login and the current password of a password
// change share it, so a stolen session cannot guess unthrottled): a locked
// account is refused with a RateLimitError before any hashing; a mismatch
// counts as a failure; a match clears the failures. A refusal of the
// hasher itself (its queue full under a flood) is a RateLimitError too, and
// also errHashRefused.
func (s *Service) guessPassword(ctx context.Context, account, phc, password string) (ok, rehash bool, err error) {
	ok, err = s.guess(ctx, account, true, func() (bool, error) {
		if len(password) > MaxPasswordBytes {
			return false, nil
		}
		var ok bool
		var err error
		ok, rehash, err = s.hasher.Compare(ctx, phc, password)
		return ok, hashRefusal(err)
	})
	return ok, ok && rehash, err
}

// errHashRefused marks a RateLimitError of the password hasher (latch is
// busy hashing) apart from one of an account's lockout, for the audit
// trail: the first is rate_limited, the second locked. Callers get the
// same 429 for both.
var errHashRefused = errors.New("password hashing refused: too many at once")

// hashRefusal marks err as errHashRefused when it is the hasher's
// RateLimitError; other errors pass as they are.
func hashRefusal(err error) error {
	if errors.Is(err, ErrRateLimited) {
		return fmt.Errorf("%w: %w", errHashRefused, err)
	}
	return err
}

// guess runs check, one guess of a secret of account (its password or a
// second factor), under the account's lockout: a locked account is
// refused with a RateLimitError before check runs; a wrong guess counts
// as a failure; a right one clears the failures when reset says so. An
// error of check counts as neither.
//
// Each guess holds a slot of the throttle while check runs, so that the
// failures within the window plus the guesses in flight never exceed
// --login-max-failures: concurrent guesses cannot all pass the lock check
// before any is counted. A guess that finds every slot left in flight
// waits (see guessWait) for one to settle: a right guess waits for the
// wrong ones ahead of it, and is refused only if they lock the account.
func (s *Service) guess(ctx context.Context, account string, reset bool, check func() (bool, error)) (bool, error) {
	if s.throttle == nil {
		return check()
	}
	id, err := s.reserveGuess(ctx, account)
	if err != nil {
		return false, err
	}
	// The slot is given back whatever happens to the request.
	settleCtx := context.WithoutCancel(ctx)
	defer s.guesses.settled(account)
	ok, err := check()
	if err != nil {
		if serr := s.throttle.Settle(settleCtx, account, id, false, s.now()); serr != nil {
			s.logger.Warn("giving back a login slot", "err", serr)
		}
		return false, err
	}
	if err := s.throttle.Settle(settleCtx, account, id, !ok, s.now()); err != nil {
		if !ok {
			return false, storeErr(err)
		}
		s.logger.Warn("giving back a login slot", "err", err)
	}
	if ok && reset {
		if err := s.throttle.Reset(settleCtx, account); err != nil {
			s.logger.Warn("resetting login failures", "err", err)
		}
	}
	return ok, nil
}

// reserveGuess takes a slot of the throttle for one guess at account,
// waiting while guesses in flight hold every slot left.
func (s *Service) reserveGuess(ctx context.Context, account string) (string, error) {
	id, locked, err := s.throttle.Reserve(ctx, account, s.now())
	switch {
	case err != nil:
		return "", storeErr(err)
	case id != "":
		return id, nil
	case locked > 0:
		return "", &RateLimitError{RetryAfter: locked}
	}
	if _, ok := s.guesses.join(account); !ok {
		return "", &RateLimitError{RetryAfter: guessRetryAfter}
	}
	defer s.guesses.leave(account)
	deadline := time.NewTimer(guessWait)
	defer deadline.Stop()
	poll := time.NewTicker(guessPoll)
	defer poll.Stop()
	for {
		// Taken before asking, so that a settle in between is not missed.
		settled := s.guesses.next(account)
		id, locked, err := s.throttle.Reserve(ctx, account, s.now())
		switch {
		case err != nil:
			return "", storeErr(err)
		case id != "":
			return id, nil
		case locked > 0:
			return "", &RateLimitError{RetryAfter: locked}
		}
		select {
		case <-settled:
		case <-poll.C:
		case <-deadline.C:
			return "", &RateLimitError{RetryAfter: guessRetryAfter}
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}
