package http

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
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

	var last int64
	send := func(rev *latch.Revocation) error {
		if rev.Seq <= last {
			return nil
		}
		last = rev.Seq
		_, err := fmt.Fprintf(w, "id: %d\nevent: revoke\ndata: %s\n\n", rev.Seq, eventData(rev))
		return err
	}
	flush := func() error {
		_ = rc.SetWriteDeadline(time.Now().Add(keepAlive + 5*time.Second))
		return rc.Flush()
	}
	_ = rc.SetWriteDeadline(time.Now().Add(time.Minute)) // the replay may be long
	for _, rev := range sub.Replay {
		if send(rev) != nil {
			return
		}
	}
	if _, err := fmt.Fprint(w, ": replay done\n\n"); err != nil || flush() != nil {
		return
	}
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
			for _, rev := range revs {
				if send(rev) != nil {
					return
				}
			}
			if flush() != nil {
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
