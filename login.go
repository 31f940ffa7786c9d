package latch

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// LoginRequest is one login attempt.
type LoginRequest struct {
	Email, Password string
	Mode            SessionKind // KindSession or KindToken
	UserAgent, IP   string
	// PlantedSecret is a session cookie sent with the login request; that
	// session is destroyed (fixation defence).
	PlantedSecret string
	// Carry is kept for the caller through a second login step and handed
	// back in LoginResult.Carry (the HTTP layer keeps refresh_delivery in
	// it). At most 64 bytes.
	Carry string
}

// LoginResult is a successful login: a new cookie session or a new refresh
// family with its first access token.
type LoginResult struct {
	User    *User
	Session *Session
	// Secret is the session cookie value (KindSession) or the refresh token (KindToken).
	Secret string
	// CSRFToken is the session's synchronizer token (KindSession).
	CSRFToken string
	// Access is the first access token of the family (KindToken).
	Access *IssuedToken
	// MFA is set, and everything else but Carry empty, when the password
	// was right and a second factor is owed (CompleteMFA).
	MFA *MFAChallenge
	// Carry is LoginRequest.Carry of the login this result completes.
	Carry string
}

// MFAChallenge is the first half of a login with a second factor: the
// mfa_token that CompleteMFA takes, and the factors the account has
// ("totp", "webauthn", "recovery_code").
type MFAChallenge struct {
	Token   string
	Methods []string
}

// Login checks credentials and starts a session or refresh family.
// Unknown emails and wrong passwords take the same path and the same time.
func (s *Service) Login(ctx context.Context, req LoginRequest) (*LoginResult, error) {
	if req.Mode != KindSession && req.Mode != KindToken {
		return nil, fmt.Errorf("%w: unknown mode %q", ErrInvalidRequest, req.Mode)
	}
	if len(req.Carry) > maxCarry {
		return nil, fmt.Errorf("%w: carry too long", ErrInvalidRequest)
	}
	if req.PlantedSecret != "" {
		if err := s.destroyPlanted(ctx, req.PlantedSecret); err != nil {
			return nil, err
		}
	}
	u, err := s.checkCredentials(ctx, req.Email, req.Password)
	if err != nil {
		return nil, err
	}
	if s.cfg.RequireVerifiedEmail && !u.EmailVerified {
		// The password was right, so saying why is safe; a fresh link
		// lets the person out of the loop.
		s.emit(ctx, Event{Kind: EventLogin, Outcome: OutcomeEmailUnverified, UserID: u.ID})
		s.verifyInBackground(ctx, u)
		return nil, ErrEmailUnverified
	}
	if ch, err := s.secondStep(ctx, u, req.Mode, req.Carry); err != nil || ch != nil {
		if err != nil {
			s.emit(ctx, Event{Kind: EventLogin, Outcome: OutcomeError, UserID: u.ID})
			return nil, err
		}
		s.emit(ctx, Event{Kind: EventLogin, Outcome: OutcomeMFARequired, UserID: u.ID, Detail: string(req.Mode)})
		return &LoginResult{MFA: ch, Carry: req.Carry}, nil
	}
	return s.finishLogin(ctx, u, req.Mode, req.UserAgent, req.IP, req.Carry, []string{AMRPassword})
}

// finishLogin starts the session of a login whose every factor is
// checked, and records it.
func (s *Service) finishLogin(ctx context.Context, u *User, mode SessionKind, ua, ip, carry string, amr []string) (*LoginResult, error) {
	res, err := s.startSession(ctx, u, mode, ua, ip, amr)
	if err != nil {
		s.emit(ctx, Event{Kind: EventLogin, Outcome: OutcomeError, UserID: u.ID})
		return nil, err
	}
	res.Carry = carry
	s.emit(ctx, Event{Kind: EventLogin, Outcome: OutcomeSuccess, UserID: u.ID, SessionID: res.Session.ID,
		Detail: string(mode) + " " + strings.Join(amr, "+")})
	return res, nil
}

// checkCredentials runs the lockout, the hash and the account checks of a login.
func (s *Service) checkCredentials(ctx context.Context, email, password string) (*User, error) {
	if s.admit != nil {
		// The hasher would refuse at once (a flood): refuse before reading
		// the account or taking a slot of its lockout. The answer is the
		// same for every address, known or not, as the hasher's own
		// refusal would have been.
		if err := s.admit.Admit(); err != nil {
			s.emit(ctx, Event{Kind: EventLogin, Outcome: OutcomeRateLimited})
			return nil, hashRefusal(err)
		}
	}
	norm, err := s.normalizeEmail(email)
	if err != nil {
		norm = "" // never matches an account; still hashed and throttled
	}
	account := norm
	if account == "" {
		// Keyed by a digest: the raw input is up to a request body long, and
		// the throttle keeps its keys for a whole window.
		account = "invalid:" + base64.RawURLEncoding.EncodeToString(HashSecret(email))
	}
	var u *User
	if norm != "" {
		u, err = s.users.UserByEmail(ctx, norm)
		if err != nil && !errors.Is(err, ErrNotFound) {
			s.emit(ctx, Event{Kind: EventLogin, Outcome: OutcomeError})
			return nil, storeErr(err)
		}
	}
	phc := s.dummyHash // unknown accounts cost a hash all the same
	if u != nil {
		phc = u.PasswordHash
	}
	ok, rehash, err := s.guessPassword(ctx, account, phc, password)
	failed := func(outcome string) {
		e := Event{Kind: EventLogin, Outcome: outcome}
		if u != nil {
			e.UserID = u.ID
		}
		s.emit(ctx, e)
	}
	switch {
	case errors.Is(err, errHashRefused):
		failed(OutcomeRateLimited)
		return nil, err
	case errors.Is(err, ErrRateLimited):
		failed(OutcomeLocked)
		return nil, err
	case err != nil:
		failed(OutcomeError)
		return nil, err
	case !ok || u == nil:
		failed(OutcomeInvalidCredentials)
		return nil, ErrInvalidCredentials
	case u.Disabled:
		failed(OutcomeDisabled)
		return nil, ErrAccountDisabled
	}
	if rehash {
		s.rehash(ctx, u, password)
	}
	return u, nil
}

// rehash upgrades a stored hash to the current parameters; a failure only
// postpones the upgrade to the next login.
func (s *Service) rehash(ctx context.Context, u *User, password string) {
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		s.logger.Warn("rehashing password", "err", err)
		return
	}
	nu := *u
	nu.PasswordHash, nu.UpdatedAt = hash, s.now().UTC()
	if err := s.users.UpdateUser(ctx, &nu); err != nil {
		s.logger.Warn("storing rehashed password", "err", err)
		return
	}
	s.accounts.put(&nu)
}

// destroyPlanted ends the session whose cookie came with a login request,
// so a planted (fixated) identifier never becomes a logged-in session.
func (s *Service) destroyPlanted(ctx context.Context, secret string) error {
	sess, err := s.sessions.SessionByTokenHash(ctx, HashSecret(secret))
	if errors.Is(err, ErrNotFound) || (err == nil && sess.Kind != KindSession) {
		return nil
	}
	if err != nil {
		return storeErr(err)
	}
	return s.revokeSessions(ctx, sess)
}

// startSession creates a cookie session or a refresh family for u, then
// enforces --max-sessions-per-user by revoking the oldest.
func (s *Service) startSession(ctx context.Context, u *User, mode SessionKind, ua, ip string, amr []string) (*LoginResult, error) {
	now := s.now().UTC()
	id, err := s.newSecret(16)
	if err != nil {
		return nil, err
	}
	secret, err := s.newSecret(32)
	if err != nil {
		return nil, err
	}
	sess := &Session{ID: id, UserID: u.ID, Kind: mode, TokenHash: HashSecret(secret),
		CreatedAt: now, LastSeenAt: now, RotatedAt: now, UserAgent: truncate(ua, 512), IP: ip, AMR: amr}
	res := &LoginResult{User: u, Session: sess, Secret: secret}
	switch mode {
	case KindSession:
		res.CSRFToken, err = s.newSecret(32)
		if err != nil {
			return nil, err
		}
		sess.CSRFHash = HashSecret(res.CSRFToken)
		sess.ExpiresAt = now.Add(s.cfg.SessionAbsoluteTimeout)
		sess.IdleExpiresAt = minTime(now.Add(s.cfg.SessionIdleTimeout), sess.ExpiresAt)
	case KindToken:
		sess.ExpiresAt = now.Add(s.cfg.RefreshAbsoluteTTL)
		sess.IdleExpiresAt = minTime(now.Add(s.cfg.RefreshTTL), sess.ExpiresAt)
	default:
		return nil, fmt.Errorf("%w: unknown mode %q", ErrInvalidRequest, mode)
	}
	if err := s.sessions.CreateSession(ctx, sess); err != nil {
		return nil, storeErr(err)
	}
	if mode == KindToken {
		if res.Access, err = s.issue(ctx, u, sess, time.Time{}); err != nil {
			return nil, err
		}
	}
	if err := s.enforceMaxSessions(ctx, u.ID, sess.ID); err != nil {
		return nil, err
	}
	return res, nil
}
