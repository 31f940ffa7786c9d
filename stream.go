package latch

import (
	"context"
)

// subscriber is one follower of the revocation stream.
type subscriber struct {
	ch chan *Revocation
}

// subscriberBuffer is how many events a slow follower may lag before it is
// cut off (it then reconnects and resumes from its cursor).
const subscriberBuffer = 4096

// broadcast hands entries to every subscriber; one that lags by more than
// its buffer is cut off and resumes from its cursor.
func (s *Service) broadcast(revs []*Revocation) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	for sub := range s.subs {
		for _, r := range revs {
			if !streamed(r) {
				continue
			}
			select {
			case sub.ch <- r:
				continue
			default:
			}
			close(sub.ch)
			delete(s.subs, sub)
			break
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
	if after > s.LogCursor() || after < 0 {
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
	return &Subscription{Replay: replay, Live: sub.ch, cancel: cancel}, nil
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
		st.MaxBacklog = max(st.MaxBacklog, len(sub.ch))
	}
	return st
}
