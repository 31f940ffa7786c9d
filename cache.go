package latch

import (
	"context"
	"errors"
	"sync"
	"time"
)

// The caches below make the hot paths cost map lookups. They are private to
// the Service because their correctness depends on every write going
// through it: sessionCache only runs when this process is the only writer
// (Config.CacheSessions), and every revocation evicts by sid.

// sessionCache fronts a SessionStore: lookups by token hash from memory,
// last-use writes batched, every other write through to the store.
type sessionCache struct {
	next SessionStore
	max  int

	mu      sync.RWMutex
	entries map[string]*Session // string(TokenHash) -> immutable snapshot
	byID    map[string]string   // ID -> string(TokenHash)
	dirty   map[string]SessionTouch
	gen     uint64 // bumped by every delete or token change, so a slow load cannot resurrect
}

func newSessionCache(next SessionStore) *sessionCache {
	return &sessionCache{next: next, max: 200_000, entries: map[string]*Session{}, byID: map[string]string{},
		dirty: map[string]SessionTouch{}}
}

func (c *sessionCache) lookup(ctx context.Context, hash []byte) (*Session, error) {
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
	c.mu.Lock()
	if c.gen == gen {
		c.insertLocked(s)
	}
	c.mu.Unlock()
	return s, nil
}

func (c *sessionCache) insertLocked(s *Session) {
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

func (c *sessionCache) create(ctx context.Context, s *Session) error {
	if err := c.next.CreateSession(ctx, s); err != nil {
		return err
	}
	c.mu.Lock()
	c.insertLocked(s)
	c.mu.Unlock()
	return nil
}

// touch records a use. The snapshot is replaced only when the deadline has
// moved by a quarter second or more, so a busy session allocates rarely and
// the deadline seen stays exact to well within the second API.md allows.
func (c *sessionCache) touch(s *Session, now, idle time.Time) *Session {
	if idle.Sub(s.IdleExpiresAt) < 250*time.Millisecond {
		return s
	}
	n := *s
	n.LastSeenAt, n.IdleExpiresAt = now.UTC(), idle.UTC()
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.entries[string(s.TokenHash)]; ok && cur.ID == s.ID {
		if cur.IdleExpiresAt.After(n.IdleExpiresAt) {
			return cur
		}
		c.entries[string(s.TokenHash)] = &n
	}
	c.dirty[n.ID] = SessionTouch{ID: n.ID, LastSeenAt: n.LastSeenAt, IdleExpiresAt: n.IdleExpiresAt}
	return &n
}

// flush writes the batched last-use updates in one call.
func (c *sessionCache) flush(ctx context.Context) error {
	c.mu.Lock()
	if len(c.dirty) == 0 {
		c.mu.Unlock()
		return nil
	}
	batch := make([]SessionTouch, 0, len(c.dirty))
	for _, t := range c.dirty {
		batch = append(batch, t)
	}
	c.dirty = map[string]SessionTouch{}
	c.mu.Unlock()
	if err := c.next.TouchSessions(ctx, batch); err != nil {
		c.mu.Lock()
		for _, t := range batch { // retry next time, unless a newer touch came
			if _, ok := c.dirty[t.ID]; !ok {
				c.dirty[t.ID] = t
			}
		}
		c.mu.Unlock()
		return err
	}
	return nil
}

func (c *sessionCache) delete(ctx context.Context, s *Session) error {
	c.evictID(s.ID)
	err := c.next.DeleteSession(ctx, s.ID)
	c.evictID(s.ID) // again: a load may have raced the delete
	return err
}

func (c *sessionCache) replaceToken(ctx context.Context, s *Session, hash, csrf []byte) error {
	c.evictID(s.ID)
	if err := c.next.ReplaceSessionToken(ctx, s.ID, hash, csrf); err != nil {
		return err
	}
	c.evictID(s.ID)
	return nil
}

// evictID forgets a session by its ID.
func (c *sessionCache) evictID(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if h, ok := c.byID[id]; ok {
		delete(c.entries, h)
		delete(c.byID, id)
	}
	delete(c.dirty, id)
}

// fresher returns the cached snapshot of s when it is newer than s.
func (c *sessionCache) fresher(s *Session) *Session {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if h, ok := c.byID[s.ID]; ok {
		if x := c.entries[h]; x != nil && x.LastSeenAt.After(s.LastSeenAt) {
			return x
		}
	}
	return s
}

func (c *sessionCache) prune(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, x := range c.entries {
		if !x.Live(now) {
			delete(c.entries, h)
			delete(c.byID, x.ID)
		}
	}
}

// tokenCache maps the exact bytes of verified access tokens to their claims
// until they expire, so a token seen before skips the signature check.
type tokenCache struct {
	max int
	mu  sync.RWMutex
	m   map[string]*AccessClaims
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, m: map[string]*AccessClaims{}}
}

func (c *tokenCache) get(tok string, now time.Time) (*AccessClaims, bool) {
	c.mu.RLock()
	cl, ok := c.m[tok]
	c.mu.RUnlock()
	if !ok || !now.Before(cl.ExpiresAt) {
		return nil, false
	}
	if !cl.NotBefore.IsZero() && now.Add(Leeway).Before(cl.NotBefore) {
		return nil, false
	}
	return cl, true
}

func (c *tokenCache) put(tok string, cl *AccessClaims) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		n := 0
		for k := range c.m {
			delete(c.m, k)
			if n++; n >= c.max/10 {
				break
			}
		}
	}
	c.m[tok] = cl
}

func (c *tokenCache) drop(tok string) {
	c.mu.Lock()
	delete(c.m, tok)
	c.mu.Unlock()
}

func (c *tokenCache) prune(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, cl := range c.m {
		if !now.Before(cl.ExpiresAt) {
			delete(c.m, k)
		}
	}
}

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
