package verify

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// claimsKey is the context key of the verified claims; unexported, so only
// Middleware can set them.
type claimsKey struct{}

// ClaimsFromContext returns the claims Middleware verified for this request.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}

// Middleware lets through requests that carry a valid, unrevoked access
// token in an `Authorization: Bearer` header, with its claims in the
// request context (ClaimsFromContext). The token is read from that header
// only, never from a query parameter or a cookie (RFC 6750 §2.1; a token
// in a URL ends up in logs and Referer headers).
//
// It answers, with an RFC 9457 problem document and Cache-Control:
// no-store:
//
//   - 401 {"code":"unauthenticated"} with `WWW-Authenticate: Bearer` when
//     there is no bearer token, and `WWW-Authenticate: Bearer
//     error="invalid_token"` when the token is invalid, expired or revoked
//     (RFC 6750 §3.1);
//   - 503 {"code":"unavailable"} with Retry-After: 1 when the revocation
//     stream is stale (ErrStale): the token may well be fine, but this
//     service cannot tell, so it fails closed; clients should retry, not
//     log in again.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, present := bearerToken(r.Header)
		if token == "" {
			challenge := "Bearer"
			if present {
				challenge = `Bearer error="invalid_token"`
			}
			unauthenticated(w, challenge)
			return
		}
		c, err := v.Verify(r.Context(), token)
		switch {
		case errors.Is(err, ErrStale):
			v.log.Debug("request refused: revocation stream stale", "path", r.URL.Path)
			writeProblem(w, http.StatusServiceUnavailable, "unavailable", "The service is temporarily unavailable.", func(h http.Header) {
				h.Set("Retry-After", "1")
			})
			return
		case err != nil:
			v.log.Debug("request refused", "path", r.URL.Path, "err", err)
			unauthenticated(w, `Bearer error="invalid_token"`)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	})
}

// bearerToken extracts the token of the one Authorization header, and
// whether a bearer credential was attempted at all. Several Authorization
// headers, another scheme with a bearer-looking value, or a token with
// spaces are refused rather than guessed at.
func bearerToken(h http.Header) (token string, present bool) {
	vals := h.Values("Authorization")
	if len(vals) == 0 {
		return "", false
	}
	if len(vals) > 1 {
		return "", true
	}
	scheme, rest, _ := strings.Cut(vals[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false // another scheme (Basic...): no bearer token was offered
	}
	token = strings.Trim(rest, " ")
	if strings.ContainsAny(token, " \t") {
		return "", true
	}
	return token, true
}

func unauthenticated(w http.ResponseWriter, challenge string) {
	writeProblem(w, http.StatusUnauthorized, "unauthenticated", "Authentication is required.", func(h http.Header) {
		h.Set("WWW-Authenticate", challenge)
	})
}

// problem is an RFC 9457 problem document, in latch's shape (API.md §2).
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
}

func writeProblem(w http.ResponseWriter, status int, code, title string, headers func(http.Header)) {
	h := w.Header()
	headers(h)
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problem{Type: "about:blank", Title: title, Status: status, Code: code})
}
