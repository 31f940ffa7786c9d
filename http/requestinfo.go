package http

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"

	"github.com/latch-dev/latch"
)

// audited puts who asked into the request's context (latch.RequestInfo:
// request ID, client IP, user agent), so that the security events the
// handler causes carry them into the audit trail. A caller's X-Request-ID
// (a proxy's, to join the two logs) is used and answered back; without one
// the ID is drawn at random and stays in the audit trail: a random header
// on the answers would make two refusals of a login differ, and latch's
// answers to known and unknown accounts are byte-identical. Only the
// routes that can cause an event take this: the read paths (whoami) pay
// nothing for it.
func (s *Server) audited(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, given := requestID(r)
		if given {
			w.Header().Set("X-Request-ID", id)
		}
		ri := latch.RequestInfo{ID: id, IP: clientIP(r), UserAgent: truncate(r.UserAgent(), 512)}
		next(w, r.WithContext(latch.WithRequestInfo(r.Context(), ri)))
	}
}

// requestID is the caller's X-Request-ID when it is a plain token of at
// most 64 characters, else a new random one.
func requestID(r *http.Request) (id string, given bool) {
	if id := r.Header.Get("X-Request-ID"); id != "" && len(id) <= 64 && plainToken(id) {
		return id, true
	}
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:]), false
}

func plainToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
