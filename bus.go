package latch

import (
	"context"
	"time"
)

// RevocationBus carries revocations between instances as they happen, so
// that a token revoked on one instance is refused by the others within
// milliseconds. It is an accelerator: the durable log (RevocationStore)
// stays the source of truth, and instances also poll it, so an event lost
// by the bus is still applied within Config.FollowInterval.
type RevocationBus interface {
	// Publish announces entries already written to the durable log.
	Publish(ctx context.Context, revs []*Revocation) error
	// Subscribe calls fn with every entry published by any instance (this
	// one included) until ctx ends or the connection fails; it returns the
	// reason. Callers resubscribe, and catch up from the durable log.
	Subscribe(ctx context.Context, fn func([]*Revocation)) error
}

// SessionUser is an optional fast path of a SessionStore: look a session up
// by its token hash and slide its idle deadline in one round trip. A store
// that implements it is used this way on every cookie-authenticated request.
type SessionUser interface {
	// UseSession returns the session whose current token hash is hash, as
	// SessionByTokenHash does, after moving its LastSeenAt to now and its
	// IdleExpiresAt to min(now+idle, ExpiresAt) (never backwards) when it
	// is a cookie session live at now. A dead session or a refresh family
	// is returned unchanged (families slide on refresh only). The store may skip the write when the deadline
	// would move by less than a second. ErrNotFound when unknown.
	UseSession(ctx context.Context, hash []byte, now time.Time, idle time.Duration) (*Session, error)
}

// SessionCounter is an optional capability of a SessionStore: counting the
// sessions and families alive at now, for the active-sessions metric.
type SessionCounter interface {
	CountLiveSessions(ctx context.Context, now time.Time) (int, error)
}

// CountLiveSessions counts live sessions and families; ok is false when the
// store cannot count.
func (s *Service) CountLiveSessions(ctx context.Context) (n int, ok bool, err error) {
	c, ok := s.Sessions.(SessionCounter)
	if !ok {
		return 0, false, nil
	}
	n, err = c.CountLiveSessions(ctx, s.Now())
	return n, true, err
}

// followBus keeps a subscription to the bus open, resubscribing after
// failures and catching up from the durable log each time, so that nothing
// published while it was away is missed.
func (s *Service) followBus() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { <-s.stop; cancel() }()
		backoff := 100 * time.Millisecond
		for ctx.Err() == nil {
			start := time.Now()
			err := s.Bus.Subscribe(ctx, func(revs []*Revocation) {
				s.applyRevocations(revs) // refused here at once
				s.kickFollower()         // streamed in order from the log
			})
			if ctx.Err() != nil {
				return
			}
			s.Logger.Warn("revocation bus disconnected; polling the database meanwhile", "err", err)
			if time.Since(start) > 10*time.Second {
				backoff = 100 * time.Millisecond
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			s.kickFollower()
		}
	}()
}

// publish announces entries on the bus; a failure only delays other
// instances until their next poll of the durable log.
func (s *Service) publish(revs []*Revocation) {
	if s.Bus == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := s.Bus.Publish(ctx, revs); err != nil {
		s.Logger.Warn("publishing revocations; other instances will poll them", "err", err)
	}
}
