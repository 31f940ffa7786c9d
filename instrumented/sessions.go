package instrumented

import (
	"context"
	"time"

	"github.com/latch-dev/latch"
)

// SessionStore is a timed latch.SessionStore. Sessions returns it inside a
// type that adds the optional capabilities of the wrapped store.
type SessionStore struct {
	next latch.SessionStore
	create, byID, byHash, byUser, touch, replace, rotate, del, expired,
	use, count recorder
}

// Sessions wraps next, reporting to obs as store name. The result
// implements latch.SessionUser, latch.SessionCounter and
// latch.SessionEvictor exactly when next does: the Service and the session
// cache choose their paths by those interfaces, so a wrapper that added or
// hid one would change what they do. UseSession and CountLiveSessions are
// timed; EvictSession (memory only, must not block) is passed through.
func Sessions(next latch.SessionStore, name string, obs Observer) latch.SessionStore {
	s := &SessionStore{next: next,
		create: recorder(obs(name, "CreateSession")), byID: recorder(obs(name, "SessionByID")),
		byHash: recorder(obs(name, "SessionByTokenHash")), byUser: recorder(obs(name, "SessionsByUser")),
		touch: recorder(obs(name, "TouchSessions")), replace: recorder(obs(name, "ReplaceSessionToken")),
		rotate: recorder(obs(name, "RotateRefresh")), del: recorder(obs(name, "DeleteSession")),
		expired: recorder(obs(name, "DeleteExpiredSessions"))}
	u, isUser := next.(latch.SessionUser)
	c, isCounter := next.(latch.SessionCounter)
	e, isEvictor := next.(latch.SessionEvictor)
	var user *sessionUser
	var counter *sessionCounter
	if isUser {
		s.use = recorder(obs(name, "UseSession"))
		user = &sessionUser{u, s.use}
	}
	if isCounter {
		s.count = recorder(obs(name, "CountLiveSessions"))
		counter = &sessionCounter{c, s.count}
	}
	switch {
	case isUser && isCounter && isEvictor:
		return struct {
			*SessionStore
			*sessionUser
			*sessionCounter
			latch.SessionEvictor
		}{s, user, counter, e}
	case isUser && isCounter:
		return struct {
			*SessionStore
			*sessionUser
			*sessionCounter
		}{s, user, counter}
	case isUser && isEvictor:
		return struct {
			*SessionStore
			*sessionUser
			latch.SessionEvictor
		}{s, user, e}
	case isCounter && isEvictor:
		return struct {
			*SessionStore
			*sessionCounter
			latch.SessionEvictor
		}{s, counter, e}
	case isUser:
		return struct {
			*SessionStore
			*sessionUser
		}{s, user}
	case isCounter:
		return struct {
			*SessionStore
			*sessionCounter
		}{s, counter}
	case isEvictor:
		return struct {
			*SessionStore
			latch.SessionEvictor
		}{s, e}
	}
	return s
}

// sessionUser times latch.SessionUser.
type sessionUser struct {
	next latch.SessionUser
	rec  recorder
}

// UseSession implements latch.SessionUser.
func (s *sessionUser) UseSession(ctx context.Context, hash []byte, now time.Time, idle time.Duration) (*latch.Session, error) {
	start := time.Now()
	x, err := s.next.UseSession(ctx, hash, now, idle)
	s.rec.done(start, err)
	return x, err
}

// sessionCounter times latch.SessionCounter.
type sessionCounter struct {
	next latch.SessionCounter
	rec  recorder
}

// CountLiveSessions implements latch.SessionCounter.
func (s *sessionCounter) CountLiveSessions(ctx context.Context, now time.Time) (int, error) {
	start := time.Now()
	n, err := s.next.CountLiveSessions(ctx, now)
	s.rec.done(start, err)
	return n, err
}

// CreateSession implements latch.SessionStore.
func (s *SessionStore) CreateSession(ctx context.Context, x *latch.Session) error {
	start := time.Now()
	err := s.next.CreateSession(ctx, x)
	s.create.done(start, err)
	return err
}

// SessionByID implements latch.SessionStore.
func (s *SessionStore) SessionByID(ctx context.Context, id string) (*latch.Session, error) {
	start := time.Now()
	x, err := s.next.SessionByID(ctx, id)
	s.byID.done(start, err)
	return x, err
}

// SessionByTokenHash implements latch.SessionStore.
func (s *SessionStore) SessionByTokenHash(ctx context.Context, hash []byte) (*latch.Session, error) {
	start := time.Now()
	x, err := s.next.SessionByTokenHash(ctx, hash)
	s.byHash.done(start, err)
	return x, err
}

// SessionsByUser implements latch.SessionStore.
func (s *SessionStore) SessionsByUser(ctx context.Context, userID string) ([]*latch.Session, error) {
	start := time.Now()
	xs, err := s.next.SessionsByUser(ctx, userID)
	s.byUser.done(start, err)
	return xs, err
}

// TouchSessions implements latch.SessionStore.
func (s *SessionStore) TouchSessions(ctx context.Context, touches []latch.SessionTouch) error {
	start := time.Now()
	err := s.next.TouchSessions(ctx, touches)
	s.touch.done(start, err)
	return err
}

// ReplaceSessionToken implements latch.SessionStore.
func (s *SessionStore) ReplaceSessionToken(ctx context.Context, id string, tokenHash, csrfHash []byte) error {
	start := time.Now()
	err := s.next.ReplaceSessionToken(ctx, id, tokenHash, csrfHash)
	s.replace.done(start, err)
	return err
}

// RotateRefresh implements latch.SessionStore.
func (s *SessionStore) RotateRefresh(ctx context.Context, r latch.RefreshRotation) (*latch.Session, error) {
	start := time.Now()
	x, err := s.next.RotateRefresh(ctx, r)
	s.rotate.done(start, err)
	return x, err
}

// DeleteSession implements latch.SessionStore.
func (s *SessionStore) DeleteSession(ctx context.Context, id string) error {
	start := time.Now()
	err := s.next.DeleteSession(ctx, id)
	s.del.done(start, err)
	return err
}

// DeleteExpiredSessions implements latch.SessionStore.
func (s *SessionStore) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	start := time.Now()
	n, err := s.next.DeleteExpiredSessions(ctx, now)
	s.expired.done(start, err)
	return n, err
}
