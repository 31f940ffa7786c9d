package latch

import (
	"context"
	"errors"
	"fmt"
)

// BeginPasskeyLogin starts a passwordless login (API.md §8) and returns the
// request options for the browser: no allowCredentials, so the browser
// offers the passkeys it holds for this relying party (discoverable
// credentials) and no address is typed. The ceremony lives
// PasskeyCeremonyTTL under the hash of its challenge, which the browser's
// answer carries back, so nothing else has to travel between the steps.
func (s *Service) BeginPasskeyLogin(ctx context.Context) ([]byte, error) {
	if err := s.passkeysReady(); err != nil {
		return nil, err
	}
	c, err := s.webauthn.BeginLogin(nil)
	if err != nil {
		return nil, err
	}
	if err := s.startWebAuthn(ctx, PurposeWebAuthnLogin, "", "", c); err != nil {
		return nil, err
	}
	return c.Options, nil
}

// PasskeyLoginRequest is the second step of a passwordless login.
type PasskeyLoginRequest struct {
	// Credential is the browser's assertion: the JSON of its
	// PublicKeyCredential.
	Credential    []byte
	Mode          SessionKind // KindSession or KindToken
	UserAgent, IP string
	// PlantedSecret and Carry are as in LoginRequest.
	PlantedSecret string
	Carry         string
}

// FinishPasskeyLogin completes a passwordless login with the browser's
// assertion to the options of BeginPasskeyLogin. The ceremony is spent
// whatever the outcome (a spent, expired or unknown one is
// ErrInvalidToken). An unknown credential, a bad signature, another
// origin or relying party, a user handle that is not the passkey's
// account, or a signature counter that did not move forward (a suspected
// clone, reported as EventPasskeyCloned) are one answer,
// ErrInvalidPasskey. The account is then checked as Login checks it
// (disabled, unverified address). The login's amr is hwk, with mfa when
// the authenticator verified the person (UV: a PIN or biometrics besides
// the device). A passkey cannot be guessed, so these logins neither count
// towards nor wait for the account's lockout; the per-IP limit of the HTTP
// layer bounds them.
func (s *Service) FinishPasskeyLogin(ctx context.Context, req PasskeyLoginRequest) (*LoginResult, error) {
	if req.Mode != KindSession && req.Mode != KindToken {
		return nil, fmt.Errorf("%w: unknown mode %q", ErrInvalidRequest, req.Mode)
	}
	if len(req.Carry) > maxCarry {
		return nil, fmt.Errorf("%w: carry too long", ErrInvalidRequest)
	}
	if err := s.passkeysReady(); err != nil {
		return nil, err
	}
	if req.PlantedSecret != "" {
		if err := s.destroyPlanted(ctx, req.PlantedSecret); err != nil {
			return nil, err
		}
	}
	r, err := s.webauthn.ReadResponse(req.Credential)
	if err != nil {
		return nil, err
	}
	state, err := s.takeWebAuthn(ctx, r, PurposeWebAuthnLogin, "", "")
	if err != nil {
		return nil, err
	}
	refused := func(userID string) (*LoginResult, error) {
		s.emit(ctx, Event{Kind: EventLogin, Outcome: OutcomeInvalidCredentials, UserID: userID, Detail: "passkey"})
		return nil, ErrInvalidPasskey
	}
	pk, err := s.passkey(ctx, r.CredentialID)
	if errors.Is(err, ErrNotFound) {
		return refused("")
	}
	if err != nil {
		return nil, err
	}
	u, err := s.users.UserByID(ctx, pk.UserID)
	if errors.Is(err, ErrNotFound) {
		return refused("")
	}
	if err != nil {
		return nil, storeErr(err)
	}
	use, err := s.usePasskey(ctx, state, r, pk)
	if errors.Is(err, ErrInvalidPasskey) {
		return refused(u.ID)
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		s.emit(ctx, Event{Kind: EventLogin, Outcome: OutcomeDisabled, UserID: u.ID})
		return nil, ErrAccountDisabled
	}
	if s.cfg.RequireVerifiedEmail && !u.EmailVerified {
		s.emit(ctx, Event{Kind: EventLogin, Outcome: OutcomeEmailUnverified, UserID: u.ID})
		s.verifyInBackground(ctx, u)
		return nil, ErrEmailUnverified
	}
	amr := []string{AMRHardwareKey}
	if use.UserVerified {
		amr = append(amr, AMRMultiFactor)
	}
	return s.finishLogin(ctx, u, req.Mode, req.UserAgent, req.IP, req.Carry, amr)
}

// BeginMFAPasskey starts the WebAuthn second step of a login that answered
// an MFAChallenge (API.md §8) and returns the request options for the
// browser, whose allowCredentials are the account's passkeys. The
// ceremony is bound to the mfa_token: CompleteMFA with its assertion
// takes that token and no other. An unknown, expired or exhausted
// mfa_token is ErrInvalidToken; an account with no passkey,
// ErrInvalidRequest.
func (s *Service) BeginMFAPasskey(ctx context.Context, token string) ([]byte, error) {
	if err := s.passkeysReady(); err != nil {
		return nil, err
	}
	t, u, err := s.ceremony(ctx, token, PurposeMFALogin)
	if err != nil {
		return nil, err
	}
	if u == nil || u.Disabled {
		return nil, ErrInvalidToken
	}
	pks, err := s.factors.Passkeys(ctx, u.ID)
	if err != nil {
		return nil, storeErr(err)
	}
	if len(pks) == 0 {
		return nil, invalid("The account has no passkey; use another method.")
	}
	c, err := s.webauthn.BeginLogin(pks)
	if err != nil {
		return nil, err
	}
	if err := s.startWebAuthn(ctx, PurposeWebAuthnLogin, u.ID, ceremonyBinding(t), c); err != nil {
		return nil, err
	}
	return c.Options, nil
}

// mfaPasskey checks the passkey assertion of a second step (t is its
// mfa_token): false for one that does not verify, is not by a passkey of
// u, or comes from a suspected clone, all of which count as a wrong
// factor. A malformed answer is ErrInvalidRequest and a ceremony that is
// not t's, or spent, ErrInvalidToken; neither counts.
func (s *Service) mfaPasskey(ctx context.Context, t *AccountToken, u *User, assertion []byte) (bool, error) {
	if err := s.passkeysReady(); err != nil {
		return false, err
	}
	r, err := s.webauthn.ReadResponse(assertion)
	if err != nil {
		return false, err
	}
	state, err := s.takeWebAuthn(ctx, r, PurposeWebAuthnLogin, u.ID, ceremonyBinding(t))
	if err != nil {
		return false, err
	}
	pk, err := s.passkey(ctx, r.CredentialID)
	if errors.Is(err, ErrNotFound) || (err == nil && pk.UserID != u.ID) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, err = s.usePasskey(ctx, state, r, pk)
	if errors.Is(err, ErrInvalidPasskey) {
		return false, nil
	}
	return err == nil, err
}

// passkey finds a passkey by the credential ID a browser sent.
func (s *Service) passkey(ctx context.Context, credentialID []byte) (*Passkey, error) {
	if len(credentialID) == 0 || len(credentialID) > maxCredentialID {
		return nil, ErrNotFound
	}
	pk, err := s.factors.PasskeyByCredentialID(ctx, credentialID)
	return pk, storeErr(err)
}

// usePasskey verifies an assertion made with pk and records the use: the
// new signature counter and record, and the time. A counter that did not
// move forward refuses the login (ErrInvalidPasskey) and is reported as
// EventPasskeyCloned; the stored counter stays as it was. The library
// checks the counter against pk as read; the store checks it again as it
// writes, for assertions that race with one counter value.
func (s *Service) usePasskey(ctx context.Context, state []byte, r *WebAuthnResponse, pk *Passkey) (*PasskeyUse, error) {
	use, err := s.webauthn.FinishLogin(state, r, pk)
	if errors.Is(err, ErrInvalidCredentials) {
		s.logger.Info("passkey assertion refused", "user_id", pk.UserID, "err", err)
		return nil, ErrInvalidPasskey
	}
	if err != nil {
		return nil, err
	}
	if use.CloneWarning {
		return nil, s.clonedPasskey(ctx, pk)
	}
	up := use.Passkey
	up.LastUsedAt = s.now().UTC()
	switch err := s.factors.UsePasskey(ctx, up); {
	case errors.Is(err, ErrInvalidPasskey): // another assertion with this counter came first
		return nil, s.clonedPasskey(ctx, pk)
	case errors.Is(err, ErrNotFound):
		return nil, ErrInvalidPasskey // removed meanwhile
	case err != nil:
		return nil, storeErr(err)
	}
	return use, nil
}

// clonedPasskey reports an assertion whose signature counter did not move
// forward and returns the refusal.
func (s *Service) clonedPasskey(ctx context.Context, pk *Passkey) error {
	s.logger.Warn("passkey signature counter did not move forward: refused as a possible clone", "user_id", pk.UserID)
	s.emit(ctx, Event{Kind: EventPasskeyCloned, UserID: pk.UserID, Detail: pk.Name})
	return ErrInvalidPasskey
}
