package latch

import (
	"context"
	"crypto/subtle"
	"errors"
	"time"
)

// Principal is an authenticated caller.
type Principal struct {
	User      *User
	Method    SessionKind   // KindSession (cookie) or KindToken (bearer)
	SessionID string        // the session handle or the token's sid
	Session   *Session      // the cookie session (KindSession only)
	Claims    *AccessClaims // KindToken only
	ExpiresAt time.Time     // when the credential dies if unused
}

// AuthenticateSession resolves a session cookie and slides its idle
// deadline. Unknown, expired and revoked cookies are ErrUnauthenticated.
func (s *Service) AuthenticateSession(ctx context.Context, secret string) (*Principal, error) {
	if secret == "" || len(secret) > 256 {
		return nil, ErrUnauthenticated
	}
	now := s.now()
	hash := HashSecret(secret)
	sess, err := s.useSession(ctx, hash, now)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, storeErr(err)
	}
	if sess.Kind != KindSession || !sess.Live(now) || s.revoked.RevokedSession(hash, sess) {
		return nil, ErrUnauthenticated
	}
	u, err := activeUser(s.accounts.get(ctx, sess.UserID))
	if err != nil {
		return nil, err
	}
	return &Principal{User: u, Method: KindSession, SessionID: sess.ID, Session: sess, ExpiresAt: sess.Deadline()}, nil
}

// useSession looks a cookie session up and slides its idle deadline: in
// one round trip when the store offers it, else lookup then touch.
func (s *Service) useSession(ctx context.Context, hash []byte, now time.Time) (*Session, error) {
	if s.sessionUser != nil {
		return s.sessionUser.UseSession(ctx, hash, now, s.cfg.SessionIdleTimeout)
	}
	sess, err := s.sessions.SessionByTokenHash(ctx, hash)
	if err != nil || sess.Kind != KindSession || !sess.Live(now) {
		return sess, err
	}
	return s.touch(ctx, sess, now)
}

// touch slides the idle deadline of a store without SessionUser. The new
// deadline is written when it has moved by more than a second, so a busy
// session writes once a second.
func (s *Service) touch(ctx context.Context, sess *Session, now time.Time) (*Session, error) {
	idle := minTime(now.Add(s.cfg.SessionIdleTimeout), sess.ExpiresAt)
	if idle.Sub(sess.IdleExpiresAt) < time.Second {
		return sess, nil
	}
	t := SessionTouch{ID: sess.ID, LastSeenAt: now.UTC(), IdleExpiresAt: idle.UTC()}
	if err := s.sessions.TouchSessions(ctx, []SessionTouch{t}); err != nil {
		return nil, storeErr(err)
	}
	c := *sess
	c.LastSeenAt, c.IdleExpiresAt = t.LastSeenAt, t.IdleExpiresAt
	return &c, nil
}

// CheckCSRF compares a request's X-CSRF-Token with the session's, in constant time.
func (s *Service) CheckCSRF(p *Principal, token string) error {
	if p.Method != KindSession || p.Session == nil {
		return nil // bearer requests carry no ambient credential
	}
	if token == "" || subtle.ConstantTimeCompare(HashSecret(token), p.Session.CSRFHash) != 1 {
		return ErrCSRF
	}
	return nil
}

// AuthenticateToken verifies a bearer access token: a token seen before
// costs a map lookup; then the revocation set and the account are checked.
func (s *Service) AuthenticateToken(ctx context.Context, token string) (*Principal, error) {
	c, err := s.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	u, err := activeUser(s.accounts.get(ctx, c.Subject))
	if err != nil {
		return nil, err
	}
	return &Principal{User: u, Method: KindToken, SessionID: c.SessionID, Claims: c, ExpiresAt: c.ExpiresAt}, nil
}

// activeUser turns the lookup of a credential's account into the account,
// ErrUnauthenticated (deleted or disabled) or a store error.
func activeUser(u *User, err error) (*User, error) {
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, ErrUnauthenticated
	case err != nil:
		return nil, storeErr(err)
	case u.Disabled:
		return nil, ErrUnauthenticated
	}
	return u, nil
}

// verify checks signature and claims (the TokenVerifier may answer a token
// seen before from its cache) and then the revocation set (never cached).
func (s *Service) verify(ctx context.Context, token string) (*AccessClaims, error) {
	if token == "" || len(token) > MaxTokenBytes {
		return nil, ErrUnauthenticated
	}
	c, err := s.verifier.Verify(ctx, token)
	if err != nil {
		return nil, err
	}
	if s.revoked.Revoked(c.ID, c.SessionID, c.Subject, c.IssuedAt) {
		return nil, ErrUnauthenticated
	}
	return c, nil
}
