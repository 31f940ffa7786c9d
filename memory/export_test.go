package memory

// Len is how many accounts the throttle tracks, for tests of its bound.
func (l *LoginThrottle) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.accounts)
}

// Len is how many keys the limiter tracks, for tests of its bound.
func (l *RateLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.full)
}
