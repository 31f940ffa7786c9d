package http

import (
	"errors"
	"net/http"
	"time"

	"github.com/latch-dev/latch"
)

// tokensJSON is the body of a token login, a refresh and an exchange (the
// last without user or refresh token). Its fields are in the order
// encoding/json wrote the keys when it was a map (sorted).
type tokensJSON struct {
	AccessToken  string    `json:"access_token"`
	ExpiresIn    int       `json:"expires_in"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type"`
	User         *userJSON `json:"user,omitempty"`
}

// accessTokenDoc is the body for an access token, without user or refresh token.
func (s *Server) accessTokenDoc(at *latch.IssuedToken) tokensJSON {
	return tokensJSON{AccessToken: at.Token, TokenType: "Bearer",
		ExpiresIn: int(at.Claims.ExpiresAt.Sub(s.Now()).Round(time.Second) / time.Second)}
}

// writeTokens answers a token login or refresh.
func (s *Server) writeTokens(w http.ResponseWriter, u *latch.User, at *latch.IssuedToken, refresh string, fam *latch.Session, cookie bool) {
	noStore(w)
	doc := s.accessTokenDoc(at)
	user := userDoc(u)
	doc.User = &user
	if cookie {
		s.setRefreshCookie(w, refresh, fam.Deadline())
	} else {
		doc.RefreshToken = refresh
	}
	writeJSON(w, 200, doc)
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RefreshToken *string `json:"refresh_token"`
	}
	if !s.decode(w, r, &req, true) {
		return
	}
	token, fromCookie := "", false
	if req.RefreshToken != nil {
		token = *req.RefreshToken
	} else {
		token, fromCookie = cookie(r, s.cookies.refresh), true
	}
	res, err := s.Service.Refresh(r.Context(), token)
	if err != nil {
		if fromCookie && (errors.Is(err, latch.ErrInvalidRefreshToken) || errors.Is(err, latch.ErrRefreshReused)) {
			s.clearRefreshCookie(w)
		}
		s.writeError(w, r, err)
		return
	}
	s.writeTokens(w, res.User, res.Access, res.Refresh, res.Family, fromCookie)
}

func (s *Server) exchange(w http.ResponseWriter, r *http.Request) {
	if !s.decode(w, r, &struct{}{}, true) {
		return
	}
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	at, err := s.Service.Exchange(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	noStore(w)
	writeJSON(w, 200, s.accessTokenDoc(at))
}
