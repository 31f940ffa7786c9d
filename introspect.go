package latch

import (
	"context"
	"errors"
	"strings"
	"time"
)

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
	if token == "" || len(token) > MaxTokenBytes {
		return nil, nil
	}
	fam, err := s.sessions.SessionByTokenHash(ctx, HashSecret(token))
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, storeErr(err)
	}
	if fam.Kind != KindToken || !fam.Live(s.now()) || s.revoked.Revoked("", fam.ID, fam.UserID, fam.CreatedAt) {
		return nil, nil
	}
	return fam, nil
}

func looksLikeJWT(token string) bool { return strings.Count(token, ".") == 2 }
