package latch

import "context"

// Signup creates an account. It does not log in.
func (s *Service) Signup(ctx context.Context, email, password string) (*User, error) {
	norm, err := s.normalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if err := s.checkPassword(password, norm); err != nil {
		return nil, err
	}
	id, err := s.newSecret(16)
	if err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	u := &User{ID: id, Email: norm, PasswordHash: hash, Role: DefaultRole, CreatedAt: now, UpdatedAt: now}
	if err := s.users.CreateUser(ctx, u); err != nil {
		return nil, storeErr(err)
	}
	s.emit(ctx, Event{Kind: EventSignup, UserID: u.ID})
	if s.cfg.RequireVerifiedEmail {
		s.verifyInBackground(ctx, u)
	}
	return u, nil
}
