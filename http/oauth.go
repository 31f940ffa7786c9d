package http

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/latch-dev/latch"
)

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=10") // short: verifiers refetch on an unknown kid
	_, _ = w.Write(s.Keys.JWKS())
}

// discovery is the RFC 8414 authorization server metadata.
func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, 200, map[string]any{
		"issuer":                 s.Issuer,
		"jwks_uri":               s.Issuer + "/.well-known/jwks.json",
		"introspection_endpoint": s.Issuer + "/oauth2/introspect",
		"revocation_endpoint":    s.Issuer + "/oauth2/revoke",
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		"revocation_endpoint_auth_methods_supported":    []string{"none", "client_secret_basic"},
		"revocation_stream_endpoint":                    s.Issuer + "/v1/revocations",
	})
}

// oauthError answers in the RFC 6749 §5.2 shape that OAuth clients parse.
func oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"error": code})
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
		writeJSON(w, 200, map[string]bool{"active": false})
		return
	}
	doc := map[string]any{"active": true, "sub": in.Subject, "sid": in.SessionID, "token_type": in.TokenType,
		"iat": in.IssuedAt.Unix(), "exp": in.ExpiresAt.Unix(), "iss": s.Issuer}
	if in.ID != "" {
		doc["jti"] = in.ID
	}
	writeJSON(w, 200, doc)
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

// keepAlive is how often an idle revocation stream gets a comment line.
const keepAlive = 10 * time.Second

// revocations is the server-sent event stream that verifiers follow: a
// replay of every revocation that still matters, then live ones.
func (s *Server) revocations(w http.ResponseWriter, r *http.Request) {
	if !s.client(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="latch"`)
		s.writeError(w, r, latch.ErrUnauthenticated)
		return
	}
	after, _ := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64)
	sub, err := s.Service.Subscribe(r.Context(), after)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer sub.Cancel()
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(200)

	var last int64
	send := func(rev *latch.Revocation) error {
		if rev.Seq <= last {
			return nil
		}
		last = rev.Seq
		_, err := fmt.Fprintf(w, "id: %d\nevent: revoke\ndata: %s\n\n", rev.Seq, eventData(rev))
		return err
	}
	flush := func() error {
		_ = rc.SetWriteDeadline(time.Now().Add(keepAlive + 5*time.Second))
		return rc.Flush()
	}
	_ = rc.SetWriteDeadline(time.Now().Add(time.Minute)) // the replay may be long
	for _, rev := range sub.Replay {
		if send(rev) != nil {
			return
		}
	}
	if _, err := fmt.Fprint(w, ": replay done\n\n"); err != nil || flush() != nil {
		return
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || flush() != nil {
				return
			}
		case rev, ok := <-sub.Live:
			if !ok {
				return // lagged too far: the client resumes with Last-Event-ID
			}
			if send(rev) != nil || flush() != nil {
				return
			}
		}
	}
}

// eventData is the JSON of one revocation event (API.md §4).
func eventData(r *latch.Revocation) []byte {
	var v any
	switch r.Kind {
	case latch.RevokeJTI:
		v = struct {
			JTI string `json:"jti"`
			Exp int64  `json:"exp"`
		}{r.Value, r.Expires.Unix()}
	case latch.RevokeSID:
		v = struct {
			SID string `json:"sid"`
			Exp int64  `json:"exp"`
		}{r.Value, r.Expires.Unix()}
	default:
		v = struct {
			Sub       string `json:"sub"`
			NotBefore int64  `json:"not_before"`
			Exp       int64  `json:"exp"`
		}{r.Value, r.NotBefore.Unix(), r.Expires.Unix()}
	}
	b, _ := json.Marshal(v)
	return b
}
