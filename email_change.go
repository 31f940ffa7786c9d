package latch

import (
	"context"
	"errors"
)

// RequestVerification mails a verification link for the caller's current
// address (API.md §8); nothing when it is verified already. At most one
// such mail per MailLimiter interval: beyond it, a RateLimitError.
func (s *Service) RequestVerification(ctx context.Context, p *Principal) error {
	if err := s.mailReady(); err != nil {
		return err
	}
	u, err := s.users.UserByID(ctx, p.User.ID)
	if err != nil {
		return storeErr(err)
	}
	if u.EmailVerified {
		return nil
	}
	wait, err := s.allowMail(ctx, "verify:"+u.ID)
	if err != nil {
		return err
	}
	if wait > 0 {
		return &RateLimitError{RetryAfter: wait}
	}
	return s.sendVerification(ctx, u)
}

// sendVerification stores a verification token for u's address and
// queues its link.
func (s *Service) sendVerification(ctx context.Context, u *User) error {
	secret, expires, err := s.newAccountToken(ctx, PurposeVerifyEmail, u.ID, u.Email, s.cfg.VerificationTTL)
	if err != nil {
		return err
	}
	if err := s.enqueue(ctx, &Mail{Kind: MailVerifyEmail, To: u.Email, Link: s.link("/verify-email", secret), NotAfter: expires}); err != nil {
		return err
	}
	s.emit(ctx, Event{Kind: EventEmailVerificationRequested, UserID: u.ID})
	return nil
}

// verifyInBackground mails a verification link after the request (a
// signup or a login refused for an unverified address), within the
// account's mail budget; failures are logged.
func (s *Service) verifyInBackground(ctx context.Context, u *User) {
	if s.mailReady() != nil {
		return
	}
	s.background(ctx, func(ctx context.Context) {
		if wait, err := s.allowMail(ctx, "verify:"+u.ID); err != nil || wait > 0 {
			return
		}
		if err := s.sendVerification(ctx, u); err != nil {
			s.logger.Warn("queueing a verification mail", "user_id", u.ID, "err", err)
		}
	})
}

// ChangeEmail asks to move the caller's account to newEmail (API.md §8),
// after checking that the caller logged in recently (ErrReauthRequired)
// and the current password under the login lockout. A link to
// confirm goes to the new address and a notice to the old one; the
// address changes only when the link is used (VerifyEmail). A new address
// that already has an account gets a notice saying so instead of a link,
// and the caller learns nothing: the answer is the same.
func (s *Service) ChangeEmail(ctx context.Context, p *Principal, newEmail, currentPassword string) error {
	if err := s.mailReady(); err != nil {
		return err
	}
	if err := s.requireRecentAuth(p); err != nil {
		return err
	}
	norm, err := s.normalizeEmail(newEmail)
	if err != nil {
		return err
	}
	u, err := s.users.UserByID(ctx, p.User.ID)
	if err != nil {
		return storeErr(err)
	}
	ok, _, err := s.guessPassword(ctx, u.Email, u.PasswordHash, currentPassword)
	if err != nil {
		return err
	}
	if !ok {
		return ErrWrongPassword
	}
	if norm == u.Email {
		return nil // nothing to change
	}
	wait, err := s.allowMail(ctx, "change:"+u.ID)
	if err != nil {
		return err
	}
	if wait > 0 {
		return &RateLimitError{RetryAfter: wait}
	}
	ev := Event{Kind: EventEmailChangeRequested, UserID: u.ID, Outcome: OutcomeSuccess}
	_, err = s.users.UserByEmail(ctx, norm)
	switch {
	case err == nil:
		ev.Outcome = OutcomeEmailTaken
		err = s.enqueue(ctx, &Mail{Kind: MailEmailInUse, To: norm})
	case errors.Is(err, ErrNotFound):
		secret, expires, terr := s.newAccountToken(ctx, PurposeChangeEmail, u.ID, norm, s.cfg.VerificationTTL)
		if terr != nil {
			return terr
		}
		err = s.enqueue(ctx, &Mail{Kind: MailChangeEmail, To: norm, Link: s.link("/verify-email", secret), NotAfter: expires})
	default:
		return storeErr(err)
	}
	if err != nil {
		return err
	}
	if err := s.enqueue(ctx, &Mail{Kind: MailEmailChangeNotice, To: u.Email, Detail: norm}); err != nil {
		return err
	}
	s.emit(ctx, ev)
	return nil
}

// VerifyEmail uses the secret of a verification or change link (API.md
// §8): the account's address is verified, or becomes the new address,
// verified. A link for an address the account no longer has, or a new
// address another account took meanwhile, is ErrInvalidToken.
func (s *Service) VerifyEmail(ctx context.Context, secret string) error {
	t, u, err := s.liveToken(ctx, secret, PurposeVerifyEmail, PurposeChangeEmail)
	if err != nil {
		return err
	}
	if t.Purpose == PurposeVerifyEmail && u.Email != t.Email {
		return ErrInvalidToken
	}
	if err := s.consume(ctx, secret); err != nil {
		return err
	}
	nu := *u
	nu.Email, nu.EmailVerified, nu.UpdatedAt = t.Email, true, s.now().UTC()
	err = s.users.UpdateEmail(ctx, &nu)
	if errors.Is(err, ErrEmailTaken) {
		return ErrInvalidToken
	}
	if err != nil {
		return storeErr(err)
	}
	s.accounts.put(&nu)
	if t.Purpose == PurposeVerifyEmail {
		s.emit(ctx, Event{Kind: EventEmailVerified, UserID: u.ID})
		return storeErr(s.tokens.DeleteAccountTokens(ctx, u.ID, PurposeVerifyEmail))
	}
	// Links mailed to the old address die with it.
	for _, p := range []TokenPurpose{PurposeVerifyEmail, PurposeChangeEmail, PurposePasswordReset} {
		if err := s.tokens.DeleteAccountTokens(ctx, u.ID, p); err != nil {
			return storeErr(err)
		}
	}
	s.emit(ctx, Event{Kind: EventEmailChanged, UserID: u.ID})
	return nil
}
