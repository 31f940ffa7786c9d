package latch

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Logout ends the caller's session: a cookie session is deleted; for a
// bearer token, its access token and its whole sid (the refresh family,
// or the session an exchanged token is bound to) are revoked.
func (s *Service) Logout(ctx context.Context, p *Principal) error {
	var extra []*Revocation
	if p.Claims != nil {
		extra = append(extra, s.jtiRevocation(p.Claims))
	}
	sess, err := s.sessions.SessionByID(ctx, p.SessionID)
	if errors.Is(err, ErrNotFound) {
		// Already gone: still make sure its tokens die.
		sess = &Session{ID: p.SessionID, UserID: p.User.ID}
	} else if err != nil {
		return storeErr(err)
	}
	if err := s.revokeSessionsWith(ctx, extra, sess); err != nil {
		return err
	}
	s.emit(ctx, Event{Kind: EventLogout, UserID: p.User.ID, SessionID: p.SessionID})
	return nil
}

// LogoutAll revokes every session, refresh family and access token of the user.
func (s *Service) LogoutAll(ctx context.Context, userID string) error {
	sessions, err := s.sessions.SessionsByUser(ctx, userID)
	if err != nil {
		return storeErr(err)
	}
	now := s.now().UTC()
	sub := &Revocation{Kind: RevokeSub, Value: userID, NotBefore: now.Truncate(time.Second),
		Expires: now.Add(s.cfg.AccessTTL + Leeway), CreatedAt: now}
	if err := s.revokeSessionsWith(ctx, []*Revocation{sub}, sessions...); err != nil {
		return err
	}
	s.emit(ctx, Event{Kind: EventLogoutAll, UserID: userID, Detail: fmt.Sprintf("%d sessions", len(sessions))})
	return nil
}

// RevokeToken is RFC 7009: possession is enough. An access token is revoked
// by its jti; a refresh token revokes its family and every access token the
// family issued. Unknown tokens are not an error.
func (s *Service) RevokeToken(ctx context.Context, token string) error {
	if looksLikeJWT(token) {
		c, err := s.verify(ctx, token)
		if err != nil {
			if errors.Is(err, ErrUnavailable) {
				return err
			}
			return nil
		}
		if err := s.addRevocations(ctx, s.jtiRevocation(c)); err != nil {
			return err
		}
		s.emit(ctx, Event{Kind: EventTokenRevoke, UserID: c.Subject, SessionID: c.SessionID, Detail: "access_token"})
		return nil
	}
	fam, err := s.refreshFamily(ctx, token)
	if err != nil || fam == nil {
		return err
	}
	if err := s.revokeSessions(ctx, fam); err != nil {
		return err
	}
	s.emit(ctx, Event{Kind: EventTokenRevoke, UserID: fam.UserID, SessionID: fam.ID, Detail: "refresh_token"})
	return nil
}

// jtiRevocation revokes one access token until it would have expired
// (plus the verification leeway).
func (s *Service) jtiRevocation(c *AccessClaims) *Revocation {
	return &Revocation{Kind: RevokeJTI, Value: c.ID, Expires: c.ExpiresAt.Add(Leeway), CreatedAt: s.now().UTC()}
}

// revokeSessions revokes sessions and families: first their sid in the
// durable log (so their access tokens die everywhere, and a failure in
// between leaves them refused), then their records.
func (s *Service) revokeSessions(ctx context.Context, sessions ...*Session) error {
	return s.revokeSessionsWith(ctx, nil, sessions...)
}

func (s *Service) revokeSessionsWith(ctx context.Context, extra []*Revocation, sessions ...*Session) error {
	now := s.now().UTC()
	revs := extra
	for _, x := range sessions {
		revs = append(revs, &Revocation{Kind: RevokeSID, Value: x.ID,
			Expires: now.Add(s.cfg.AccessTTL + Leeway), CreatedAt: now})
	}
	if len(revs) == 0 {
		return nil
	}
	if err := s.addRevocations(ctx, revs...); err != nil {
		return err
	}
	for _, x := range sessions {
		if err := s.sessions.DeleteSession(ctx, x.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return storeErr(err)
		}
	}
	return nil
}

// addRevocations persists entries, then applies and broadcasts them.
func (s *Service) addRevocations(ctx context.Context, revs ...*Revocation) error {
	if err := s.revocations.AddRevocations(ctx, revs); err != nil {
		return storeErr(err)
	}
	s.applyRevocations(revs)
	s.kickFollower()
	s.publish(revs)
	for _, r := range revs {
		e := Event{Kind: EventRevocationAdded, Detail: string(r.Kind)}
		switch r.Kind {
		case RevokeSID:
			e.SessionID = r.Value
		case RevokeSub:
			e.UserID = r.Value
		}
		s.emit(ctx, e)
	}
	return nil
}
