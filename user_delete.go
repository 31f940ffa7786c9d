package latch

import (
	"context"
	"errors"
)

// DeleteUser deletes an account and everything it holds. Every session,
// refresh family and access token of the user is revoked first, as
// LogoutAll does (in the durable log and on the bus, so every instance and
// verifier refuses them), and only then is the account removed: a failure
// in between leaves an account that can log in again, never tokens that
// outlive their account. ErrNotFound for an unknown user.
func (s *Service) DeleteUser(ctx context.Context, userID string) error {
	if _, err := s.users.UserByID(ctx, userID); err != nil {
		return storeErr(err)
	}
	if err := s.LogoutAll(ctx, userID); err != nil {
		return err
	}
	if err := s.users.DeleteUser(ctx, userID); err != nil && !errors.Is(err, ErrNotFound) {
		return storeErr(err)
	}
	s.accounts.drop(userID)
	if s.factors != nil { // stores without a foreign key to the account
		if err := s.factors.DeleteFactors(ctx, userID); err != nil {
			s.logger.Warn("deleting the factors of a deleted account", "user_id", userID, "err", err)
		}
	}
	s.emit(ctx, Event{Kind: EventAccountDelete, UserID: userID})
	return nil
}
