package latch

import (
	"context"
	"errors"
	"strings"
	"time"
)

// maxTokenBytes bounds any presented token; longer ones are refused unread.
const maxTokenBytes = 8 << 10

// issue signs an access token for u bound to sid. A non-zero notAfter caps
// its expiry (an exchanged token never outlives its session).
func (s *Service) issue(ctx context.Context, u *User, sid string, notAfter time.Time) (*IssuedToken, error) {
	jti, err := s.newSecret(16)
	if err != nil {
		return nil, err
	}
	now := s.Now().UTC().Truncate(time.Second)
	exp := now.Add(s.Config.AccessTTL)
	if !notAfter.IsZero() && notAfter.Before(exp) {
		exp = notAfter.UTC().Truncate(time.Second)
	}
	c := &AccessClaims{Issuer: s.Config.Issuer, Subject: u.ID, Audience: s.Config.Audience,
		ExpiresAt: exp, IssuedAt: now, ID: jti, SessionID: sid, Role: u.Role}
	tok, err := s.Signer.Sign(ctx, c)
	if err != nil {
		return nil, err
	}
	return &IssuedToken{Token: tok, Claims: c}, nil
}

// AuthenticateToken verifies a bearer access token: a token seen before
// costs a map lookup; then the revocation set and the account are checked.
func (s *Service) AuthenticateToken(ctx context.Context, token string) (*Principal, error) {
	c, err := s.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	u, err := activeUser(s.users.get(ctx, c.Subject))
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

// verify checks signature and claims (cached by the exact token bytes) and
// then the revocation set (never cached).
func (s *Service) verify(ctx context.Context, token string) (*AccessClaims, error) {
	if token == "" || len(token) > maxTokenBytes {
		return nil, ErrUnauthenticated
	}
	now := s.Now()
	c, ok := s.tokens.get(token, now)
	if !ok {
		var err error
		c, err = s.Verifier.Verify(ctx, token)
		if err != nil {
			return nil, err
		}
		s.tokens.put(token, c)
	}
	if s.revoked.Revoked(c.ID, c.SessionID, c.Subject, c.IssuedAt) {
		s.tokens.drop(token)
		return nil, ErrUnauthenticated
	}
	return c, nil
}

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
	if token == "" || len(token) > maxTokenBytes || strings.Contains(token, ".") {
		return nil, ErrInvalidRefreshToken
	}
	next, err := s.newSecret(32)
	if err != nil {
		return nil, err
	}
	now := s.Now().UTC()
	fam, err := s.Sessions.RotateRefresh(ctx, RefreshRotation{Presented: HashSecret(token), Next: HashSecret(next),
		Now: now, RefreshTTL: s.Config.RefreshTTL, Grace: s.Config.RefreshReuseGrace})
	switch {
	case errors.Is(err, ErrRefreshReused):
		if fam == nil || fam.Kind != KindToken {
			return nil, ErrInvalidRefreshToken
		}
		if err := s.revokeSessions(ctx, fam); err != nil {
			return nil, err
		}
		s.Logger.Warn("refresh token reuse: family revoked", "sid", fam.ID, "user", fam.UserID)
		return nil, ErrRefreshReused
	case errors.Is(err, ErrNotFound):
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
	u, err := activeUser(s.Users.UserByID(ctx, fam.UserID)) // fresh: a new role shows in this token
	if errors.Is(err, ErrUnauthenticated) {
		return nil, ErrInvalidRefreshToken
	}
	if err != nil {
		return nil, err
	}
	s.users.put(u)
	at, err := s.issue(ctx, u, fam.ID, time.Time{})
	if err != nil {
		return nil, err
	}
	return &TokenResult{User: u, Access: at, Refresh: next, Family: fam}, nil
}

// Exchange issues an access token bound to the caller's cookie session:
// revoking the session revokes the token.
func (s *Service) Exchange(ctx context.Context, p *Principal) (*IssuedToken, error) {
	if p.Method != KindSession || p.Session == nil {
		return nil, ErrUnauthenticated
	}
	return s.issue(ctx, p.User, p.Session.ID, p.Session.ExpiresAt)
}

// Introspection is the RFC 7662 view of a token.
type Introspection struct {
	Active    bool
	TokenType string // access_token or refresh_token
	Subject   string
	SessionID string
	ID        string // jti (access tokens only)
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Introspect reports whether a token is active. Unknown, malformed,
// expired and revoked tokens are simply inactive.
func (s *Service) Introspect(ctx context.Context, token string) (*Introspection, error) {
	if looksLikeJWT(token) {
		c, err := s.verify(ctx, token)
		if err != nil {
			if errors.Is(err, ErrUnavailable) {
				return nil, err
			}
			return &Introspection{}, nil
		}
		return &Introspection{Active: true, TokenType: "access_token", Subject: c.Subject, SessionID: c.SessionID,
			ID: c.ID, IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt}, nil
	}
	fam, err := s.refreshFamily(ctx, token)
	if err != nil || fam == nil {
		return &Introspection{}, err
	}
	return &Introspection{Active: true, TokenType: "refresh_token", Subject: fam.UserID, SessionID: fam.ID,
		IssuedAt: fam.RotatedAt, ExpiresAt: fam.Deadline()}, nil
}

// refreshFamily returns the live family whose current token this is, or nil.
func (s *Service) refreshFamily(ctx context.Context, token string) (*Session, error) {
	if token == "" || len(token) > maxTokenBytes {
		return nil, nil
	}
	fam, err := s.Sessions.SessionByTokenHash(ctx, HashSecret(token))
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, storeErr(err)
	}
	if fam.Kind != KindToken || !fam.Live(s.Now()) || s.revoked.Revoked("", fam.ID, fam.UserID, fam.CreatedAt) {
		return nil, nil
	}
	return fam, nil
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
		return s.addRevocations(ctx, s.jtiRevocation(c))
	}
	fam, err := s.refreshFamily(ctx, token)
	if err != nil || fam == nil {
		return err
	}
	return s.revokeSessions(ctx, fam)
}

func looksLikeJWT(token string) bool { return strings.Count(token, ".") == 2 }

// jtiRevocation revokes one access token until it would have expired
// (plus the verification leeway).
func (s *Service) jtiRevocation(c *AccessClaims) *Revocation {
	return &Revocation{Kind: RevokeJTI, Value: c.ID, Expires: c.ExpiresAt.Add(Leeway), CreatedAt: s.Now().UTC()}
}

// revokeSessions revokes sessions and families: first their sid in the
// durable log (so their access tokens die everywhere, and a failure in
// between leaves them refused), then their records.
func (s *Service) revokeSessions(ctx context.Context, sessions ...*Session) error {
	return s.revokeSessionsWith(ctx, nil, sessions...)
}

func (s *Service) revokeSessionsWith(ctx context.Context, extra []*Revocation, sessions ...*Session) error {
	now := s.Now().UTC()
	revs := extra
	for _, x := range sessions {
		revs = append(revs, &Revocation{Kind: RevokeSID, Value: x.ID,
			Expires: now.Add(s.Config.AccessTTL + Leeway), CreatedAt: now})
	}
	if len(revs) == 0 {
		return nil
	}
	if err := s.addRevocations(ctx, revs...); err != nil {
		return err
	}
	for _, x := range sessions {
		var err error
		if s.cache != nil {
			err = s.cache.delete(ctx, x)
		} else {
			err = s.Sessions.DeleteSession(ctx, x.ID)
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return storeErr(err)
		}
	}
	return nil
}

// addRevocations persists entries, then applies and broadcasts them.
func (s *Service) addRevocations(ctx context.Context, revs ...*Revocation) error {
	if err := s.Revocations.AddRevocations(ctx, revs); err != nil {
		return storeErr(err)
	}
	s.applyRevocations(revs)
	s.kickFollower()
	s.publish(revs)
	return nil
}
