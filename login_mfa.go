package latch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// maxCarry bounds LoginRequest.Carry, which an mfa_token keeps.
const maxCarry = 64

// The second factors a login can ask for (MFAChallenge.Methods, API.md §8).
const (
	MethodTOTP         = "totp"
	MethodWebAuthn     = "webauthn"
	MethodRecoveryCode = "recovery_code"
)

// mfaReady reports whether second factors can be used at all.
func (s *Service) mfaReady() error {
	if s.factors == nil || s.tokens == nil || s.totp == nil {
		return fmt.Errorf("%w: second factors are not configured", ErrUnavailable)
	}
	return nil
}

// factorMethods lists the second factors the account has, in the order of
// API.md §8; none when second factors are not configured.
func (s *Service) factorMethods(ctx context.Context, userID string) ([]string, error) {
	if s.mfaReady() != nil {
		return nil, nil
	}
	var m []string
	f, err := s.factors.TOTP(ctx, userID)
	switch {
	case err == nil && f.Confirmed:
		m = append(m, MethodTOTP)
	case err != nil && !errors.Is(err, ErrNotFound):
		return nil, storeErr(err)
	}
	pks, err := s.factors.Passkeys(ctx, userID)
	if err != nil {
		return nil, storeErr(err)
	}
	if len(pks) > 0 {
		m = append(m, MethodWebAuthn)
	}
	if len(m) > 0 {
		n, err := s.factors.RecoveryCodesLeft(ctx, userID)
		if err != nil {
			return nil, storeErr(err)
		}
		if n > 0 {
			m = append(m, MethodRecoveryCode)
		}
	}
	return m, nil
}

// secondStep returns the challenge of a login whose password was right
// when the account has a second factor, or nil when it has none.
func (s *Service) secondStep(ctx context.Context, u *User, mode SessionKind, carry string) (*MFAChallenge, error) {
	methods, err := s.factorMethods(ctx, u.ID)
	if err != nil || len(methods) == 0 {
		return nil, err
	}
	secret, err := s.newSecret(32)
	if err != nil {
		return nil, err
	}
	if _, err := s.putCeremony(ctx, secret, PurposeMFALogin, u.ID, string(mode)+" "+carry, MFATTL); err != nil {
		return nil, err
	}
	return &MFAChallenge{Token: secret, Methods: methods}, nil
}

// putCeremony stores a login ceremony's account token under the hash of
// its secret: one drawn for it (an mfa_token), or the challenge of a
// WebAuthn ceremony.
func (s *Service) putCeremony(ctx context.Context, secret string, purpose TokenPurpose, userID, data string, ttl time.Duration) (*AccountToken, error) {
	now := s.now().UTC()
	t := &AccountToken{Hash: HashSecret(secret), Purpose: purpose, UserID: userID,
		CreatedAt: now, ExpiresAt: now.Add(ttl), Data: data}
	if err := s.tokens.CreateAccountToken(ctx, t); err != nil {
		return nil, storeErr(err)
	}
	return t, nil
}

// ceremony returns the live account token of a ceremony of purpose, and
// its account; anything else is ErrInvalidToken.
func (s *Service) ceremony(ctx context.Context, secret string, purpose TokenPurpose) (*AccountToken, *User, error) {
	if err := s.mfaReady(); err != nil {
		return nil, nil, err
	}
	return s.findToken(ctx, secret, purpose)
}

// MFARequest is the second step of a login: the mfa_token and one factor.
type MFARequest struct {
	Token string
	// TOTP is a code from the authenticator; RecoveryCode one of the
	// account's recovery codes; Passkey the browser's assertion (JSON) to
	// the options of BeginMFAPasskey. Exactly one is set.
	TOTP, RecoveryCode string
	Passkey            []byte
	UserAgent, IP      string
}

// CompleteMFA finishes a login that answered an MFAChallenge (API.md §8).
// A wrong code, or a passkey assertion that does not verify, counts
// against the mfa_token (MFAAttempts of them kill it) and towards the
// account's lockout; a TOTP code is accepted once. An unknown, expired or
// exhausted mfa_token is ErrInvalidToken, and so is a passkey assertion to
// a WebAuthn ceremony that is not this mfa_token's, or spent.
func (s *Service) CompleteMFA(ctx context.Context, req MFARequest) (*LoginResult, error) {
	given := 0
	for _, f := range []bool{req.TOTP != "", req.RecoveryCode != "", len(req.Passkey) > 0} {
		if f {
			given++
		}
	}
	if given != 1 {
		return nil, invalid("Give exactly one of totp and recovery_code.")
	}
	t, u, err := s.ceremony(ctx, req.Token, PurposeMFALogin)
	if err != nil {
		return nil, err
	}
	if u == nil || u.Disabled {
		return nil, ErrInvalidToken
	}
	amr, wrong := []string{AMRPassword, AMROTP, AMRMultiFactor}, ErrInvalidCode
	if len(req.Passkey) > 0 {
		amr, wrong = []string{AMRPassword, AMRHardwareKey, AMRMultiFactor}, ErrInvalidPasskey
	}
	// A guess under the account's lockout, like the password: concurrent
	// answers cannot all pass the lock check before any is counted.
	ok, err := s.guess(ctx, u.Email, false, func() (bool, error) {
		switch {
		case req.TOTP != "":
			return s.useTOTP(ctx, u.ID, req.TOTP)
		case req.RecoveryCode != "":
			return s.useRecoveryCode(ctx, u.ID, req.RecoveryCode)
		}
		return s.mfaPasskey(ctx, t, u, req.Passkey)
	})
	if errors.Is(err, ErrRateLimited) {
		s.emit(ctx, Event{Kind: EventLogin, Outcome: OutcomeLocked, UserID: u.ID})
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, s.wrongFactor(ctx, t, u, wrong)
	}
	if err := s.consume(ctx, req.Token); err != nil {
		return nil, err
	}
	mode, carry, _ := strings.Cut(t.Data, " ")
	return s.finishLogin(ctx, u, SessionKind(mode), req.UserAgent, req.IP, carry, amr)
}

// wrongFactor counts a wrong second factor against its ceremony (which
// dies at MFAAttempts; guess has counted it towards the account's
// lockout) and returns wrong, the error that says which kind of factor
// was refused.
func (s *Service) wrongFactor(ctx context.Context, t *AccountToken, u *User, wrong error) error {
	s.emit(ctx, Event{Kind: EventLogin, Outcome: OutcomeInvalidSecondFactor, UserID: u.ID})
	n, err := s.tokens.FailAccountToken(ctx, t.Hash, s.now().UTC())
	if err != nil && !errors.Is(err, ErrNotFound) {
		return storeErr(err)
	}
	if err == nil && n >= MFAAttempts {
		if _, err := s.tokens.ConsumeAccountToken(ctx, t.Hash, s.now().UTC()); err != nil && !errors.Is(err, ErrNotFound) {
			return storeErr(err)
		}
	}
	return wrong
}
