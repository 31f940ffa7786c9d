package http

import (
	"errors"
	"mime"
	"net/http"

	"github.com/latch-dev/latch"
)

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=10") // short: verifiers refetch on an unknown kid
	_, _ = w.Write(s.Keys.JWKS())
}

// discoveryJSON is the RFC 8414 authorization server metadata. Its fields
// are in the order encoding/json wrote the keys when it was a map (sorted).
type discoveryJSON struct {
	IntrospectionEndpoint            string   `json:"introspection_endpoint"`
	IntrospectionEndpointAuthMethods []string `json:"introspection_endpoint_auth_methods_supported"`
	Issuer                           string   `json:"issuer"`
	JWKSURI                          string   `json:"jwks_uri"`
	RevocationEndpoint               string   `json:"revocation_endpoint"`
	RevocationEndpointAuthMethods    []string `json:"revocation_endpoint_auth_methods_supported"`
	RevocationStreamEndpoint         string   `json:"revocation_stream_endpoint"`
}

// discovery is the RFC 8414 authorization server metadata.
func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, 200, discoveryJSON{
		IntrospectionEndpoint:            s.Issuer + "/oauth2/introspect",
		IntrospectionEndpointAuthMethods: []string{"client_secret_basic"},
		Issuer:                           s.Issuer,
		JWKSURI:                          s.Issuer + "/.well-known/jwks.json",
		RevocationEndpoint:               s.Issuer + "/oauth2/revoke",
		RevocationEndpointAuthMethods:    []string{"none", "client_secret_basic"},
		RevocationStreamEndpoint:         s.Issuer + "/v1/revocations",
	})
}

// oauthErrorJSON is the RFC 6749 §5.2 error shape.
type oauthErrorJSON struct {
	Error string `json:"error"`
}

// oauthError answers in the RFC 6749 §5.2 shape that OAuth clients parse.
func oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, oauthErrorJSON{Error: code})
}

// formToken reads the token parameter of an RFC 7009 / 7662 form body.
func formToken(w http.ResponseWriter, r *http.Request) (string, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return "", errMediaType
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", errBodyTooLarge
		}
		return "", badRequest("the form body is malformed")
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		return "", badRequest("token is required")
	}
	return tok, nil
}

// introspect is RFC 7662, for resource servers holding a --client secret.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	if !s.client(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="latch"`)
		s.writeError(w, r, latch.ErrUnauthenticated)
		return
	}
	tok, err := formToken(w, r)
	if err != nil {
		s.formError(w, r, err)
		return
	}
	in, err := s.Service.Introspect(r.Context(), tok)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if !in.Active {
		writeJSON(w, 200, inactiveJSON{Active: false})
		return
	}
	writeJSON(w, 200, introspectionJSON{Active: true, Exp: in.ExpiresAt.Unix(), Iat: in.IssuedAt.Unix(),
		Iss: s.Issuer, JTI: in.ID, SID: in.SessionID, Sub: in.Subject, TokenType: in.TokenType})
}

// inactiveJSON is the RFC 7662 answer for a token that is not active.
type inactiveJSON struct {
	Active bool `json:"active"`
}

// introspectionJSON is the RFC 7662 answer for an active token. Its fields
// are in the order encoding/json wrote the keys when it was a map (sorted).
type introspectionJSON struct {
	Active    bool   `json:"active"`
	Exp       int64  `json:"exp"`
	Iat       int64  `json:"iat"`
	Iss       string `json:"iss"`
	JTI       string `json:"jti,omitempty"` // a refresh token has none
	SID       string `json:"sid"`
	Sub       string `json:"sub"`
	TokenType string `json:"token_type"`
}

// revoke is RFC 7009: possession of the token is enough; unknown tokens get 200.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	tok, err := formToken(w, r)
	if err != nil {
		s.formError(w, r, err)
		return
	}
	if err := s.Service.RevokeToken(r.Context(), tok); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(200)
}

// formError answers OAuth endpoints: invalid_request in the RFC 6749 shape,
// transport errors (413, 415) as problems.
func (s *Server) formError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, latch.ErrInvalidRequest) {
		oauthError(w, 400, "invalid_request")
		return
	}
	s.writeError(w, r, err)
}
