package http

import "net/http"

// shed is load shedding: beyond MaxInFlight requests at once a request
// gets a fast 503 (with Retry-After: 1) rather than queueing without
// limit. Streams are long-lived and not counted: next is returned as it is.
func (s *Server) shed(route string, next http.Handler, stream bool) http.Handler {
	if stream {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// An atomic counter, not a channel: it runs on every request.
		if s.inflight.Add(1) > int64(s.MaxInFlight) {
			s.inflight.Add(-1)
			s.Metrics.observe(route, 503)
			s.writeError(w, r, errOverloaded)
			return
		}
		defer s.inflight.Add(-1)
		next.ServeHTTP(w, r)
	})
}
