package latch

import (
	"context"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// totpStep is the RFC 6238 time step latch uses (and authenticator apps
// assume).
const totpStep = 30 * time.Second

// TOTPSetup is an authenticator being added: the secret as apps type it
// (base32) and the otpauth:// URL a QR code carries.
type TOTPSetup struct {
	Secret string
	URL    string
}

// BeginTOTP starts adding an authenticator to the caller's account (API.md
// §8): it checks the current password under the login lockout and stores
// a new secret, which counts only once ConfirmTOTP has seen a code from
// it. An account with a confirmed authenticator must remove it first.
func (s *Service) BeginTOTP(ctx context.Context, p *Principal, currentPassword string) (*TOTPSetup, error) {
	u, err := s.sensitive(ctx, p, currentPassword)
	if err != nil {
		return nil, err
	}
	if f, err := s.factors.TOTP(ctx, u.ID); err == nil && f.Confirmed {
		return nil, invalid("An authenticator is active already; remove it first.")
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, storeErr(err)
	}
	secret := make([]byte, 20) // RFC 4226 §4: 160 bits
	if _, err := io.ReadFull(s.rand, secret); err != nil {
		return nil, fmt.Errorf("reading randomness: %w", err)
	}
	url, encoded, err := s.totp.KeyURL(s.cfg.TOTPIssuer, u.Email, secret)
	if err != nil {
		return nil, err
	}
	f := &TOTPFactor{UserID: u.ID, Secret: secret, CreatedAt: s.now().UTC()}
	if s.sealer != nil {
		if f.Secret, err = s.sealer.SealSecret(secret, totpAAD(u.ID)); err != nil {
			return nil, err
		}
		f.Sealed = true
	}
	if err := s.factors.PutTOTP(ctx, f); err != nil {
		return nil, storeErr(err)
	}
	return &TOTPSetup{Secret: encoded, URL: url}, nil
}

// ConfirmTOTP activates the authenticator BeginTOTP stored, given a current
// code from it, and returns a new set of recovery codes (shown once: only
// their hashes are kept). From then on logins ask for a second factor.
func (s *Service) ConfirmTOTP(ctx context.Context, p *Principal, code string) ([]string, error) {
	if err := s.mfaReady(); err != nil {
		return nil, err
	}
	if err := s.requireRecentAuth(p); err != nil {
		return nil, err
	}
	f, err := s.factors.TOTP(ctx, p.User.ID)
	if errors.Is(err, ErrNotFound) || (err == nil && f.Confirmed) {
		return nil, invalid("No authenticator is waiting for confirmation.")
	}
	if err != nil {
		return nil, storeErr(err)
	}
	step, ok, err := s.matchTOTP(f, code)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, invalid("That code is not the authenticator's current one.")
	}
	f.Confirmed, f.LastStep = true, step
	if err := s.factors.PutTOTP(ctx, f); err != nil {
		return nil, storeErr(err)
	}
	codes, err := s.replaceRecoveryCodes(ctx, p.User.ID)
	if err != nil {
		return nil, err
	}
	s.emit(ctx, Event{Kind: EventTOTPEnabled, UserID: p.User.ID, SessionID: p.SessionID})
	return codes, nil
}

// DisableTOTP removes the caller's authenticator, given the current
// password and a current code (or a recovery code). With no passkey left,
// the recovery codes go too.
func (s *Service) DisableTOTP(ctx context.Context, p *Principal, currentPassword, code string) error {
	u, err := s.sensitive(ctx, p, currentPassword)
	if err != nil {
		return err
	}
	f, err := s.factors.TOTP(ctx, u.ID)
	if errors.Is(err, ErrNotFound) || (err == nil && !f.Confirmed) {
		// One waiting for confirmation is no factor: the next setup
		// replaces it.
		return invalid("The account has no authenticator.")
	}
	if err != nil {
		return storeErr(err)
	}
	if err := s.currentFactor(ctx, u, code); err != nil {
		return err
	}
	if err := s.factors.DeleteTOTP(ctx, u.ID); err != nil && !errors.Is(err, ErrNotFound) {
		return storeErr(err)
	}
	if err := s.dropCodesWithoutFactor(ctx, u.ID); err != nil {
		return err
	}
	s.emit(ctx, Event{Kind: EventTOTPDisabled, UserID: u.ID, SessionID: p.SessionID})
	return nil
}

// NewRecoveryCodes replaces the caller's recovery codes with a new set,
// given the current password. The account must have a second factor.
func (s *Service) NewRecoveryCodes(ctx context.Context, p *Principal, currentPassword string) ([]string, error) {
	u, err := s.sensitive(ctx, p, currentPassword)
	if err != nil {
		return nil, err
	}
	methods, err := s.factorMethods(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if len(methods) == 0 {
		return nil, invalid("Recovery codes need a second factor first.")
	}
	codes, err := s.replaceRecoveryCodes(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	s.emit(ctx, Event{Kind: EventRecoveryCodes, UserID: u.ID, SessionID: p.SessionID})
	return codes, nil
}

// ResetFactors removes every second factor of an account (its TOTP, its
// recovery codes and its passkeys): the operator's way back in for a
// person who lost both the phone and the codes. Its sessions stay; the
// next login asks for the password alone. ErrNotFound for an unknown user.
func (s *Service) ResetFactors(ctx context.Context, userID string) error {
	if err := s.mfaReady(); err != nil {
		return err
	}
	if _, err := s.users.UserByID(ctx, userID); err != nil {
		return storeErr(err)
	}
	if err := s.factors.DeleteFactors(ctx, userID); err != nil {
		return storeErr(err)
	}
	s.emit(ctx, Event{Kind: EventFactorsReset, UserID: userID})
	return nil
}

// Security is what the account's security page shows.
type Security struct {
	TOTP              bool // a confirmed authenticator
	RecoveryCodesLeft int
	Passkeys          []*Passkey
	// AuthTime and AMR describe the caller's own login; ReauthBy is when
	// sensitive changes start to need a new one.
	AuthTime time.Time
	AMR      []string
	ReauthBy time.Time
}

// Security describes the caller's second factors.
func (s *Service) Security(ctx context.Context, p *Principal) (*Security, error) {
	if err := s.mfaReady(); err != nil {
		return nil, err
	}
	sec := &Security{AuthTime: p.AuthTime(), AMR: p.AMR()}
	if !sec.AuthTime.IsZero() {
		sec.ReauthBy = sec.AuthTime.Add(s.cfg.ReauthWindow)
	}
	f, err := s.factors.TOTP(ctx, p.User.ID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, storeErr(err)
	}
	sec.TOTP = err == nil && f.Confirmed
	if sec.Passkeys, err = s.factors.Passkeys(ctx, p.User.ID); err != nil {
		return nil, storeErr(err)
	}
	if sec.RecoveryCodesLeft, err = s.factors.RecoveryCodesLeft(ctx, p.User.ID); err != nil {
		return nil, storeErr(err)
	}
	return sec, nil
}

// sensitive runs the checks of a change to the caller's second factors:
// configured, a recent login, the current password (under the lockout).
func (s *Service) sensitive(ctx context.Context, p *Principal, currentPassword string) (*User, error) {
	if err := s.mfaReady(); err != nil {
		return nil, err
	}
	if err := s.requireRecentAuth(p); err != nil {
		return nil, err
	}
	return s.currentPassword(ctx, p.User.ID, currentPassword)
}

// currentPassword checks the account's current password under the login
// lockout, and returns the account as the store has it.
func (s *Service) currentPassword(ctx context.Context, userID, password string) (*User, error) {
	u, err := s.users.UserByID(ctx, userID)
	if err != nil {
		return nil, storeErr(err)
	}
	ok, _, err := s.guessPassword(ctx, u.Email, u.PasswordHash, password)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrWrongPassword
	}
	return u, nil
}

// currentFactor checks a code that proves the caller still holds a second
// factor: a TOTP code or a recovery code (spent). A wrong one counts
// towards the lockout and is ErrInvalidCredentials.
func (s *Service) currentFactor(ctx context.Context, u *User, code string) error {
	ok, err := s.guess(ctx, u.Email, false, func() (bool, error) {
		ok, err := s.useTOTP(ctx, u.ID, code)
		if err == nil && !ok {
			ok, err = s.useRecoveryCode(ctx, u.ID, code)
		}
		return ok, err
	})
	if err != nil {
		return err
	}
	if !ok {
		return ErrInvalidCode
	}
	return nil
}

// dropCodesWithoutFactor removes the recovery codes of an account that has
// no second factor left: they would recover nothing.
func (s *Service) dropCodesWithoutFactor(ctx context.Context, userID string) error {
	methods, err := s.factorMethods(ctx, userID)
	if err != nil {
		return err
	}
	for _, m := range methods {
		if m != MethodRecoveryCode {
			return nil
		}
	}
	return storeErr(s.factors.ReplaceRecoveryCodes(ctx, userID, nil))
}

// useTOTP accepts a code of the user's confirmed authenticator once: the
// current step or one either side (clock drift), never a step at or
// before the last one accepted.
func (s *Service) useTOTP(ctx context.Context, userID, code string) (bool, error) {
	f, err := s.factors.TOTP(ctx, userID)
	if errors.Is(err, ErrNotFound) || (err == nil && !f.Confirmed) {
		return false, nil
	}
	if err != nil {
		return false, storeErr(err)
	}
	step, ok, err := s.matchTOTP(f, code)
	if err != nil || !ok {
		return false, err
	}
	if step <= f.LastStep {
		return false, nil // replay: this code, or a later one, was used
	}
	err = s.factors.UseTOTPStep(ctx, userID, step)
	if errors.Is(err, ErrNotFound) {
		return false, nil // a concurrent use of the same code won
	}
	return err == nil, storeErr(err)
}

// matchTOTP finds the step, among the current one and one either side,
// whose code is code. Every candidate is computed and compared in
// constant time.
func (s *Service) matchTOTP(f *TOTPFactor, code string) (int64, bool, error) {
	code = strings.ReplaceAll(code, " ", "")
	if len(code) != 6 {
		return 0, false, nil
	}
	secret := f.Secret
	if f.Sealed {
		if s.sealer == nil {
			return 0, false, fmt.Errorf("%w: a TOTP secret is sealed and no master key is configured", ErrUnavailable)
		}
		var err error
		if secret, err = s.sealer.OpenSecret(f.Secret, totpAAD(f.UserID)); err != nil {
			return 0, false, fmt.Errorf("%w: opening a TOTP secret: %v", ErrUnavailable, err)
		}
	}
	now := s.now().Unix() / int64(totpStep/time.Second)
	var found int64
	ok := false
	for _, step := range []int64{now - 1, now, now + 1} {
		want, err := s.totp.Code(secret, time.Unix(step*int64(totpStep/time.Second), 0))
		if err != nil {
			return 0, false, err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found, ok = step, true
		}
	}
	return found, ok, nil
}

func totpAAD(userID string) []byte { return []byte("latch totp " + userID) }

// recoveryEncoding writes recovery codes in lower-case RFC 4648 base32,
// whose digits leave out 0, 1, 8 and 9 (read as o, l, b and g); what
// people type back is normalised.
var recoveryEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// replaceRecoveryCodes makes a new set of RecoveryCodeCount codes of 80
// bits each, stores their hashes and returns them as xxxx-xxxx-xxxx-xxxx.
func (s *Service) replaceRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	codes := make([]string, RecoveryCodeCount)
	hashes := make([][]byte, RecoveryCodeCount)
	for i := range codes {
		b := make([]byte, 10)
		if _, err := io.ReadFull(s.rand, b); err != nil {
			return nil, fmt.Errorf("reading randomness: %w", err)
		}
		c := recoveryEncoding.EncodeToString(b) // 16 characters
		codes[i] = c[0:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16]
		hashes[i] = HashSecret(c)
	}
	if err := s.factors.ReplaceRecoveryCodes(ctx, userID, hashes); err != nil {
		return nil, storeErr(err)
	}
	return codes, nil
}

// useRecoveryCode spends one of the user's recovery codes, typed with or
// without dashes, spaces or capitals.
func (s *Service) useRecoveryCode(ctx context.Context, userID, code string) (bool, error) {
	norm := strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(code))
	if len(norm) != 16 {
		return false, nil
	}
	err := s.factors.UseRecoveryCode(ctx, userID, HashSecret(norm))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, storeErr(err)
	}
	left, err := s.factors.RecoveryCodesLeft(ctx, userID)
	if err != nil {
		s.logger.Warn("counting recovery codes", "err", err)
	}
	s.emit(ctx, Event{Kind: EventRecoveryCodeUsed, UserID: userID, Detail: fmt.Sprintf("%d left", left)})
	return true, nil
}
