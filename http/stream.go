package http

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/latch-dev/latch"
)

// keepAlive is how often an idle revocation stream gets a comment line.
const keepAlive = 10 * time.Second

// revocations is the server-sent event stream that verifiers follow: a
// replay of every revocation that still matters, then live ones.
func (s *Server) revocations(w http.ResponseWriter, r *http.Request) {
	if !s.client(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="latch"`)
		s.writeError(w, r, latch.ErrUnauthenticated)
		return
	}
	after, _ := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64)
	sub, err := s.Service.Subscribe(r.Context(), after)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer sub.Cancel()
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(200)

	// send writes the frames of revs not sent yet; frame encodes one: the
	// shared cache for live entries (every follower has the same), afresh
	// for the replay's (this follower's own copies, which would only push
	// live frames out of the cache).
	var last int64
	send := func(revs []*latch.Revocation, frame func(*latch.Revocation) []byte) error {
		for _, rev := range revs {
			if rev.Seq <= last {
				continue
			}
			last = rev.Seq
			if _, err := w.Write(frame(rev)); err != nil {
				return err
			}
		}
		return nil
	}
	// A follower that stops reading is cut off once a write has waited
	// writeGrace or more (up to twice that). The deadline moves only when
	// less than writeGrace is left, not at every flush: moving a
	// connection's deadline re-arms a runtime timer, 6 % of the CPU of a
	// fan-out to 10,000 followers when done at each (BENCHMARKS.md).
	const writeGrace = keepAlive + 5*time.Second
	var deadline time.Time
	flush := func() error {
		if now := time.Now(); deadline.Sub(now) < writeGrace {
			deadline = now.Add(2 * writeGrace)
			_ = rc.SetWriteDeadline(deadline)
		}
		return rc.Flush()
	}
	_ = rc.SetWriteDeadline(time.Now().Add(time.Minute)) // the replay may be long
	if send(sub.Replay, encodeFrame) != nil {
		return
	}
	if _, err := fmt.Fprint(w, ": replay done\n\n"); err != nil || flush() != nil {
		return
	}
	live := s.frames.frame
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || flush() != nil {
				return
			}
		case <-sub.Ready:
			revs, lagged, ok := sub.Take()
			if !ok {
				if lagged {
					s.Metrics.streamLagged.Inc() // the client resumes with Last-Event-ID
				}
				return
			}
			if len(revs) == 0 {
				continue // taken already, on an earlier wake-up
			}
			from := last // entries at or below it were sent by the replay
			if send(revs, live) != nil || flush() != nil {
				return
			}
			now := s.Now()
			for _, rev := range revs {
				if rev.Seq > from {
					s.Metrics.streamDelay.Observe(max(now.Sub(rev.CreatedAt), 0).Seconds())
				}
			}
		}
	}
}

// frameCache holds the server-sent event frames of the latest live
// revocations, so that one fanned out to many followers is encoded once
// and not once for each: at 10,000 followers encoding each event for each
// was a fifth of the fan-out's CPU (BENCHMARKS.md). A frame is found by
// the revocation it encodes (the broadcast hands every follower the same
// read-only entry), so a hit is the same entry's frame; another entry with
// the same Seq (a copy read from the log) misses and is encoded afresh.
type frameCache struct {
	slots [64]atomic.Pointer[eventFrame]
}

type eventFrame struct {
	rev *latch.Revocation
	b   []byte // read-only once stored
}

// frame returns rev's event frame (encodeFrame), from the cache when
// rev itself was encoded last in its slot.
func (c *frameCache) frame(rev *latch.Revocation) []byte {
	slot := &c.slots[uint64(rev.Seq)%uint64(len(c.slots))]
	if f := slot.Load(); f != nil && f.rev == rev {
		return f.b
	}
	b := encodeFrame(rev)
	slot.Store(&eventFrame{rev: rev, b: b})
	return b
}

// encodeFrame is rev's event frame: "id", "event" and "data" lines.
func encodeFrame(rev *latch.Revocation) []byte {
	return fmt.Appendf(nil, "id: %d\nevent: revoke\ndata: %s\n\n", rev.Seq, eventData(rev))
}

// eventData is the JSON of one revocation event (API.md §4).
func eventData(r *latch.Revocation) []byte {
	var v any
	switch r.Kind {
	case latch.RevokeJTI:
		v = struct {
			JTI string `json:"jti"`
			Exp int64  `json:"exp"`
		}{r.Value, r.Expires.Unix()}
	case latch.RevokeSID:
		v = struct {
			SID string `json:"sid"`
			Exp int64  `json:"exp"`
		}{r.Value, r.Expires.Unix()}
	default:
		v = struct {
			Sub       string `json:"sub"`
			NotBefore int64  `json:"not_before"`
			Exp       int64  `json:"exp"`
		}{r.Value, r.NotBefore.Unix(), r.Expires.Unix()}
	}
	b, _ := json.Marshal(v)
	return b
}
