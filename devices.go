package latch

import (
	"context"
	"errors"
)

// ListSessions returns the user's live sessions and families, oldest first.
func (s *Service) ListSessions(ctx context.Context, userID string) ([]*Session, error) {
	return s.liveSessions(ctx, userID)
}

// DeleteSession revokes one of the user's sessions or families;
// ErrNotFound when the ID is not the user's.
func (s *Service) DeleteSession(ctx context.Context, userID, id string) error {
	sess, err := s.sessions.SessionByID(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && sess.UserID != userID) {
		return ErrNotFound
	}
	if err != nil {
		return storeErr(err)
	}
	if err := s.revokeSessions(ctx, sess); err != nil {
		return err
	}
	s.emit(ctx, Event{Kind: EventSessionRevoke, UserID: userID, SessionID: id})
	return nil
}

// liveSessions lists the user's sessions and families alive now, oldest first.
func (s *Service) liveSessions(ctx context.Context, userID string) ([]*Session, error) {
	all, err := s.sessions.SessionsByUser(ctx, userID)
	if err != nil {
		return nil, storeErr(err)
	}
	now := s.now()
	live := all[:0]
	for _, x := range all {
		if x.Live(now) && !s.revoked.Revoked("", x.ID, x.UserID, x.CreatedAt) {
			live = append(live, x)
		}
	}
	return live, nil
}

func (s *Service) enforceMaxSessions(ctx context.Context, userID, keep string) error {
	limit := s.cfg.MaxSessionsPerUser
	if limit <= 0 {
		return nil
	}
	all, err := s.liveSessions(ctx, userID)
	if err != nil {
		return err
	}
	var victims []*Session
	for _, x := range all { // oldest first
		if len(all)-len(victims) <= limit {
			break
		}
		if x.ID != keep {
			victims = append(victims, x)
		}
	}
	if err := s.revokeSessions(ctx, victims...); err != nil {
		return err
	}
	for _, v := range victims {
		s.emit(ctx, Event{Kind: EventSessionRevoke, UserID: userID, SessionID: v.ID, Detail: "max-sessions-per-user"})
	}
	return nil
}
