package latch

import (
	"context"
	"errors"
	"time"
)

// Authentication method references (RFC 8176) as access tokens carry them
// in amr and whoami in auth.amr.
const (
	AMRPassword    = "pwd" // a password
	AMROTP         = "otp" // a one-time code: TOTP or a recovery code
	AMRHardwareKey = "hwk" // a WebAuthn credential (passkey)
	AMRMultiFactor = "mfa" // more than one factor was used
)

// The login ceremonies kept as account tokens: secrets handed to a client
// rather than mailed, short-lived and bounded in attempts.
const (
	// PurposeMFALogin: the mfa_token of a login whose password was right
	// and whose second factor is still owed. Data holds the login's mode
	// and the client's opaque carry (see LoginRequest.Carry).
	PurposeMFALogin TokenPurpose = "mfa_login"
	// PurposeWebAuthnRegister: a passkey registration in progress; Data is
	// the WebAuthn library's session state.
	PurposeWebAuthnRegister TokenPurpose = "webauthn_register"
	// PurposeWebAuthnLogin: a passkey assertion in progress (passwordless,
	// or the second step of a login); Data is the WebAuthn session state.
	PurposeWebAuthnLogin TokenPurpose = "webauthn_login"
)

// MFATTL is how long an mfa_token lives; MFAAttempts is how many wrong
// codes it takes before it dies (API.md §8).
const (
	MFATTL      = 5 * time.Minute
	MFAAttempts = 5
)

// RecoveryCodeCount is how many recovery codes a set holds.
const RecoveryCodeCount = 10

// TOTPFactor is a user's RFC 6238 authenticator. Secret is the raw shared
// key (20 bytes), sealed with the master key when one is configured
// (Sealed). It counts as a second factor only once Confirmed; LastStep is
// the last time step whose code was accepted, so no code is accepted twice.
type TOTPFactor struct {
	UserID    string
	Secret    []byte
	Sealed    bool
	Confirmed bool
	LastStep  int64
	CreatedAt time.Time
}

// Passkey is a WebAuthn credential registered to an account. Data is the
// WebAuthn library's record of it (public key, flags, transports), opaque
// to the domain; SignCount is kept apart so that a store can compare it.
type Passkey struct {
	CredentialID []byte
	UserID       string
	Name         string
	Data         []byte
	SignCount    uint32
	CreatedAt    time.Time
	LastUsedAt   time.Time // zero until first used
}

// CounterMovedForward is WebAuthn's rule for a signature counter
// (§6.1.1): an assertion's counter must be above the stored one, unless
// both are 0 (authenticators without a counter, as synced passkeys are).
// The SQL stores write the same rule in their UPDATE's WHERE clause.
func CounterMovedForward(stored, asserted uint32) bool {
	return asserted > stored || (asserted == 0 && stored == 0)
}

// PasskeyNotUsed is the error of a FactorStore's UsePasskey whose
// conditional write changed nothing: ErrInvalidPasskey while the user's
// passkey is there (its counter did not move forward), ErrNotFound when it
// is gone, or the store's error. find is the store's PasskeyByCredentialID.
func PasskeyNotUsed(ctx context.Context, p *Passkey, find func(context.Context, []byte) (*Passkey, error)) error {
	pk, err := find(ctx, p.CredentialID)
	switch {
	case err == nil && pk.UserID == p.UserID:
		return ErrInvalidPasskey
	case err == nil || errors.Is(err, ErrNotFound):
		return ErrNotFound
	}
	return err
}

// FactorStore keeps second factors: a TOTP authenticator, recovery codes
// (only their SHA-256) and passkeys. A store that shares a database with
// the UserStore removes a user's factors with the user; DeleteFactors
// serves the others.
type FactorStore interface {
	// TOTP returns the user's authenticator, confirmed or not; ErrNotFound
	// when there is none.
	TOTP(ctx context.Context, userID string) (*TOTPFactor, error)
	// PutTOTP stores f as the user's authenticator, replacing any other.
	PutTOTP(ctx context.Context, f *TOTPFactor) error
	// UseTOTPStep records that the code of step was accepted: it succeeds
	// only when the user's authenticator is confirmed and step is after its
	// LastStep (of concurrent calls with one step, exactly one succeeds);
	// ErrNotFound otherwise.
	UseTOTPStep(ctx context.Context, userID string, step int64) error
	// DeleteTOTP removes the user's authenticator; ErrNotFound when none.
	DeleteTOTP(ctx context.Context, userID string) error

	// ReplaceRecoveryCodes makes hashes the user's only recovery codes.
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error
	// UseRecoveryCode spends one code: of concurrent calls with one hash,
	// exactly one succeeds; ErrNotFound when the user has no such code.
	UseRecoveryCode(ctx context.Context, userID string, hash []byte) error
	// RecoveryCodesLeft counts the user's unspent codes.
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)

	// CreatePasskey stores p; ErrCredentialTaken when its credential ID is
	// registered already (to anyone).
	CreatePasskey(ctx context.Context, p *Passkey) error
	// Passkeys lists the user's passkeys, oldest first.
	Passkeys(ctx context.Context, userID string) ([]*Passkey, error)
	// PasskeyByCredentialID finds a passkey by its credential ID;
	// ErrNotFound when unknown.
	PasskeyByCredentialID(ctx context.Context, credentialID []byte) (*Passkey, error)
	// RenamePasskey sets the name of the user's passkey, and nothing
	// else; ErrNotFound when the user has none with this credential ID.
	RenamePasskey(ctx context.Context, userID string, credentialID []byte, name string) error
	// UsePasskey records a verified assertion: Data, SignCount and
	// LastUsedAt of the user's passkey with p's credential ID, written only
	// if the stored counter is below p.SignCount or both are 0 (an
	// authenticator without a counter). The counter rule of WebAuthn is so
	// decided by the store in one step: of concurrent assertions carrying
	// one counter value, one is recorded. ErrInvalidPasskey when the
	// counter did not move forward (nothing written); ErrNotFound when the
	// passkey is unknown.
	UsePasskey(ctx context.Context, p *Passkey) error
	// DeletePasskey removes the user's passkey; ErrNotFound when the user
	// has none with this credential ID.
	DeletePasskey(ctx context.Context, userID string, credentialID []byte) error

	// DeleteFactors removes every factor of the user (none is not an error).
	DeleteFactors(ctx context.Context, userID string) error
}

// TOTPCodes computes RFC 6238 codes (SHA-1, 6 digits, 30-second steps) and
// the otpauth:// URLs that authenticator apps read.
type TOTPCodes interface {
	// Code returns the code of secret for the step that holds t.
	Code(secret []byte, t time.Time) (string, error)
	// KeyURL returns the otpauth:// URL for secret, labelled with issuer
	// and account, and the secret as the apps type it (base32).
	KeyURL(issuer, account string, secret []byte) (url, encoded string, err error)
}

// SecretSealer encrypts small secrets at rest (TOTP keys) with the master
// key; aad binds a sealed secret to its record.
type SecretSealer interface {
	SealSecret(plain, aad []byte) ([]byte, error)
	OpenSecret(sealed, aad []byte) ([]byte, error)
}
