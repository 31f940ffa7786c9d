package memory

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/latch-dev/latch"
)

// SessionCache is a latch.SessionStore in front of another: cookie sessions
// are looked up by token hash from process memory, their idle deadlines
// slide in memory and reach the store in batches (Flush, every half second
// while Start runs), and every other write goes through to the store.
//
// It is correct only when this process is the only writer of the store (the
// embedded SQLite default): another writer's changes would not evict its
// copies. The Service tells it of every revocation (latch.SessionEvictor),
// and every delete or token change made through it evicts the copy first.
// Refresh families are never cached: they change on every rotation.
type SessionCache struct {
	next latch.SessionStore
	max  int

	mu      sync.RWMutex
	entries map[string]*latch.Session // string(TokenHash) -> immutable snapshot
	byID    map[string]string         // ID -> string(TokenHash)
	gen     uint64                    // bumped by every eviction, so a slow load cannot resurrect

	touches *latch.TouchWriter // the slides not yet in next
}

var (
	_ latch.SessionStore   = (*SessionCache)(nil)
	_ latch.SessionUser    = (*SessionCache)(nil)
	_ latch.SessionEvictor = (*SessionCache)(nil)
	_ latch.SessionCounter = (*SessionCache)(nil)
)

// cacheFlushEvery is how often Start writes the batched idle deadlines.
const cacheFlushEvery = 500 * time.Millisecond

// NewSessionCache returns a cache of at most 200,000 sessions in front of
// next. Call Start to write idle deadlines in the background and Close to
// write the last ones.
func NewSessionCache(next latch.SessionStore) *SessionCache {
	return &SessionCache{next: next, max: 200_000, entries: map[string]*latch.Session{},
		byID: map[string]string{}, touches: latch.NewTouchWriter(next, cacheFlushEvery, 0)}
}

// Start writes the batched idle deadlines every half second until Close or
// until ctx ends; onErr (optional) is told of failed writes, which are
// retried at the next tick.
func (c *SessionCache) Start(ctx context.Context, onErr func(error)) { c.touches.Start(ctx, onErr) }

// Close stops the background writes and writes what is pending.
func (c *SessionCache) Close() error { return c.touches.Close() }

// Flush writes the batched idle deadlines now; on failure they stay pending.
func (c *SessionCache) Flush(ctx context.Context) error { return c.touches.Flush(ctx) }

// SessionByTokenHash implements latch.SessionStore from memory, loading
// what it does not hold.
func (c *SessionCache) SessionByTokenHash(ctx context.Context, hash []byte) (*latch.Session, error) {
	c.mu.RLock()
	s := c.entries[string(hash)]
	gen := c.gen
	c.mu.RUnlock()
	if s != nil {
		return s, nil
	}
	s, err := c.next.SessionByTokenHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	if s.Kind == latch.KindSession {
		c.mu.Lock()
		if c.gen == gen { // nothing was evicted while we loaded
			c.insertLocked(s)
		}
		c.mu.Unlock()
	}
	return s, nil
}

// UseSession implements latch.SessionUser: the lookup of
// SessionByTokenHash, then the idle deadline slid in memory. The snapshot
// is replaced only when the deadline has moved by a quarter second or more,
// so a busy session allocates rarely and the deadline seen stays exact to
// well within the second API.md allows.
func (c *SessionCache) UseSession(ctx context.Context, hash []byte, now time.Time, idle time.Duration) (*latch.Session, error) {
	s, err := c.SessionByTokenHash(ctx, hash)
	if err != nil || s.Kind != latch.KindSession || !s.Live(now) {
		return s, err
	}
	deadline := now.Add(idle)
	if s.ExpiresAt.Before(deadline) {
		deadline = s.ExpiresAt
	}
	if deadline.Sub(s.IdleExpiresAt) < 250*time.Millisecond {
		return s, nil
	}
	n := *s
	n.LastSeenAt, n.IdleExpiresAt = now.UTC(), deadline.UTC()
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.entries[string(s.TokenHash)]; ok && cur.ID == s.ID {
		if cur.IdleExpiresAt.After(n.IdleExpiresAt) {
			return cur, nil
		}
		c.entries[string(s.TokenHash)] = &n
	}
	// Written back even when the copy was dropped meanwhile (the bound):
	// the store must not keep an older deadline than the one answered. For
	// a deleted session the store ignores it.
	c.touches.Add(latch.SessionTouch{ID: n.ID, LastSeenAt: n.LastSeenAt, IdleExpiresAt: n.IdleExpiresAt})
	return &n, nil
}

func (c *SessionCache) insertLocked(s *latch.Session) {
	if len(c.entries) >= c.max { // bounded: drop arbitrary entries, they reload on use
		n := 0
		for h, x := range c.entries {
			delete(c.entries, h)
			delete(c.byID, x.ID)
			if n++; n >= c.max/10 {
				break
			}
		}
	}
	c.entries[string(s.TokenHash)] = s
	c.byID[s.ID] = string(s.TokenHash)
}

// CreateSession implements latch.SessionStore: written through, then held.
func (c *SessionCache) CreateSession(ctx context.Context, s *latch.Session) error {
	if err := c.next.CreateSession(ctx, s); err != nil {
		return err
	}
	if s.Kind == latch.KindSession {
		c.mu.Lock()
		c.insertLocked(s)
		c.mu.Unlock()
	}
	return nil
}

// SessionByID implements latch.SessionStore, with the idle deadline as
// slid in memory.
func (c *SessionCache) SessionByID(ctx context.Context, id string) (*latch.Session, error) {
	s, err := c.next.SessionByID(ctx, id)
	if err != nil {
		return nil, err
	}
	return c.fresher(s), nil
}

// SessionsByUser implements latch.SessionStore, with the idle deadlines as
// slid in memory (the stored ones lag by up to a flush).
func (c *SessionCache) SessionsByUser(ctx context.Context, userID string) ([]*latch.Session, error) {
	all, err := c.next.SessionsByUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	for i, s := range all {
		all[i] = c.fresher(s)
	}
	return all, nil
}

// fresher returns the held snapshot of s when it was used more recently.
func (c *SessionCache) fresher(s *latch.Session) *latch.Session {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if h, ok := c.byID[s.ID]; ok {
		if x := c.entries[h]; x != nil && x.LastSeenAt.After(s.LastSeenAt) {
			return x
		}
	}
	return s
}

// TouchSessions implements latch.SessionStore: written through; held
// copies of the sessions are dropped, to reload with the new deadlines.
func (c *SessionCache) TouchSessions(ctx context.Context, touches []latch.SessionTouch) error {
	err := c.next.TouchSessions(ctx, touches)
	for _, t := range touches {
		c.EvictSession(t.ID)
	}
	return err
}

// ReplaceSessionToken implements latch.SessionStore; the old secret stops
// working at once.
func (c *SessionCache) ReplaceSessionToken(ctx context.Context, id string, tokenHash, csrfHash []byte) error {
	c.EvictSession(id)
	err := c.next.ReplaceSessionToken(ctx, id, tokenHash, csrfHash)
	c.EvictSession(id) // again: a load may have raced the change
	return err
}

// RotateRefresh implements latch.SessionStore: families are not cached.
func (c *SessionCache) RotateRefresh(ctx context.Context, r latch.RefreshRotation) (*latch.Session, error) {
	return c.next.RotateRefresh(ctx, r)
}

// DeleteSession implements latch.SessionStore.
func (c *SessionCache) DeleteSession(ctx context.Context, id string) error {
	c.EvictSession(id)
	err := c.next.DeleteSession(ctx, id)
	c.EvictSession(id) // again: a load may have raced the delete
	return err
}

// DeleteExpiredSessions implements latch.SessionStore, forgetting the
// copies of what died too.
func (c *SessionCache) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	c.mu.Lock()
	for h, x := range c.entries {
		if !x.Live(now) {
			delete(c.entries, h)
			delete(c.byID, x.ID)
		}
	}
	c.mu.Unlock()
	return c.next.DeleteExpiredSessions(ctx, now)
}

// EvictSession implements latch.SessionEvictor: the copy of session id is
// forgotten and its pending deadline dropped.
func (c *SessionCache) EvictSession(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if h, ok := c.byID[id]; ok {
		delete(c.entries, h)
		delete(c.byID, id)
	}
	c.touches.Drop(id)
}

// errCannotCount is CountLiveSessions over a store that cannot count.
var errCannotCount = errors.New("memory: the store behind the session cache cannot count sessions")

// CountLiveSessions implements latch.SessionCounter when the store behind
// does (the stored idle deadlines lag by at most a flush).
func (c *SessionCache) CountLiveSessions(ctx context.Context, now time.Time) (int, error) {
	if sc, ok := c.next.(latch.SessionCounter); ok {
		return sc.CountLiveSessions(ctx, now)
	}
	return 0, errCannotCount
}
