package latch

import (
	"context"
	"sync"
)

// subscriber is one follower of the revocation stream: the entries
// broadcast to it and not yet taken, and the wake-up of its reader. What it
// holds is its backlog and no more: an idle follower costs a few words, not
// a buffer of subscriberBuffer entries (a channel that size was 32 KB of
// pointers per follower for the collector to scan, 320 MB at 10,000).
type subscriber struct {
	ready chan struct{} // capacity 1: entries to take, or the end

	mu      sync.Mutex
	pending []*Revocation // read-only: it may be the broadcast's own slice
	lagged  bool          // cut off for lagging more than subscriberBuffer entries
	ended   bool          // cut off or cancelled
}

// subscriberBuffer is how many events a slow follower may lag before it is
// cut off (it then reconnects and resumes from its cursor).
const subscriberBuffer = 4096

// offer hands revs to the follower; false when it has ended, or lags too
// far with them and is cut off now.
func (sub *subscriber) offer(revs []*Revocation) bool {
	sub.mu.Lock()
	ok := !sub.ended
	switch {
	case !ok:
	case len(sub.pending)+len(revs) > subscriberBuffer:
		sub.pending, sub.lagged, sub.ended, ok = nil, true, true, false
	case len(sub.pending) == 0:
		sub.pending = revs // shared, not copied: full capacity, so an append copies
	default:
		sub.pending = append(sub.pending, revs...)
	}
	sub.mu.Unlock()
	sub.wake()
	return ok
}

// end ends the subscription; what was pending is dropped.
func (sub *subscriber) end() {
	sub.mu.Lock()
	sub.pending, sub.ended = nil, true
	sub.mu.Unlock()
	sub.wake()
}

func (sub *subscriber) wake() {
	select {
	case sub.ready <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// broadcast hands entries to every subscriber; one that lags by more than
// subscriberBuffer entries is cut off and resumes from its cursor.
func (s *Service) broadcast(revs []*Revocation) {
	var live []*Revocation
	for _, r := range revs {
		if streamed(r) {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return
	}
	live = live[:len(live):len(live)]
	s.subMu.Lock()
	defer s.subMu.Unlock()
	for sub := range s.subs {
		if !sub.offer(live) {
			delete(s.subs, sub)
		}
	}
}

// streamed reports whether followers of the stream see r: what can refuse
// an access token. A replaced session secret (RevokeSecret) and a change
// of keys (KeysChanged) are for the instances alone.
func streamed(r *Revocation) bool { return r.Kind != RevokeSecret && r.Kind != KeysChanged }

// Subscription is a follower of the revocation log: a replay of every entry
// after a cursor that still matters, then live entries, in Seq order.
type Subscription struct {
	// Replay holds the entries already in the log.
	Replay []*Revocation
	// Ready receives when Take has live entries or the subscription has
	// ended.
	Ready  <-chan struct{}
	sub    *subscriber
	cancel func()
}

// Take returns the live entries broadcast since the last Take, in Seq
// order; they are shared with other followers: treat them as read-only.
// ok is false once the subscription has ended: lagged says it was cut off
// for lagging more than 4,096 entries behind (the follower resumes from
// its cursor); otherwise it was cancelled.
func (sub *Subscription) Take() (revs []*Revocation, lagged, ok bool) {
	x := sub.sub
	x.mu.Lock()
	defer x.mu.Unlock()
	revs, x.pending = x.pending, nil
	return revs, x.lagged, !x.ended
}

// Cancel ends the subscription.
func (sub *Subscription) Cancel() { sub.cancel() }

// Subscribe follows the revocation log from the cursor after (0 = from the
// start). A cursor beyond the log's end replays everything.
func (s *Service) Subscribe(ctx context.Context, after int64) (*Subscription, error) {
	if after > s.LogCursor() || after < 0 {
		after = 0
	}
	sub := &subscriber{ready: make(chan struct{}, 1)}
	s.subMu.Lock()
	s.subs[sub] = struct{}{}
	s.subMu.Unlock()
	cancel := func() {
		s.subMu.Lock()
		delete(s.subs, sub)
		s.subMu.Unlock()
		sub.end()
	}
	// Subscribed first, replayed second: nothing falls between the two; the
	// caller skips live entries at or below the replay's last Seq.
	var replay []*Revocation
	for {
		revs, err := s.revocations.RevocationsSince(ctx, after, s.pruneTime(), 1000)
		if err != nil {
			cancel()
			return nil, storeErr(err)
		}
		for _, r := range revs {
			if streamed(r) {
				replay = append(replay, r)
			}
		}
		if len(revs) < 1000 {
			break
		}
		after = revs[len(revs)-1].Seq
	}
	return &Subscription{Replay: replay, Ready: sub.ready, sub: sub, cancel: cancel}, nil
}

// StreamStats is a snapshot of the revocation stream's followers, for
// metrics.
type StreamStats struct {
	Subscribers int // followers now
	MaxBacklog  int // entries the slowest follower has yet to take (cut off at 4096)
}

// StreamStats counts the followers of the revocation log and the backlog of
// the slowest one. It takes the lock broadcast takes: call it at scrape
// time, not per request.
func (s *Service) StreamStats() StreamStats {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	st := StreamStats{Subscribers: len(s.subs)}
	for sub := range s.subs {
		sub.mu.Lock()
		st.MaxBacklog = max(st.MaxBacklog, len(sub.pending))
		sub.mu.Unlock()
	}
	return st
}
