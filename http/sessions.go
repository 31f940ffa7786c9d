package http

import (
	"net/http"

	"github.com/latch-dev/latch"
)

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	// The hot path of every authenticated page: the body is appended by
	// hand (appendWhoami) and the header values are shared slices, so a
	// request allocates little.
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	b := appendWhoami((*bp)[:0], p)
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["Cache-Control"] = cacheNoStore
	w.WriteHeader(200)
	_, _ = w.Write(b) // copied into the connection's buffer: b may be reused
	*bp = b
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if !s.decode(w, r, &struct{}{}, true) {
		return
	}
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	if err := s.Service.Logout(r.Context(), p); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.clearOwnCookies(w, p)
	w.WriteHeader(204)
}

// clearOwnCookies clears the cookies of the caller's kind of credential. A
// browser never sends the refresh cookie (Path=/v1/token) here, so it is
// cleared unasked.
func (s *Server) clearOwnCookies(w http.ResponseWriter, p *latch.Principal) {
	if p.Method == latch.KindSession {
		s.clearSessionCookies(w)
	} else {
		s.clearRefreshCookie(w)
	}
}

func (s *Server) logoutAll(w http.ResponseWriter, r *http.Request) {
	if !s.decode(w, r, &struct{}{}, true) {
		return
	}
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	if err := s.Service.LogoutAll(r.Context(), p.User.ID); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.clearOwnCookies(w, p)
	w.WriteHeader(204)
}

type sessionJSON struct {
	ID         string `json:"id"`
	Method     string `json:"method"`
	CreatedAt  string `json:"created_at"`
	LastSeenAt string `json:"last_seen_at"`
	ExpiresAt  string `json:"expires_at"`
	UserAgent  string `json:"user_agent"`
	IP         string `json:"ip"`
	Current    bool   `json:"current"`
}

// sessionsJSON is the body of a session list (the caller's or, for an
// admin, any user's).
type sessionsJSON struct {
	Sessions []sessionJSON `json:"sessions"`
}

func sessionsDoc(list []*latch.Session, current string) sessionsJSON {
	out := make([]sessionJSON, 0, len(list))
	for _, x := range list {
		out = append(out, sessionJSON{ID: x.ID, Method: string(x.Kind), CreatedAt: rfc3339(x.CreatedAt),
			LastSeenAt: rfc3339(x.LastSeenAt), ExpiresAt: rfc3339(x.Deadline()), UserAgent: x.UserAgent,
			IP: x.IP, Current: x.ID == current})
	}
	return sessionsJSON{Sessions: out}
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	list, err := s.Service.ListSessions(r.Context(), p.User.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, 200, sessionsDoc(list, p.SessionID))
}

func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if err := s.Service.DeleteSession(r.Context(), p.User.ID, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	if id == p.SessionID {
		s.clearOwnCookies(w, p)
	}
	w.WriteHeader(204)
}
