package latch

import (
	"context"
	"encoding/base64"
	"fmt"
)

// PasswordChange is the result of ChangePassword for a cookie session: its
// fresh secret and CSRF token.
type PasswordChange struct {
	Secret, CSRFToken string
}

// ChangePassword needs a recent login (ErrReauthRequired) and the current
// password. It sets a new password, revokes every other session and family
// of the user, and gives the current cookie session a fresh secret; a
// current refresh family stays.
func (s *Service) ChangePassword(ctx context.Context, p *Principal, current, next string) (*PasswordChange, error) {
	if err := s.requireRecentAuth(p); err != nil {
		return nil, err
	}
	if err := s.checkPassword(next, p.User.Email); err != nil {
		return nil, err
	}
	u, err := s.users.UserByID(ctx, p.User.ID)
	if err != nil {
		return nil, storeErr(err)
	}
	ok, _, err := s.guessPassword(ctx, u.Email, u.PasswordHash, current)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrWrongPassword
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return nil, err
	}
	nu := *u
	nu.PasswordHash, nu.UpdatedAt = hash, s.now().UTC()
	if err := s.users.UpdateUser(ctx, &nu); err != nil {
		return nil, storeErr(err)
	}
	s.accounts.put(&nu)

	all, err := s.sessions.SessionsByUser(ctx, u.ID)
	if err != nil {
		return nil, storeErr(err)
	}
	others := all[:0]
	for _, x := range all {
		if x.ID != p.SessionID {
			others = append(others, x)
		}
	}
	// The current cookie session keeps its record but gets a new secret
	// below. The old secret is revoked in the log first: a copy of the
	// session under it that this instance cannot remove (a Redis copy,
	// while cut off from Redis) is refused by every instance all the same.
	var extra []*Revocation
	if p.Method == KindSession && p.Session != nil {
		extra = append(extra, &Revocation{Kind: RevokeSecret, Value: base64.RawURLEncoding.EncodeToString(p.Session.TokenHash),
			Expires: p.Session.ExpiresAt, CreatedAt: s.now().UTC()})
	}
	if err := s.revokeSessionsWith(ctx, extra, others...); err != nil {
		return nil, err
	}
	s.emit(ctx, Event{Kind: EventPasswordChange, UserID: u.ID, SessionID: p.SessionID,
		Detail: fmt.Sprintf("%d other sessions revoked", len(others))})
	if p.Method != KindSession {
		return nil, nil
	}
	var pc PasswordChange
	if pc.Secret, err = s.newSecret(32); err != nil {
		return nil, err
	}
	if pc.CSRFToken, err = s.newSecret(32); err != nil {
		return nil, err
	}
	if err := s.sessions.ReplaceSessionToken(ctx, p.SessionID, HashSecret(pc.Secret), HashSecret(pc.CSRFToken)); err != nil {
		return nil, storeErr(err)
	}
	return &pc, nil
}
