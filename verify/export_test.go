package verify

import "time"

// WithIdleTimeout shortens the stream watchdog so tests need not wait for
// the 20 s a real deployment uses.
func WithIdleTimeout(d time.Duration) Option {
	return func(c *config) { c.idleTimeout = d }
}

// WithCacheSize sets the token cache bound; 0 turns the cache off, for the
// cold benchmark.
func WithCacheSize(n int) Option {
	return func(c *config) { c.cacheSize = n }
}

// Prune runs the janitor's pruning now.
func Prune(v *Verifier) { v.prune() }

// RevocationCount is the number of live entries in the revocation set.
func RevocationCount(v *Verifier) int { return v.revoked.Len() }

// CacheSize is the number of cached tokens.
func CacheSize(v *Verifier) int { return v.jv.CacheLen() }
