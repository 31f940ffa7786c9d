package jose

import (
	"strings"
	"sync"
	"time"

	"github.com/latch-dev/latch"
)

// tokenCache remembers tokens that passed Verify, keyed by their exact
// bytes, with the key snapshot that verified them: a token seen before costs
// a map lookup instead of a signature check until its exp, and any change of
// the key set (a rotation, a retired key dropped, a new JWKS) invalidates
// every entry at once, because the snapshot no longer matches. Only verified
// tokens go in, so junk cannot fill it; it is bounded all the same.
// Revocation is never cached: callers check it on every use.
type tokenCache struct {
	limit int
	mu    sync.RWMutex
	m     map[string]cachedToken
}

type cachedToken struct {
	claims *latch.AccessClaims
	snap   *keySnapshot
}

func newTokenCache(limit int) *tokenCache {
	return &tokenCache{limit: limit, m: make(map[string]cachedToken)}
}

// get returns the claims of a token verified under snap that is still
// within its exp (and past its nbf, less the leeway). A token between exp
// and exp + Leeway is not answered here: it goes through the full check,
// which applies the leeway.
func (c *tokenCache) get(token string, snap *keySnapshot, now time.Time) (*latch.AccessClaims, bool) {
	c.mu.RLock()
	e, ok := c.m[token]
	c.mu.RUnlock()
	if !ok || e.snap != snap || !now.Before(e.claims.ExpiresAt) {
		return nil, false
	}
	if nbf := e.claims.NotBefore; !nbf.IsZero() && now.Add(latch.Leeway).Before(nbf) {
		return nil, false
	}
	return e.claims, true
}

// put caches the claims of a token verified under snap. A full cache first
// drops expired and outdated entries, then an arbitrary quarter of the rest
// (map order is random): the busiest tokens come straight back.
func (c *tokenCache) put(token string, cl *latch.AccessClaims, snap *keySnapshot, now time.Time) {
	if !now.Before(cl.ExpiresAt) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.limit {
		c.pruneLocked(snap, now)
		for k := range c.m {
			if len(c.m) < c.limit*3/4 {
				break
			}
			delete(c.m, k)
		}
	}
	// A copy of the key: the caller's string may share memory with a whole
	// request header.
	c.m[strings.Clone(token)] = cachedToken{claims: cl, snap: snap}
}

// prune drops the entries of expired tokens and of earlier key snapshots.
func (c *tokenCache) prune(snap *keySnapshot, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pruneLocked(snap, now)
}

func (c *tokenCache) pruneLocked(snap *keySnapshot, now time.Time) {
	for k, e := range c.m {
		if e.snap != snap || !now.Before(e.claims.ExpiresAt) {
			delete(c.m, k)
		}
	}
}

func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
