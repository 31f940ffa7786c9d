package latch

import "time"

// WebAuthn runs the two browser ceremonies of passkeys (W3C Web
// Authentication) for one relying party, --webauthn-rp-id with its
// --webauthn-origins: registration, which adds a passkey to an account, and
// assertion, which logs in with one.
//
// Options go to the browser as JSON, {"publicKey": {...}} with every binary
// member in base64url, which navigator.credentials.create and .get take once
// those members are decoded. Responses come back as the JSON of the
// browser's PublicKeyCredential (its toJSON form). State is what the
// adapter needs between the two steps of one ceremony, opaque to the
// Service, which keeps it in an AccountToken; a Passkey's Data is the
// adapter's own record of the credential.
type WebAuthn interface {
	// BeginRegistration returns the creation options that add a passkey to
	// u: a discoverable credential (resident key required), user
	// verification preferred, no attestation asked for, the user handle
	// u.ID (no personal data), and every passkey in exclude listed so that
	// an authenticator holding one of them declines.
	BeginRegistration(u *User, exclude []*Passkey) (*WebAuthnCeremony, error)
	// FinishRegistration verifies a browser's new credential against the
	// ceremony's state: its type, challenge, origin, rpId hash, user
	// presence and attestation statement. It returns the passkey with
	// CredentialID, Data and SignCount set (the Service names and stores
	// it). A credential that does not verify is ErrInvalidPasskey.
	FinishRegistration(state []byte, u *User, r *WebAuthnResponse) (*Passkey, error)
	// BeginLogin returns the request options of an assertion: allow lists
	// the passkeys the browser may use (the second step of a login, all of
	// them one user's); none for a discoverable (passwordless) login,
	// whose allowCredentials is then empty.
	BeginLogin(allow []*Passkey) (*WebAuthnCeremony, error)
	// FinishLogin verifies an assertion made with pk against the
	// ceremony's state: its type, challenge, origin, rpId hash, user
	// presence and signature; that pk is one the ceremony allowed; and
	// that the user handle, when the authenticator sends one (a
	// passwordless login needs it), is pk's user. It returns pk's record as
	// the assertion leaves it. An assertion that does not verify is
	// ErrInvalidPasskey; a sign counter that did not move forward is not an
	// error but PasskeyUse.CloneWarning, for the Service to decide.
	FinishLogin(state []byte, r *WebAuthnResponse, pk *Passkey) (*PasskeyUse, error)
	// ReadResponse reads, without verifying anything, what a browser
	// answered to either ceremony: the challenge its client data carries
	// back, which finds the ceremony, and the credential and user handle,
	// which find the passkey. Something that is not such an answer is
	// ErrInvalidRequest.
	ReadResponse(response []byte) (*WebAuthnResponse, error)
}

// WebAuthnCeremony is the first step of a ceremony: the options for the
// browser, the state to keep until the second step, and the challenge
// (base64url, as the browser's client data carries it back) under whose
// hash the Service keeps that state.
type WebAuthnCeremony struct {
	Options   []byte
	State     []byte
	Challenge string
}

// WebAuthnResponse is a browser's answer to a ceremony, read but not yet
// verified.
type WebAuthnResponse struct {
	Challenge    string // base64url, from the client data
	CredentialID []byte
	UserHandle   []byte // the user ID given at registration; assertions only, and optional in a second step
	Raw          []byte // the JSON as received, for the adapter's Finish methods
}

// PasskeyUse is the outcome of a verified assertion.
type PasskeyUse struct {
	// Passkey is the record as the assertion leaves it: Data and
	// SignCount updated (the Service sets LastUsedAt).
	Passkey *Passkey
	// UserVerified: the authenticator verified the person (PIN,
	// biometrics), not only their presence.
	UserVerified bool
	// CloneWarning: the authenticator's signature counter did not move
	// forward from the stored one, so two copies of the key may exist.
	CloneWarning bool
}

// PasskeyCeremonyTTL is how long a WebAuthn ceremony waits for the
// browser's answer; the options tell the browser the same timeout.
const PasskeyCeremonyTTL = 5 * time.Minute
