package latch

import (
	"context"
	"fmt"
	"regexp"
)

// roleRE is the shape of a role (API.md §6).
var roleRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// AdminSessions lists a user's live sessions; ErrNotFound for an unknown user.
func (s *Service) AdminSessions(ctx context.Context, userID string) ([]*Session, error) {
	if _, err := s.users.UserByID(ctx, userID); err != nil {
		return nil, storeErr(err)
	}
	return s.liveSessions(ctx, userID)
}

// AdminRevoke logs a user out everywhere; ErrNotFound for an unknown user.
func (s *Service) AdminRevoke(ctx context.Context, userID string) error {
	if _, err := s.users.UserByID(ctx, userID); err != nil {
		return storeErr(err)
	}
	return s.LogoutAll(ctx, userID)
}

// SetRole changes a user's role; it shows in the next access token.
func (s *Service) SetRole(ctx context.Context, userID, role string) error {
	if !roleRE.MatchString(role) {
		return fmt.Errorf("%w: a role is [a-z][a-z0-9_-]{0,31}", ErrInvalidRequest)
	}
	if err := s.updateUser(ctx, userID, func(u *User) { u.Role = role }); err != nil {
		return err
	}
	s.emit(ctx, Event{Kind: EventRoleChange, UserID: userID, Detail: role})
	return nil
}

// SetDisabled disables (ending every session and refusing logins) or
// re-enables an account.
func (s *Service) SetDisabled(ctx context.Context, userID string, disabled bool) error {
	if err := s.updateUser(ctx, userID, func(u *User) { u.Disabled = disabled }); err != nil {
		return err
	}
	if !disabled {
		s.emit(ctx, Event{Kind: EventAccountEnable, UserID: userID})
		return nil
	}
	if err := s.LogoutAll(ctx, userID); err != nil {
		return err
	}
	s.emit(ctx, Event{Kind: EventAccountDisable, UserID: userID})
	return nil
}

func (s *Service) updateUser(ctx context.Context, userID string, change func(*User)) error {
	u, err := s.users.UserByID(ctx, userID)
	if err != nil {
		return storeErr(err)
	}
	nu := *u
	change(&nu)
	nu.UpdatedAt = s.now().UTC()
	if err := s.users.UpdateUser(ctx, &nu); err != nil {
		return storeErr(err)
	}
	s.accounts.put(&nu)
	return nil
}
