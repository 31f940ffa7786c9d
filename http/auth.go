package http

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/latch-dev/latch"
)

// errBearer marks a failed bearer token, answered with an RFC 6750 challenge.
type errBearer struct{ err error }

func (e errBearer) Error() string { return e.err.Error() }
func (e errBearer) Unwrap() error { return e.err }

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	vs := r.Header["Authorization"] // what Header.Get does, less the canonicalization of a canonical key
	if len(vs) == 0 {
		return "", false
	}
	h := vs[0]
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// principal authenticates a request: the Authorization header alone decides
// when present (an invalid bearer is never a fallback to the cookie);
// otherwise the session cookie. Query parameters are never read.
func (s *Server) principal(r *http.Request) (*latch.Principal, error) {
	if _, present := r.Header["Authorization"]; present {
		tok, ok := bearerToken(r)
		if !ok {
			return nil, errBearer{latch.ErrUnauthenticated}
		}
		p, err := s.Service.AuthenticateToken(r.Context(), tok)
		if err != nil {
			return nil, errBearer{err}
		}
		return p, nil
	}
	secret := cookie(r, s.cookies.session)
	if secret == "" {
		return nil, latch.ErrUnauthenticated
	}
	return s.Service.AuthenticateSession(r.Context(), secret)
}

// authed wraps a handler that needs a caller; state changes made with the
// session cookie must also carry the session's CSRF token (layer two).
func (s *Server) authed(w http.ResponseWriter, r *http.Request) (*latch.Principal, bool) {
	p, err := s.principal(r)
	if err != nil {
		s.authError(w, r, err)
		return nil, false
	}
	if !safeMethod(r.Method) {
		if err := s.Service.CheckCSRF(p, r.Header.Get("X-CSRF-Token")); err != nil {
			s.writeError(w, r, err)
			return nil, false
		}
	}
	return p, true
}

func (s *Server) authError(w http.ResponseWriter, r *http.Request, err error) {
	var be errBearer
	if errors.As(err, &be) && errors.Is(err, latch.ErrUnauthenticated) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	s.writeError(w, r, err)
}

// client authenticates a resource server by HTTP Basic auth. RFC 6749
// §2.3.1 has OAuth clients form-encode the ID and secret first; clients that
// send them raw are accepted too.
func (s *Server) client(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if !ok {
		return false
	}
	if s.clientMatch(id, secret) {
		return true
	}
	uid, err1 := url.QueryUnescape(id)
	usecret, err2 := url.QueryUnescape(secret)
	return err1 == nil && err2 == nil && (uid != id || usecret != secret) && s.clientMatch(uid, usecret)
}

// clientMatch compares in constant time over fixed-length digests, doing the
// same work for unknown IDs.
func (s *Server) clientMatch(id, secret string) bool {
	want, known := s.Clients[id]
	if !known {
		want = "\x00unknown-client"
	}
	a, b := sha256.Sum256([]byte(want)), sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1 && known
}
