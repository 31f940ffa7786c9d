package latch

import (
	"context"
	"errors"
	"sync"
	"time"
)

// userCache keeps accounts for the hot paths. Writes made through the
// Service update it; with ttl > 0 entries are reloaded after ttl, for
// changes made by other instances. A reload that finds the store
// unavailable keeps the entry when keepStale (optional) says so.
type userCache struct {
	next      UserStore
	ttl       time.Duration
	now       func() time.Time
	keepStale func() bool

	mu sync.RWMutex
	m  map[string]cachedUser
}

type cachedUser struct {
	u  *User
	at time.Time
}

func newUserCache(next UserStore, ttl time.Duration, now func() time.Time, keepStale func() bool) *userCache {
	return &userCache{next: next, ttl: ttl, now: now, keepStale: keepStale, m: map[string]cachedUser{}}
}

func (c *userCache) get(ctx context.Context, id string) (*User, error) {
	c.mu.RLock()
	e, ok := c.m[id]
	c.mu.RUnlock()
	if ok && (c.ttl == 0 || c.now().Sub(e.at) < c.ttl) {
		return e.u, nil
	}
	u, err := c.next.UserByID(ctx, id)
	if err != nil {
		if ok && errors.Is(err, ErrUnavailable) && c.keepStale != nil && c.keepStale() {
			return e.u, nil
		}
		return nil, err
	}
	c.put(u)
	return u, nil
}

func (c *userCache) put(u *User) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= 200_000 {
		clear(c.m)
	}
	c.m[u.ID] = cachedUser{u: u, at: c.now()}
}

// drop forgets an account (deleted).
func (c *userCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}
