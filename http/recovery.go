package http

import (
	"net/http"
)

// The account lifecycle endpoints of API.md §8 that need no second
// factor: password reset, email verification and email change.

// acceptedJSON is the one body of a 202: the same for every address, so
// that it tells nothing about which have an account.
var acceptedJSON = []byte(`{"status":"accepted"}` + "\n")

func accepted(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(acceptedJSON)
}

// forgotPassword answers 202 whether the address has an account or not;
// the Service does the rest after the answer (see latch.Service.ForgotPassword).
func (s *Server) forgotPassword(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Email *string `json:"email" latch:"required"`
	}
	if !s.decode(w, r, &req, false) {
		return
	}
	if err := s.Service.ForgotPassword(r.Context(), *req.Email); err != nil {
		s.writeError(w, r, err)
		return
	}
	accepted(w)
}

// resetPassword spends a reset link; it never logs anyone in.
func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token       *string `json:"token" latch:"required"`
		NewPassword *string `json:"new_password" latch:"required"`
	}
	if !s.decode(w, r, &req, false) {
		return
	}
	if err := s.Service.ResetPassword(r.Context(), *req.Token, *req.NewPassword); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) requestVerification(w http.ResponseWriter, r *http.Request) {
	if !s.decode(w, r, &struct{}{}, true) {
		return
	}
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	if err := s.Service.RequestVerification(r.Context(), p); err != nil {
		s.writeError(w, r, err)
		return
	}
	accepted(w)
}

func (s *Server) verifyEmail(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token *string `json:"token" latch:"required"`
	}
	if !s.decode(w, r, &req, false) {
		return
	}
	if err := s.Service.VerifyEmail(r.Context(), *req.Token); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) changeEmail(w http.ResponseWriter, r *http.Request) {
	var req struct {
		NewEmail        *string `json:"new_email" latch:"required"`
		CurrentPassword *string `json:"current_password" latch:"required"`
	}
	if !s.decode(w, r, &req, false) {
		return
	}
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	if err := s.Service.ChangeEmail(r.Context(), p, *req.NewEmail, *req.CurrentPassword); err != nil {
		s.writeError(w, r, err)
		return
	}
	accepted(w)
}
