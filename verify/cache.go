package verify

import (
	"strings"
	"sync"
	"time"
)

// tokenCache remembers tokens that passed the signature and claim checks,
// keyed by their exact bytes, until their exp: a token seen before then
// costs a map lookup instead of a signature check. Only verified tokens go
// in, so junk cannot fill it; it is bounded all the same. Revocation is not
// cached: Verify checks it on every call.
type tokenCache struct {
	mu    sync.RWMutex
	m     map[string]*Claims
	limit int    // 0: caching off
	gen   uint64 // key generation the entries were verified with
}

func newTokenCache(limit int) *tokenCache {
	return &tokenCache{m: make(map[string]*Claims), limit: limit}
}

// get returns the cached claims of token while now is before its exp. The
// claims are shared: callers hand out clones.
func (tc *tokenCache) get(token string, now time.Time) (*Claims, bool) {
	tc.mu.RLock()
	c := tc.m[token]
	tc.mu.RUnlock()
	if c == nil || !now.Before(c.ExpiresAt) {
		return nil, false
	}
	return c, true
}

// put caches the claims of a token verified with key generation gen, unless
// the keys have changed since (clear ran with a newer generation). A full
// cache first drops expired entries, then an arbitrary quarter of the rest
// (map order is random): the busiest tokens come straight back.
func (tc *tokenCache) put(token string, c *Claims, now time.Time, gen uint64) {
	if tc.limit <= 0 || !now.Before(c.ExpiresAt) {
		return
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if gen != tc.gen {
		return
	}
	if len(tc.m) >= tc.limit {
		tc.pruneLocked(now)
		for k := range tc.m {
			if len(tc.m) < tc.limit*3/4 {
				break
			}
			delete(tc.m, k)
		}
	}
	// A copy of the key: the caller's string may share memory with a whole
	// request header.
	tc.m[strings.Clone(token)] = c
}

// prune drops the entries of expired tokens.
func (tc *tokenCache) prune(now time.Time) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.pruneLocked(now)
}

func (tc *tokenCache) pruneLocked(now time.Time) {
	for k, c := range tc.m {
		if !now.Before(c.ExpiresAt) {
			delete(tc.m, k)
		}
	}
}

// clear forgets every entry, after the keys changed to generation gen.
func (tc *tokenCache) clear(gen uint64) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	clear(tc.m)
	tc.gen = gen
}

// size is the number of entries, for tests.
func (tc *tokenCache) size() int {
	tc.mu.RLock()
	defer tc.mu.RUnlock()
	return len(tc.m)
}
