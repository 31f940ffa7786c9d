package latch

import (
	"context"
	"encoding/base64"
	"sync"
	"time"
)

// RevocationKind names what a revocation targets.
type RevocationKind string

// The kinds of revocation: one access token, every token of a session or
// family, every token of a user issued before a time, and one replaced
// session secret.
const (
	RevokeJTI RevocationKind = "jti"
	RevokeSID RevocationKind = "sid"
	RevokeSub RevocationKind = "sub"
	// RevokeSecret refuses a session secret that was replaced (a password
	// change gives the current session a new one): Value is the base64url
	// SHA-256 of the old secret. The database forgets the old secret at
	// once, but a copy of the session under it may survive where this
	// instance could not remove it (the Redis hot copy, while this instance
	// is cut off from Redis); every instance refuses it through the log.
	// Server-internal: never sent on the revocation stream (no access token
	// carries a secret).
	RevokeSecret RevocationKind = "secret"
	// KeysChanged is not a revocation but travels the same way: the
	// signing keys changed (a rotation by `latch keys rotate`; Value is
	// the new kid), and every instance reloads them from the database at
	// once rather than at its next periodic reload. Instance-internal,
	// like RevokeSecret: verifiers refetch the JWKS on an unknown kid.
	KeysChanged RevocationKind = "keys"
)

// KeysChangedEntry is the log entry that tells every instance to reload
// the signing keys after kid was added at now. It stays in the log for a
// day, long enough for any instance that was away to see it.
func KeysChangedEntry(kid string, now time.Time) *Revocation {
	return &Revocation{Kind: KeysChanged, Value: kid, Expires: now.Add(24 * time.Hour), CreatedAt: now}
}

// Revocation is one entry of the revocation log. Entries are kept until
// Expires, when every token they could refuse has expired anyway.
type Revocation struct {
	Seq       int64 // cursor, assigned by the store, increasing
	Kind      RevocationKind
	Value     string    // the jti, sid or sub
	NotBefore time.Time // RevokeSub: tokens issued before this are revoked
	Expires   time.Time // the entry matters until then (the exp of its last possible token)
	CreatedAt time.Time
}

// RevocationStore is the durable revocation log.
type RevocationStore interface {
	// AddRevocations appends entries, setting their Seq in place.
	AddRevocations(ctx context.Context, revs []*Revocation) error
	// RevocationsSince returns the entries with Seq > after whose Expires
	// is after now, in Seq order, at most limit of them (limit <= 0: all).
	RevocationsSince(ctx context.Context, after int64, now time.Time, limit int) ([]*Revocation, error)
	// DeleteExpiredRevocations removes entries that expired before now.
	DeleteExpiredRevocations(ctx context.Context, now time.Time) (int, error)
}

// RevocationBus carries revocations between instances as they happen, so
// that a token revoked on one instance is refused by the others within
// milliseconds. It is an accelerator: the durable log (RevocationStore)
// stays the source of truth, and instances also poll it, so an event lost
// by the bus is still applied within Config.FollowInterval.
type RevocationBus interface {
	// Publish announces entries already written to the durable log.
	Publish(ctx context.Context, revs []*Revocation) error
	// Subscribe calls fn with every entry published by any instance (this
	// one included) until ctx ends or the connection fails; it returns the
	// reason. Callers resubscribe, and catch up from the durable log.
	Subscribe(ctx context.Context, fn func([]*Revocation)) error
}

// RevocationList is the in-memory revocation set checked on every request:
// map lookups only, safe for concurrent use. The zero value is ready.
type RevocationList struct {
	mu     sync.RWMutex
	jti    map[string]time.Time // value -> expires
	sid    map[string]sidEntry
	sub    map[string]subEntry
	secret map[string]time.Time // string(SHA-256 of the secret) -> expires
	cursor int64
}

type (
	sidEntry struct{ created, expires time.Time } // created: the earliest entry's
	subEntry struct{ notBefore, expires time.Time }
)

// Add applies entries; older or duplicate ones are merged.
func (l *RevocationList) Add(revs ...*Revocation) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.jti == nil {
		l.jti, l.sid, l.sub, l.secret = map[string]time.Time{}, map[string]sidEntry{}, map[string]subEntry{}, map[string]time.Time{}
	}
	for _, r := range revs {
		switch r.Kind {
		case RevokeJTI:
			if r.Expires.After(l.jti[r.Value]) {
				l.jti[r.Value] = r.Expires
			}
		case RevokeSID:
			e, ok := l.sid[r.Value]
			if !ok || r.CreatedAt.Before(e.created) {
				e.created = r.CreatedAt
			}
			if r.Expires.After(e.expires) {
				e.expires = r.Expires
			}
			l.sid[r.Value] = e
		case RevokeSub:
			e := l.sub[r.Value]
			if r.NotBefore.After(e.notBefore) {
				e.notBefore = r.NotBefore
			}
			if r.Expires.After(e.expires) {
				e.expires = r.Expires
			}
			l.sub[r.Value] = e
		case RevokeSecret:
			if h, err := base64.RawURLEncoding.DecodeString(r.Value); err == nil && r.Expires.After(l.secret[string(h)]) {
				l.secret[string(h)] = r.Expires
			}
		}
		if r.Seq > l.cursor {
			l.cursor = r.Seq
		}
	}
}

// Cursor is the highest Seq applied.
func (l *RevocationList) Cursor() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cursor
}

// Revoked reports whether a credential with this jti, sid and subject,
// issued at iat, has been revoked. Empty values match nothing.
func (l *RevocationList) Revoked(jti, sid, sub string, iat time.Time) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if jti != "" {
		if _, ok := l.jti[jti]; ok {
			return true
		}
	}
	if sid != "" {
		if _, ok := l.sid[sid]; ok {
			return true
		}
	}
	if sub != "" {
		if e, ok := l.sub[sub]; ok && iat.Before(e.notBefore) {
			return true
		}
	}
	return false
}

// RevokedSession reports whether a session found under the secret whose
// SHA-256 is hash is revoked: the secret was replaced, or the session's
// sid, or its user's sessions created before a logout-all. One lock for
// all three, on the path of every cookie-authenticated request.
func (l *RevocationList) RevokedSession(hash []byte, s *Session) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if _, ok := l.secret[string(hash)]; ok {
		return true
	}
	if _, ok := l.sid[s.ID]; ok {
		return true
	}
	if e, ok := l.sub[s.UserID]; ok && s.CreatedAt.Before(e.notBefore) {
		return true
	}
	return false
}

// RevokedBefore reports whether the session or family sid of subject sub,
// created at iat, was revoked by an entry made before t (an entry of
// unknown time counts as made before). A refresh that won its rotation at
// t uses it: replays of the same token that lose the race revoke the family
// after t, and must not turn the winner's answer into a refusal after the
// fact (the tokens it gets are revoked with the family all the same).
func (l *RevocationList) RevokedBefore(sid, sub string, iat, t time.Time) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if e, ok := l.sid[sid]; ok && sid != "" && e.created.Before(t) {
		return true
	}
	if e, ok := l.sub[sub]; ok && sub != "" && iat.Before(e.notBefore) {
		return true
	}
	return false
}

// Prune forgets entries that expired before now.
func (l *RevocationList) Prune(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, exp := range l.jti {
		if exp.Before(now) {
			delete(l.jti, k)
		}
	}
	for k, e := range l.sid {
		if e.expires.Before(now) {
			delete(l.sid, k)
		}
	}
	for k, e := range l.sub {
		if e.expires.Before(now) {
			delete(l.sub, k)
		}
	}
	for k, exp := range l.secret {
		if exp.Before(now) {
			delete(l.secret, k)
		}
	}
}

// Len is the number of live entries, for metrics.
func (l *RevocationList) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.jti) + len(l.sid) + len(l.sub) + len(l.secret)
}
