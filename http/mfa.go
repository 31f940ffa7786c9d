package http

import (
	"net/http"

	"github.com/latch-dev/latch"
)

// loginMFA is the second step of a login (API.md §8): the mfa_token and a
// TOTP or recovery code; the answer is the login's.
func (s *Server) loginMFA(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token        *string `json:"mfa_token" latch:"required"`
		TOTP         string  `json:"totp"`
		RecoveryCode string  `json:"recovery_code"`
	}
	if !s.decode(w, r, &req, false) {
		return
	}
	res, err := s.Service.CompleteMFA(r.Context(), latch.MFARequest{Token: *req.Token, TOTP: req.TOTP,
		RecoveryCode: req.RecoveryCode, UserAgent: r.UserAgent(), IP: clientIP(r)})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeLogin(w, res)
}

// totpSetupJSON is a new authenticator's secret.
type totpSetupJSON struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
}

// recoveryCodesJSON is a new set of recovery codes, shown once.
type recoveryCodesJSON struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

func (s *Server) beginTOTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Current *string `json:"current_password" latch:"required"`
	}
	if !s.decode(w, r, &req, false) {
		return
	}
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	setup, err := s.Service.BeginTOTP(r.Context(), p, *req.Current)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	noStore(w)
	writeJSON(w, 200, totpSetupJSON{Secret: setup.Secret, OTPAuthURL: setup.URL})
}

func (s *Server) confirmTOTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Code *string `json:"code" latch:"required"`
	}
	if !s.decode(w, r, &req, false) {
		return
	}
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	codes, err := s.Service.ConfirmTOTP(r.Context(), p, *req.Code)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	noStore(w)
	writeJSON(w, 200, recoveryCodesJSON{RecoveryCodes: codes})
}

func (s *Server) disableTOTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Current *string `json:"current_password" latch:"required"`
		Code    *string `json:"code" latch:"required"`
	}
	if !s.decode(w, r, &req, false) {
		return
	}
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	if err := s.Service.DisableTOTP(r.Context(), p, *req.Current, *req.Code); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(204)
}

func (s *Server) newRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Current *string `json:"current_password" latch:"required"`
	}
	if !s.decode(w, r, &req, false) {
		return
	}
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	codes, err := s.Service.NewRecoveryCodes(r.Context(), p, *req.Current)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	noStore(w)
	writeJSON(w, 200, recoveryCodesJSON{RecoveryCodes: codes})
}
