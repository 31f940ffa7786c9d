package latch

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxPasskeyName bounds the name a person gives a passkey, in characters.
const maxPasskeyName = 64

// PasskeysEnabled reports whether passkeys are configured (a relying
// party), for the pages to offer them or not.
func (s *Service) PasskeysEnabled() bool { return s.webauthn != nil }

// passkeysReady reports whether passkeys can be used at all.
func (s *Service) passkeysReady() error {
	if err := s.mfaReady(); err != nil {
		return err
	}
	if s.webauthn == nil {
		return fmt.Errorf("%w: passkeys are not configured (--webauthn-rp-id, --webauthn-origins)", ErrUnavailable)
	}
	return nil
}

// BeginPasskeyRegistration starts adding a passkey to the caller's account
// (API.md §8) and returns the creation options for the browser. It needs a
// login within ReauthWindow. The account's passkeys are excluded, so an
// authenticator that holds one of them declines to make a second. The
// ceremony lives PasskeyCeremonyTTL, kept under the hash of its challenge.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, p *Principal) ([]byte, error) {
	if err := s.passkeysReady(); err != nil {
		return nil, err
	}
	if err := s.requireRecentAuth(p); err != nil {
		return nil, err
	}
	existing, err := s.factors.Passkeys(ctx, p.User.ID)
	if err != nil {
		return nil, storeErr(err)
	}
	c, err := s.webauthn.BeginRegistration(p.User, existing)
	if err != nil {
		return nil, err
	}
	if err := s.startWebAuthn(ctx, PurposeWebAuthnRegister, p.User.ID, "", c); err != nil {
		return nil, err
	}
	return c.Options, nil
}

// FinishPasskeyRegistration verifies the browser's new credential (the
// JSON of its PublicKeyCredential) and stores it as a passkey of the
// caller, named name, or "Passkey N" when name is empty. It needs a login
// within ReauthWindow. The ceremony must be one the caller began and is
// spent whatever the outcome (ErrInvalidToken otherwise); a credential
// that does not verify is ErrInvalidRequest, one registered already
// ErrCredentialTaken. From now on logins with the password ask for a
// second factor.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, p *Principal, credential []byte, name string) (*Passkey, error) {
	if err := s.passkeysReady(); err != nil {
		return nil, err
	}
	if err := s.requireRecentAuth(p); err != nil {
		return nil, err
	}
	if name != "" {
		var err error
		if name, err = passkeyName(name); err != nil {
			return nil, err
		}
	}
	r, err := s.webauthn.ReadResponse(credential)
	if err != nil {
		return nil, err
	}
	state, err := s.takeWebAuthn(ctx, r, PurposeWebAuthnRegister, p.User.ID, "")
	if err != nil {
		return nil, err
	}
	pk, err := s.webauthn.FinishRegistration(state, p.User, r)
	if errors.Is(err, ErrInvalidCredentials) {
		s.logger.Info("passkey registration refused", "user_id", p.User.ID, "err", err)
		return nil, invalid("The new passkey could not be verified.")
	}
	if err != nil {
		return nil, err
	}
	existing, err := s.factors.Passkeys(ctx, p.User.ID)
	if err != nil {
		return nil, storeErr(err)
	}
	if name == "" {
		name = defaultPasskeyName(existing)
	}
	pk.UserID, pk.Name, pk.CreatedAt = p.User.ID, name, s.now().UTC()
	if err := s.factors.CreatePasskey(ctx, pk); err != nil {
		return nil, storeErr(err)
	}
	s.emit(ctx, Event{Kind: EventPasskeyAdded, UserID: p.User.ID, SessionID: p.SessionID, Detail: name})
	return pk, nil
}

// Passkeys lists the caller's passkeys, oldest first.
func (s *Service) Passkeys(ctx context.Context, p *Principal) ([]*Passkey, error) {
	if err := s.mfaReady(); err != nil {
		return nil, err
	}
	pks, err := s.factors.Passkeys(ctx, p.User.ID)
	return pks, storeErr(err)
}

// RenamePasskey gives one of the caller's passkeys (by credential ID) a
// new name: trimmed, 1 to 64 characters, no control characters. It needs
// a login within ReauthWindow. Another account's passkey is ErrNotFound.
func (s *Service) RenamePasskey(ctx context.Context, p *Principal, credentialID []byte, name string) (*Passkey, error) {
	if err := s.mfaReady(); err != nil {
		return nil, err
	}
	if err := s.requireRecentAuth(p); err != nil {
		return nil, err
	}
	name, err := passkeyName(name)
	if err != nil {
		return nil, err
	}
	pk, err := s.callerPasskey(ctx, p, credentialID)
	if err != nil {
		return nil, err
	}
	if err := s.factors.RenamePasskey(ctx, p.User.ID, pk.CredentialID, name); err != nil {
		return nil, storeErr(err)
	}
	pk.Name = name
	s.emit(ctx, Event{Kind: EventPasskeyRenamed, UserID: p.User.ID, SessionID: p.SessionID, Detail: name})
	return pk, nil
}

// RemovePasskey removes one of the caller's passkeys (by credential ID;
// another account's is ErrNotFound). It needs a login within ReauthWindow.
//
// Removing the account's last second factor (no other passkey, no
// authenticator app) needs two things more, so that a stolen session
// cannot strip the account down to its password: the current password,
// checked under the login lockout (ErrInvalidRequest when missing,
// ErrWrongPassword when wrong), and a login that itself used a second
// factor, amr hwk or otp (ErrReauthRequired otherwise: log in again, with
// the passkey, and retry). The recovery codes go with the last factor. A
// current password given when it is not needed is checked all the same.
func (s *Service) RemovePasskey(ctx context.Context, p *Principal, credentialID []byte, currentPassword string) error {
	if err := s.mfaReady(); err != nil {
		return err
	}
	if err := s.requireRecentAuth(p); err != nil {
		return err
	}
	pk, err := s.callerPasskey(ctx, p, credentialID)
	if err != nil {
		return err
	}
	last, err := s.lastFactor(ctx, p.User.ID)
	if err != nil {
		return err
	}
	if last {
		if !slices.ContainsFunc(p.AMR(), func(m string) bool { return m == AMRHardwareKey || m == AMROTP }) {
			return ErrReauthRequired
		}
		if currentPassword == "" {
			return invalid("Removing the last second factor needs current_password.")
		}
	}
	if currentPassword != "" {
		if _, err := s.currentPassword(ctx, p.User.ID, currentPassword); err != nil {
			return err
		}
	}
	if err := s.factors.DeletePasskey(ctx, p.User.ID, pk.CredentialID); err != nil {
		return storeErr(err) // ErrNotFound: a concurrent removal won
	}
	if err := s.dropCodesWithoutFactor(ctx, p.User.ID); err != nil {
		return err
	}
	s.emit(ctx, Event{Kind: EventPasskeyRemoved, UserID: p.User.ID, SessionID: p.SessionID, Detail: pk.Name})
	return nil
}

// lastFactor reports whether the account has exactly one second factor
// left and it is a passkey.
func (s *Service) lastFactor(ctx context.Context, userID string) (bool, error) {
	pks, err := s.factors.Passkeys(ctx, userID)
	if err != nil {
		return false, storeErr(err)
	}
	if len(pks) != 1 {
		return false, nil
	}
	f, err := s.factors.TOTP(ctx, userID)
	switch {
	case errors.Is(err, ErrNotFound):
		return true, nil
	case err != nil:
		return false, storeErr(err)
	}
	return !f.Confirmed, nil
}

// callerPasskey finds one of the caller's passkeys by credential ID.
func (s *Service) callerPasskey(ctx context.Context, p *Principal, credentialID []byte) (*Passkey, error) {
	if len(credentialID) == 0 || len(credentialID) > maxCredentialID {
		return nil, ErrNotFound
	}
	pk, err := s.factors.PasskeyByCredentialID(ctx, credentialID)
	if err != nil {
		return nil, storeErr(err)
	}
	if pk.UserID != p.User.ID {
		return nil, ErrNotFound // the same answer as an unknown ID
	}
	return pk, nil
}

// maxCredentialID is the longest credential ID WebAuthn allows (§4,
// "Credential ID").
const maxCredentialID = 1023

// passkeyName checks a name a person gives a passkey.
func passkeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxPasskeyName ||
		strings.ContainsFunc(name, unicode.IsControl) {
		return "", invalid("A passkey's name is 1 to 64 characters, without control characters.")
	}
	return name, nil
}

// defaultPasskeyName is "Passkey N", N one more than the account's
// passkeys, or the next number no passkey of the account is named after.
func defaultPasskeyName(existing []*Passkey) string {
	taken := make(map[string]bool, len(existing))
	for _, pk := range existing {
		taken[pk.Name] = true
	}
	for n := len(existing) + 1; ; n++ {
		if name := fmt.Sprintf("Passkey %d", n); !taken[name] {
			return name
		}
	}
}

// startWebAuthn keeps the state of a WebAuthn ceremony under the hash of
// its challenge, which the browser's answer carries back in its client
// data: the answer finds its ceremony with no other handle. userID is the
// account the ceremony was begun for ("" for a passwordless login); bind,
// when not empty, ties it to another ceremony (an mfa_token's hash).
func (s *Service) startWebAuthn(ctx context.Context, purpose TokenPurpose, userID, bind string, c *WebAuthnCeremony) error {
	if bind == "" {
		bind = "-"
	}
	_, err := s.putCeremony(ctx, c.Challenge, purpose, userID, bind+" "+string(c.State), PasskeyCeremonyTTL)
	return err
}

// takeWebAuthn spends the ceremony a browser's answer belongs to and
// returns its state. It must be live, of purpose, begun for userID and
// bound to bind; anything else, or a ceremony a concurrent answer spent
// first, is ErrInvalidToken. The ceremony is spent before the answer is
// verified: one challenge, one try.
func (s *Service) takeWebAuthn(ctx context.Context, r *WebAuthnResponse, purpose TokenPurpose, userID, bind string) ([]byte, error) {
	if r.Challenge == "" || len(r.Challenge) > maxLinkSecret {
		return nil, ErrInvalidToken
	}
	if bind == "" {
		bind = "-"
	}
	hash := HashSecret(r.Challenge)
	t, err := s.tokens.AccountToken(ctx, hash, s.now().UTC())
	if errors.Is(err, ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, storeErr(err)
	}
	b, state, _ := strings.Cut(t.Data, " ")
	if t.Purpose != purpose || t.UserID != userID || b != bind {
		return nil, ErrInvalidToken
	}
	if _, err := s.tokens.ConsumeAccountToken(ctx, hash, s.now().UTC()); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, ErrInvalidToken
		}
		return nil, storeErr(err)
	}
	return []byte(state), nil
}

// ceremonyBinding is what a WebAuthn ceremony begun in the second step of
// a login is bound to: the hash of its mfa_token.
func ceremonyBinding(t *AccountToken) string {
	return base64.RawURLEncoding.EncodeToString(t.Hash)
}
