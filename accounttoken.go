package latch

import (
	"context"
	"time"
)

// TokenPurpose says what an AccountToken may be used for.
type TokenPurpose string

// The purposes of account tokens (API.md §8).
const (
	// PurposePasswordReset: a link to /reset, consumed by ResetPassword.
	PurposePasswordReset TokenPurpose = "password_reset"
	// PurposeVerifyEmail: a link to /verify-email that proves the account's
	// current address.
	PurposeVerifyEmail TokenPurpose = "verify_email"
	// PurposeChangeEmail: a link to /verify-email, sent to a new address,
	// that makes it the account's address.
	PurposeChangeEmail TokenPurpose = "change_email"
)

// AccountToken is the server side of a one-time secret: a link mailed to a
// person (a password reset, an address to verify) or a login ceremony in
// progress (an mfa_token, a WebAuthn challenge). The secret has 256 bits
// from crypto/rand; the store keeps only its SHA-256 (HashSecret), so a
// leaked database holds no usable link.
type AccountToken struct {
	Hash    []byte // SHA-256 of the secret in the link
	Purpose TokenPurpose
	UserID  string
	// Email is the address the link was sent to: the account's address
	// for a reset or a verification (a link for an address the account no
	// longer has is refused), the new address for a change.
	Email     string
	CreatedAt time.Time
	ExpiresAt time.Time
	// Data is what a login ceremony carries between its steps (see
	// PurposeMFALogin); empty for mailed links.
	Data string
	// Attempts counts the wrong answers given to a ceremony so far.
	Attempts int
}

// AccountTokenStore keeps account tokens. Every method treats a token
// whose ExpiresAt is not after now as absent.
type AccountTokenStore interface {
	// CreateAccountToken stores t.
	CreateAccountToken(ctx context.Context, t *AccountToken) error
	// AccountToken returns the live token with this hash without spending
	// it; ErrNotFound when unknown, spent or expired.
	AccountToken(ctx context.Context, hash []byte, now time.Time) (*AccountToken, error)
	// ConsumeAccountToken spends a live token and returns it: of any number
	// of concurrent calls with one hash, exactly one succeeds. ErrNotFound
	// when unknown, already spent or expired.
	ConsumeAccountToken(ctx context.Context, hash []byte, now time.Time) (*AccountToken, error)
	// FailAccountToken counts one wrong answer against a live token and
	// returns its Attempts after the count; ErrNotFound when unknown,
	// spent or expired.
	FailAccountToken(ctx context.Context, hash []byte, now time.Time) (int, error)
	// DeleteAccountTokens removes every token of the user with this
	// purpose (the other links of a reset die with it). Deleting none is
	// not an error.
	DeleteAccountTokens(ctx context.Context, userID string, purpose TokenPurpose) error
	// DeleteExpiredAccountTokens removes the tokens expired at now
	// and returns how many.
	DeleteExpiredAccountTokens(ctx context.Context, now time.Time) (int, error)
}
