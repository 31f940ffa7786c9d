package latch

import (
	"context"
	"errors"
	"strings"
	"time"
)

// TokenResult is a refreshed token pair.
type TokenResult struct {
	User    *User
	Access  *IssuedToken
	Refresh string
	Family  *Session
}

// Refresh spends a refresh token and returns a new access token and its
// successor. A spent token presented again (outside the grace) revokes the
// whole family and answers ErrRefreshReused.
func (s *Service) Refresh(ctx context.Context, token string) (*TokenResult, error) {
	if token == "" || len(token) > MaxTokenBytes || strings.Contains(token, ".") {
		return nil, ErrInvalidRefreshToken
	}
	next, err := s.newSecret(32)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	fam, err := s.sessions.RotateRefresh(ctx, RefreshRotation{Presented: HashSecret(token), Next: HashSecret(next),
		Now: now, RefreshTTL: s.cfg.RefreshTTL, Grace: s.cfg.RefreshReuseGrace})
	switch {
	case errors.Is(err, ErrRefreshReused):
		if fam == nil || fam.Kind != KindToken {
			return nil, ErrInvalidRefreshToken
		}
		if err := s.revokeSessions(ctx, fam); err != nil {
			return nil, err
		}
		s.logger.Warn("refresh token reuse: family revoked", "sid", fam.ID, "user", fam.UserID)
		s.emit(ctx, Event{Kind: EventRefreshReuse, UserID: fam.UserID, SessionID: fam.ID})
		return nil, ErrRefreshReused
	case errors.Is(err, ErrNotFound):
		s.emit(ctx, Event{Kind: EventRefresh, Outcome: "invalid_refresh_token"})
		return nil, ErrInvalidRefreshToken
	case err != nil:
		return nil, storeErr(err)
	}
	// Revoked before this rotation (the store's row outlives its log entry
	// for a moment): refused. Revoked after it, by a concurrent replay of
	// the same token: this request won, and is answered as the winner.
	if fam.Kind != KindToken || s.revoked.RevokedBefore(fam.ID, fam.UserID, fam.CreatedAt, now) {
		return nil, ErrInvalidRefreshToken
	}
	u, err := activeUser(s.users.UserByID(ctx, fam.UserID)) // fresh: a new role shows in this token
	if errors.Is(err, ErrUnauthenticated) {
		return nil, ErrInvalidRefreshToken
	}
	if err != nil {
		return nil, err
	}
	s.accounts.put(u)
	at, err := s.issue(ctx, u, fam, time.Time{})
	if err != nil {
		return nil, err
	}
	s.emit(ctx, Event{Kind: EventRefresh, Outcome: OutcomeSuccess, UserID: u.ID, SessionID: fam.ID})
	return &TokenResult{User: u, Access: at, Refresh: next, Family: fam}, nil
}

// Exchange issues an access token bound to the caller's cookie session:
// revoking the session revokes the token.
func (s *Service) Exchange(ctx context.Context, p *Principal) (*IssuedToken, error) {
	if p.Method != KindSession || p.Session == nil {
		return nil, ErrUnauthenticated
	}
	return s.issue(ctx, p.User, p.Session, p.Session.ExpiresAt)
}

// issue signs an access token for u bound to sid. A non-zero notAfter caps
// its expiry (an exchanged token never outlives its session).
func (s *Service) issue(ctx context.Context, u *User, sess *Session, notAfter time.Time) (*IssuedToken, error) {
	jti, err := s.newSecret(16)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Second)
	exp := now.Add(s.cfg.AccessTTL)
	if !notAfter.IsZero() && notAfter.Before(exp) {
		exp = notAfter.UTC().Truncate(time.Second)
	}
	c := &AccessClaims{Issuer: s.cfg.Issuer, Subject: u.ID, Audience: s.cfg.Audience,
		ExpiresAt: exp, IssuedAt: now, ID: jti, SessionID: sess.ID, Role: u.Role,
		AMR: sess.AMR, AuthTime: sess.CreatedAt.Truncate(time.Second)}
	tok, err := s.signer.Sign(ctx, c)
	if err != nil {
		return nil, err
	}
	return &IssuedToken{Token: tok, Claims: c}, nil
}
