package latch

import (
	"context"
	"slices"
)

// subscriber is one follower of the revocation stream.
type subscriber struct {
	ch chan *Revocation
}

// subscriberBuffer is how many events a slow follower may lag before it is
// cut off (it then reconnects and resumes from its cursor).
const subscriberBuffer = 4096

// applyRevocations adds entries to the in-memory set, evicts what they
// revoke from the caches, and broadcasts each entry once.
func (s *Service) applyRevocations(revs []*Revocation) {
	if len(revs) == 0 {
		return
	}
	s.revoked.Add(revs...)
	if s.cache != nil {
		for _, r := range revs {
			if r.Kind == RevokeSID {
				s.cache.evictID(r.Value)
			}
		}
	}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	fresh := make([]*Revocation, 0, len(revs))
	for _, r := range revs {
		if _, dup := s.seenSeq[r.Seq]; dup {
			continue
		}
		s.seenSeq[r.Seq] = struct{}{}
		fresh = append(fresh, r)
	}
	if len(s.seenSeq) > 200_000 { // bounded: forget the oldest half
		keys := make([]int64, 0, len(s.seenSeq))
		for k := range s.seenSeq {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys[:len(keys)/2] {
			delete(s.seenSeq, k)
		}
	}
	slices.SortFunc(fresh, func(a, b *Revocation) int { return int(a.Seq - b.Seq) })
	for sub := range s.subs {
		for _, r := range fresh {
			select {
			case sub.ch <- r:
			default: // too slow: drop it; it resumes from its cursor
				close(sub.ch)
				delete(s.subs, sub)
			}
			if _, ok := s.subs[sub]; !ok {
				break
			}
		}
	}
}

// Subscription is a follower of the revocation log: a replay of every entry
// after a cursor that still matters, then live entries, in Seq order.
type Subscription struct {
	// Replay holds the entries already in the log.
	Replay []*Revocation
	// Live delivers later entries; it is closed when the follower lags too
	// far behind or the subscription is cancelled.
	Live   <-chan *Revocation
	cancel func()
}

// Cancel ends the subscription.
func (sub *Subscription) Cancel() { sub.cancel() }

// Subscribe follows the revocation log from the cursor after (0 = from the
// start). A cursor beyond the log's end replays everything.
func (s *Service) Subscribe(ctx context.Context, after int64) (*Subscription, error) {
	if after > s.revoked.Cursor() || after < 0 {
		after = 0
	}
	sub := &subscriber{ch: make(chan *Revocation, subscriberBuffer)}
	s.subMu.Lock()
	s.subs[sub] = struct{}{}
	s.subMu.Unlock()
	cancel := func() {
		s.subMu.Lock()
		defer s.subMu.Unlock()
		if _, ok := s.subs[sub]; ok {
			delete(s.subs, sub)
			close(sub.ch)
		}
	}
	// Subscribed first, replayed second: nothing falls between the two; the
	// caller skips live entries at or below the replay's last Seq.
	var replay []*Revocation
	for {
		revs, err := s.Revocations.RevocationsSince(ctx, after, s.Now(), 1000)
		if err != nil {
			cancel()
			return nil, storeErr(err)
		}
		replay = append(replay, revs...)
		if len(revs) < 1000 {
			break
		}
		after = revs[len(revs)-1].Seq
	}
	return &Subscription{Replay: replay, Live: sub.ch, cancel: cancel}, nil
}
