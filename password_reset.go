package latch

import (
	"context"
	"errors"
	"slices"
)

// maxLinkSecret bounds the token of a link before it is hashed; the
// secrets latch mints are 43 characters.
const maxLinkSecret = 256

// ForgotPassword asks for a password reset link for email (API.md §8). It
// answers the same, in about the same time, whether the address has an
// account or not: only the normalisation runs before it returns; the
// lookup, the per-account limit, the token and the mail happen afterwards
// in the background, and only for an enabled account within its limit.
// An address that is not one is ErrInvalidEmail (that tells nothing of
// accounts).
func (s *Service) ForgotPassword(ctx context.Context, email string) error {
	if err := s.mailReady(); err != nil {
		return err
	}
	norm, err := s.normalizeEmail(email)
	if err != nil {
		return err
	}
	if !s.background(ctx, func(ctx context.Context) { s.sendReset(ctx, norm) }) {
		s.logger.Warn("password reset request dropped: too much background work in flight")
	}
	return nil
}

// sendReset is the background half of ForgotPassword.
func (s *Service) sendReset(ctx context.Context, norm string) {
	ev := Event{Kind: EventPasswordResetRequested}
	defer func() { s.emit(ctx, ev) }()
	u, err := s.users.UserByEmail(ctx, norm)
	switch {
	case errors.Is(err, ErrNotFound):
		ev.Outcome = OutcomeUnknownAccount
		return
	case err != nil:
		ev.Outcome = OutcomeError
		s.logger.Warn("password reset: looking up the account", "err", err)
		return
	}
	ev.UserID = u.ID
	if u.Disabled {
		ev.Outcome = OutcomeDisabled
		return
	}
	if wait, err := s.allowMail(ctx, "reset:"+u.ID); err != nil || wait > 0 {
		ev.Outcome = OutcomeRateLimited
		return
	}
	secret, expires, err := s.newAccountToken(ctx, PurposePasswordReset, u.ID, u.Email, s.cfg.RecoveryTTL)
	if err == nil {
		err = s.enqueue(ctx, &Mail{Kind: MailPasswordReset, To: u.Email, Link: s.link("/reset", secret), NotAfter: expires})
	}
	if err != nil {
		ev.Outcome = OutcomeError
		s.logger.Warn("password reset: storing the link", "user_id", u.ID, "err", err)
		return
	}
	ev.Outcome = OutcomeSuccess
}

// liveToken returns the unspent, unexpired token of a link if its purpose
// is one of purposes, and its account; anything else is ErrInvalidToken.
func (s *Service) liveToken(ctx context.Context, secret string, purposes ...TokenPurpose) (*AccountToken, *User, error) {
	if err := s.mailReady(); err != nil {
		return nil, nil, err
	}
	return s.findToken(ctx, secret, purposes...)
}

// findToken returns the unspent, unexpired account token of secret if its
// purpose is one of purposes, and its account (nil for a token of no
// account: a passwordless login's ceremony); anything else is
// ErrInvalidToken. It spends nothing.
func (s *Service) findToken(ctx context.Context, secret string, purposes ...TokenPurpose) (*AccountToken, *User, error) {
	if secret == "" || len(secret) > maxLinkSecret {
		return nil, nil, ErrInvalidToken
	}
	t, err := s.tokens.AccountToken(ctx, HashSecret(secret), s.now().UTC())
	if errors.Is(err, ErrNotFound) {
		return nil, nil, ErrInvalidToken
	}
	if err != nil {
		return nil, nil, storeErr(err)
	}
	if !slices.Contains(purposes, t.Purpose) {
		return nil, nil, ErrInvalidToken
	}
	if t.UserID == "" {
		return t, nil, nil
	}
	u, err := s.users.UserByID(ctx, t.UserID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, ErrInvalidToken
	}
	if err != nil {
		return nil, nil, storeErr(err)
	}
	return t, u, nil
}

// consume spends a token looked up by liveToken; a concurrent use that
// spent it first makes this one ErrInvalidToken.
func (s *Service) consume(ctx context.Context, secret string) error {
	_, err := s.tokens.ConsumeAccountToken(ctx, HashSecret(secret), s.now().UTC())
	if errors.Is(err, ErrNotFound) {
		return ErrInvalidToken
	}
	return storeErr(err)
}

// ResetPassword sets a new password with the secret of a reset link
// (API.md §8). A weak password is refused before the link is spent. On
// success every session, refresh family and access token of the account
// is revoked (LogoutAll, through the revocation log), its other reset
// links die, its login lockout is cleared, and a notice goes to its
// address. It never logs anyone in.
func (s *Service) ResetPassword(ctx context.Context, secret, password string) error {
	t, u, err := s.liveToken(ctx, secret, PurposePasswordReset)
	if err != nil {
		return err
	}
	if u.Email != t.Email { // the address changed since the link was sent
		return ErrInvalidToken
	}
	if err := s.checkPassword(password, u.Email); err != nil {
		return err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	if err := s.consume(ctx, secret); err != nil {
		return err
	}
	nu := *u
	nu.PasswordHash, nu.UpdatedAt = hash, s.now().UTC()
	if err := s.users.UpdateUser(ctx, &nu); err != nil {
		return storeErr(err)
	}
	if !nu.EmailVerified { // the link proved the address
		nu.EmailVerified = true
		if err := s.users.UpdateEmail(ctx, &nu); err != nil {
			return storeErr(err)
		}
	}
	s.accounts.put(&nu)
	if err := s.tokens.DeleteAccountTokens(ctx, u.ID, PurposePasswordReset); err != nil {
		return storeErr(err)
	}
	if err := s.LogoutAll(ctx, u.ID); err != nil {
		return err
	}
	if s.throttle != nil {
		if err := s.throttle.Reset(ctx, u.Email); err != nil {
			s.logger.Warn("password reset: clearing login failures", "err", err)
		}
	}
	s.emit(ctx, Event{Kind: EventPasswordReset, UserID: u.ID})
	if err := s.enqueue(ctx, &Mail{Kind: MailPasswordResetDone, To: u.Email}); err != nil {
		// The reset is done; only its notice is missing.
		s.logger.Error("password reset: queueing the notice", "user_id", u.ID, "err", err)
	}
	return nil
}
