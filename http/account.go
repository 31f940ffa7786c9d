package http

import (
	"net/http"

	"github.com/latch-dev/latch"
)

type userJSON struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	Role      string `json:"role"`
	CreatedAt string `json:"created_at"`
}

func userDoc(u *latch.User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, Role: u.Role, CreatedAt: rfc3339(u.CreatedAt)}
}

// signupJSON is the body of a signup.
type signupJSON struct {
	User userJSON `json:"user"`
}

// sessionLoginJSON is the body of a session login. Its fields, and those
// of loginSessionJSON, are in the order encoding/json wrote the keys when
// these were maps (sorted).
type sessionLoginJSON struct {
	CSRFToken string           `json:"csrf_token"`
	Session   loginSessionJSON `json:"session"`
	User      userJSON         `json:"user"`
}

type loginSessionJSON struct {
	ExpiresAt     string `json:"expires_at"`
	ID            string `json:"id"`
	IdleExpiresAt string `json:"idle_expires_at"`
}

func (s *Server) signup(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Email    *string `json:"email" latch:"required"`
		Password *string `json:"password" latch:"required"`
	}
	if !s.decode(w, r, &req, false) {
		return
	}
	u, err := s.Service.Signup(r.Context(), *req.Email, *req.Password)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 201, signupJSON{User: userDoc(u)})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Email           *string `json:"email" latch:"required"`
		Password        *string `json:"password" latch:"required"`
		Mode            string  `json:"mode"`
		RefreshDelivery string  `json:"refresh_delivery"`
	}
	if !s.decode(w, r, &req, false) {
		return
	}
	mode, delivery, err := loginMode(req.Mode, req.RefreshDelivery)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.Service.Login(r.Context(), latch.LoginRequest{
		Email: *req.Email, Password: *req.Password, Mode: mode,
		UserAgent: r.UserAgent(), IP: clientIP(r), PlantedSecret: cookie(r, s.cookies.session),
		Carry: delivery,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeLogin(w, res)
}

// loginMode reads the mode and refresh_delivery of a login (API.md §4):
// session and cookie when left out.
func loginMode(mode, delivery string) (latch.SessionKind, string, error) {
	kind := latch.KindSession
	switch mode {
	case "", "session":
	case "token":
		kind = latch.KindToken
	default:
		return "", "", badRequest(`mode must be "session" or "token"`)
	}
	switch delivery {
	case "":
		delivery = "cookie"
	case "cookie", "body":
	default:
		return "", "", badRequest(`refresh_delivery must be "cookie" or "body"`)
	}
	return kind, delivery, nil
}

// mfaRequiredJSON is the answer of a login that owes a second factor.
type mfaRequiredJSON struct {
	MFARequired bool     `json:"mfa_required"`
	MFAToken    string   `json:"mfa_token"`
	Methods     []string `json:"methods"`
}

// writeLogin answers a login (of either step) as API.md §4 and §8 say: the
// second step's challenge, a session with its cookies, or tokens delivered
// as the login asked (res.Carry: "cookie" or "body").
func (s *Server) writeLogin(w http.ResponseWriter, res *latch.LoginResult) {
	noStore(w)
	if res.MFA != nil {
		writeJSON(w, 200, mfaRequiredJSON{MFARequired: true, MFAToken: res.MFA.Token, Methods: res.MFA.Methods})
		return
	}
	if res.Session.Kind == latch.KindSession {
		s.setSessionCookies(w, res.Secret, res.CSRFToken, res.Session.ExpiresAt)
		writeJSON(w, 200, sessionLoginJSON{
			CSRFToken: res.CSRFToken,
			Session: loginSessionJSON{ExpiresAt: rfc3339(res.Session.ExpiresAt), ID: res.Session.ID,
				IdleExpiresAt: rfc3339(res.Session.IdleExpiresAt)},
			User: userDoc(res.User),
		})
		return
	}
	s.writeTokens(w, res.User, res.Access, res.Secret, res.Session, res.Carry != "body")
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Current *string `json:"current_password" latch:"required"`
		New     *string `json:"new_password" latch:"required"`
	}
	if !s.decode(w, r, &req, false) {
		return
	}
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	pc, err := s.Service.ChangePassword(r.Context(), p, *req.Current, *req.New)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if pc != nil {
		noStore(w)
		s.setSessionCookies(w, pc.Secret, pc.CSRFToken, p.Session.ExpiresAt)
	}
	w.WriteHeader(204)
}
