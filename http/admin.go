package http

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"

	"github.com/latch-dev/latch"
)

// admin guards the admin API with the bearer admin key (compared in
// constant time over fixed-length digests).
func (s *Server) admin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.AdminKey == "" {
			s.writeError(w, r, latch.ErrNotFound)
			return
		}
		tok, ok := bearerToken(r)
		want := sha256.Sum256([]byte(s.AdminKey))
		got := sha256.Sum256([]byte(tok))
		use := latch.Event{Kind: latch.EventAdminAPI, UserID: r.PathValue("id"), Detail: r.Method + " " + r.Pattern}
		if !ok || subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
			use.Outcome = "refused"
			s.Service.Record(r.Context(), use)
			w.Header().Set("WWW-Authenticate", `Bearer realm="latch-admin"`)
			s.writeError(w, r, latch.ErrUnauthenticated)
			return
		}
		use.Outcome = "authorized"
		s.Service.Record(r.Context(), use)
		ctx := r.Context()
		ri := latch.RequestInfoFrom(ctx)
		ri.Actor = "admin-api"
		next(w, r.WithContext(latch.WithRequestInfo(ctx, ri)))
	}
}

func (s *Server) adminSessions(w http.ResponseWriter, r *http.Request) {
	list, err := s.Service.AdminSessions(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, 200, sessionsDoc(list, ""))
}

func (s *Server) adminRevoke(w http.ResponseWriter, r *http.Request) {
	if !s.decode(w, r, &struct{}{}, true) {
		return
	}
	if err := s.Service.AdminRevoke(r.Context(), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(204)
}

func (s *Server) adminRole(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Role *string `json:"role" latch:"required"`
	}
	if !s.decode(w, r, &req, false) {
		return
	}
	if err := s.Service.SetRole(r.Context(), r.PathValue("id"), *req.Role); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(204)
}

func (s *Server) adminDisable(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.decode(w, r, &struct{}{}, true) {
			return
		}
		if err := s.Service.SetDisabled(r.Context(), r.PathValue("id"), disabled); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(204)
	}
}
