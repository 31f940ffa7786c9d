package latch

import (
	"context"
	"time"
)

// applyRevocations adds entries to the in-memory set and has the session
// store evict what they revoke. It is idempotent and order-free: entries
// arrive from this process, from the bus and from the durable log, in any
// order.
func (s *Service) applyRevocations(revs []*Revocation) {
	if len(revs) == 0 {
		return
	}
	s.revoked.Add(revs...)
	for _, r := range revs {
		switch r.Kind {
		case RevokeSID:
			s.evict(r.Value)
		case KeysChanged:
			s.onKeysChanged()
		}
	}
}

// followLog reads the durable log after the last entry read from it,
// applies the entries and broadcasts them to stream subscribers. It is the
// only path to subscribers, so they see each entry once and in Seq order
// (stores commit revocations in Seq order), whatever order the bus or
// concurrent requests applied them in.
func (s *Service) followLog(ctx context.Context) error {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	for {
		// By pruneTime, not the clock: an entry skipped as expired is
		// never read again, so skipping one is forgetting it.
		revs, err := s.revocations.RevocationsSince(ctx, s.logCursor, s.pruneTime(), 1000)
		if err != nil {
			return err
		}
		if len(revs) == 0 {
			return nil
		}
		s.applyRevocations(revs)
		s.broadcast(revs)
		s.logCursor = revs[len(revs)-1].Seq
		if len(revs) < 1000 {
			return nil
		}
	}
}

// LogCursor is the Seq of the last revocation read from the durable log.
func (s *Service) LogCursor() int64 {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.logCursor
}

// followLoop reads the durable log whenever kicked (after this process or
// the bus added entries) and, with Config.FollowInterval, on a timer for
// what other instances added.
func (s *Service) followLoop() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		var tick <-chan time.Time
		if s.cfg.FollowInterval > 0 {
			t := time.NewTicker(s.cfg.FollowInterval)
			defer t.Stop()
			tick = t.C
		}
		for {
			select {
			case <-s.stop:
				return
			case <-s.kick:
			case <-tick:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := s.followLog(ctx); err != nil {
				s.logger.Warn("following the revocation log", "err", err)
			}
			cancel()
		}
	}()
}

// kickFollower asks followLoop for a prompt read of the durable log.
func (s *Service) kickFollower() {
	select {
	case s.kick <- struct{}{}:
	default: // a read is already due
	}
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
			err := s.bus.Subscribe(ctx, func(revs []*Revocation) {
				s.applyRevocations(revs) // refused here at once
				s.kickFollower()         // streamed in order from the log
			})
			if ctx.Err() != nil {
				return
			}
			s.logger.Warn("revocation bus disconnected; polling the database meanwhile", "err", err)
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
	if s.bus == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := s.bus.Publish(ctx, revs); err != nil {
		s.logger.Warn("publishing revocations; other instances will poll them", "err", err)
	}
}
