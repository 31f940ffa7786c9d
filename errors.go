package latch

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Every failure a client can see wraps exactly one of them;
// the HTTP layer maps them to statuses and problem codes in one table. Wrap
// with fmt.Errorf("%w: ...") to add internal detail; check with errors.Is.
var (
	// ErrInvalidRequest: malformed or unexpected input.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrInvalidEmail: not a plausible address.
	ErrInvalidEmail = errors.New("invalid email")
	// ErrWeakPassword: too short, too long, equal to the email or common.
	ErrWeakPassword = errors.New("weak password")
	// ErrEmailTaken: signup with an address that already has an account.
	ErrEmailTaken = errors.New("email taken")
	// ErrInvalidCredentials: unknown email or wrong password (one answer for both).
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrUnauthenticated: no, expired, unknown or revoked session or access token.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrInvalidRefreshToken: unknown, expired or revoked refresh token.
	ErrInvalidRefreshToken = errors.New("invalid refresh token")
	// ErrRefreshReused: a spent refresh token came back; its family is revoked.
	ErrRefreshReused = errors.New("refresh token reused")
	// ErrCSRF: a cross-origin state change or a missing or wrong CSRF token.
	ErrCSRF = errors.New("csrf check failed")
	// ErrWrongPassword: the current password of a password change is wrong.
	ErrWrongPassword = errors.New("wrong password")
	// ErrAccountDisabled: login to an account an admin disabled.
	ErrAccountDisabled = errors.New("account disabled")
	// ErrNotFound: no such thing, or not the caller's. Stores return it for
	// unknown (or, where their contract says so, expired) records.
	ErrNotFound = errors.New("not found")
	// ErrRateLimited: too many attempts; see RateLimitError for when to retry.
	ErrRateLimited = errors.New("rate limited")
	// ErrUnavailable: a store does not answer. latch fails closed on it.
	ErrUnavailable = errors.New("unavailable")
	// ErrInvalidToken: a reset or verification link that is unknown,
	// spent or expired.
	ErrInvalidToken = errors.New("invalid token")
	// ErrEmailUnverified: login to an unverified account while
	// Config.RequireVerifiedEmail.
	ErrEmailUnverified = errors.New("email unverified")
	// ErrForbidden: authenticated, but not allowed.
	ErrForbidden = errors.New("forbidden")
	// ErrReauthRequired: a sensitive change by a caller who authenticated
	// longer ago than Config.ReauthWindow; log in again, then retry.
	ErrReauthRequired = errors.New("reauthentication required")
	// ErrCredentialTaken: a passkey whose credential ID is registered already.
	ErrCredentialTaken = errors.New("credential registered already")
)

// ErrInvalidCode: a wrong second-factor code (TOTP or recovery code). It is
// ErrInvalidCredentials too (errors.Is), with its own words for people.
var ErrInvalidCode = fmt.Errorf("%w: wrong code", ErrInvalidCredentials)

// ErrInvalidPasskey: a WebAuthn assertion that does not verify (an unknown
// credential, a bad signature, another origin or relying party, a
// suspected clone). It is ErrInvalidCredentials too, one answer for every
// reason, with its own words for people.
var ErrInvalidPasskey = fmt.Errorf("%w: passkey not accepted", ErrInvalidCredentials)

// RequestError is ErrInvalidRequest with an explanation for the caller. The
// explanation is a fixed sentence: it never echoes input.
type RequestError struct {
	Detail string
}

func (e *RequestError) Error() string { return "invalid request: " + e.Detail }

// Unwrap makes errors.Is(err, ErrInvalidRequest) hold.
func (e *RequestError) Unwrap() error { return ErrInvalidRequest }

// invalid returns a RequestError.
func invalid(detail string) error { return &RequestError{Detail: detail} }

// RateLimitError is ErrRateLimited with the time after which a retry may succeed.
type RateLimitError struct {
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string { return "rate limited" }

// Is makes errors.Is(err, ErrRateLimited) hold.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }
