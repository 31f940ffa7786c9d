// Package http serves latch over HTTP: routes, handlers, cookie, bearer and
// CSRF handling, and the one table that turns domain errors into statuses.
package http

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/latch-dev/latch"
)

// problemKind is one row of the error table.
type problemKind struct {
	err    error
	status int
	code   string
	title  string
}

// problems is the one table from sentinel errors to HTTP (API.md §2). The
// first row whose error matches (errors.Is) wins.
var problems = []problemKind{
	{latch.ErrInvalidRequest, 400, "invalid_request", "The request is malformed."},
	{latch.ErrInvalidEmail, 400, "invalid_email", "The email address is not valid."},
	{latch.ErrWeakPassword, 400, "weak_password", "The password is too weak."},
	{latch.ErrInvalidToken, 400, "invalid_token", "The link is not valid: it is unknown, used or expired."},
	{latch.ErrEmailTaken, 409, "email_taken", "The email address already has an account."},
	{latch.ErrCredentialTaken, 409, "credential_exists", "This passkey is registered already."},
	{latch.ErrInvalidCode, 401, "invalid_credentials", "The code is not valid."},
	{latch.ErrInvalidPasskey, 401, "invalid_credentials", "The passkey was not accepted."},
	{latch.ErrInvalidCredentials, 401, "invalid_credentials", "Invalid email or password."},
	{latch.ErrUnauthenticated, 401, "unauthenticated", "Authentication is required."},
	{latch.ErrInvalidRefreshToken, 401, "invalid_refresh_token", "The refresh token is not valid."},
	{latch.ErrRefreshReused, 401, "refresh_reused", "The refresh token was already used; its session is revoked."},
	{latch.ErrCSRF, 403, "csrf_failed", "The request failed the CSRF check."},
	{latch.ErrWrongPassword, 403, "wrong_password", "The current password is wrong."},
	{latch.ErrAccountDisabled, 403, "account_disabled", "The account is disabled."},
	{latch.ErrEmailUnverified, 403, "email_unverified", "The email address is not verified yet."},
	{latch.ErrReauthRequired, 403, "reauth_required", "This change needs a recent login: sign in again, then retry."},
	{latch.ErrForbidden, 403, "forbidden", "Not allowed."},
	{latch.ErrNotFound, 404, "not_found", "Not found."},
	{errMethod, 405, "method_not_allowed", "Method not allowed."},
	{errBodyTooLarge, 413, "body_too_large", "The request body is too large."},
	{errHeaderTooLarge, 431, "headers_too_large", "The request headers are too large."},
	{errMediaType, 415, "unsupported_media_type", "The request body must be application/json."},
	{latch.ErrRateLimited, 429, "rate_limited", "Too many requests; retry later."},
	{latch.ErrUnavailable, 503, "unavailable", "The service is temporarily unavailable."},
}

// Transport-level errors that have no domain meaning.
var (
	errMethod         = errors.New("method not allowed")
	errBodyTooLarge   = errors.New("body too large")
	errHeaderTooLarge = errors.New("request headers too large")
	errMediaType      = errors.New("unsupported media type")
	errOverloaded     = fmt.Errorf("%w: too many requests in flight", latch.ErrUnavailable)
)

// problem is an RFC 9457 problem document.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail,omitempty"`
}

// classify finds the table row of err; unknown errors are internal (500).
func classify(err error) (problemKind, bool) {
	for _, p := range problems {
		if errors.Is(err, p.err) {
			return p, true
		}
	}
	return problemKind{status: 500, code: "internal", title: "Internal error."}, false
}

// writeError answers with the problem document for err. Internal details
// are logged, never sent; only invalid_request carries a detail, which the
// decoder writes without echoing input.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p, known := classify(err)
	if !known {
		s.Logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	} else if p.status == 503 {
		s.Logger.Warn("store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	doc := problem{Type: "about:blank", Title: p.title, Status: p.status, Code: p.code}
	var d *detailError
	var re *latch.RequestError
	switch {
	case p.status != 400:
	case errors.As(err, &d):
		doc.Detail = d.detail
	case errors.As(err, &re):
		doc.Detail = re.Detail
	}
	h := w.Header()
	var rl *latch.RateLimitError
	switch {
	case errors.As(err, &rl):
		h.Set("Retry-After", strconv.Itoa(retrySeconds(rl.RetryAfter)))
	case p.status == 503:
		h.Set("Retry-After", "1")
	}
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(p.status)
	_ = json.NewEncoder(w).Encode(doc)
}

// retrySeconds rounds up to whole seconds, at least 1.
func retrySeconds(d time.Duration) int {
	n := int((d + time.Second - 1) / time.Second)
	return max(n, 1)
}

// detailError is an invalid_request with a safe, input-free explanation.
type detailError struct {
	detail string
}

func (e *detailError) Error() string { return "invalid request: " + e.detail }
func (e *detailError) Unwrap() error { return latch.ErrInvalidRequest }

func badRequest(detail string) error { return &detailError{detail: detail} }
