package latch

import (
	"context"
	"time"
)

// SessionKind tells a cookie session from a refresh-token family. Both are
// "sessions" to a user: listed together, revoked the same way.
type SessionKind string

// The kinds of session.
const (
	KindSession SessionKind = "session" // opaque cookie, state on the server
	KindToken   SessionKind = "token"   // refresh-token family behind access tokens
)

// Session is a login on one device: a cookie session or a refresh family.
//
// Only hashes of secrets are kept: TokenHash is the SHA-256 of the cookie
// secret (KindSession) or of the family's current refresh token (KindToken).
type Session struct {
	ID        string // public handle, never a secret
	UserID    string
	Kind      SessionKind
	TokenHash []byte
	CSRFHash  []byte // KindSession: SHA-256 of the session's CSRF token

	// Refresh families only: the hash of the immediate predecessor of the
	// current token, when the current one was issued, and whether the
	// predecessor already used its reuse grace.
	PrevHash  []byte
	RotatedAt time.Time
	GraceUsed bool

	CreatedAt     time.Time
	LastSeenAt    time.Time
	IdleExpiresAt time.Time // sliding deadline: idle timeout or refresh TTL
	ExpiresAt     time.Time // absolute deadline
	UserAgent     string    // as of login
	IP            string    // as of login
	// AMR is how the login that started the session authenticated (RFC
	// 8176 values: AMRPassword, AMROTP, AMRHardwareKey, AMRMultiFactor);
	// CreatedAt is its auth_time.
	AMR []string
}

// Deadline is when the session dies if unused: the earlier of its idle and
// absolute deadlines.
func (s *Session) Deadline() time.Time {
	if s.ExpiresAt.Before(s.IdleExpiresAt) {
		return s.ExpiresAt
	}
	return s.IdleExpiresAt
}

// Live reports whether the session is alive at now.
func (s *Session) Live(now time.Time) bool { return now.Before(s.Deadline()) }

// SessionTouch is a batched "last used" write.
type SessionTouch struct {
	ID            string
	LastSeenAt    time.Time
	IdleExpiresAt time.Time
}

// RefreshRotation asks a store to spend a refresh token and install its successor.
type RefreshRotation struct {
	Presented  []byte        // SHA-256 of the token presented
	Next       []byte        // SHA-256 of its successor
	Now        time.Time     //
	RefreshTTL time.Duration // the sliding lifetime after this use
	Grace      time.Duration // --refresh-reuse-grace
}

// SessionStore persists sessions and refresh families.
//
// Stores decide nothing about time except where a method says so; they
// keep expired records until DeleteExpiredSessions.
type SessionStore interface {
	// CreateSession inserts s.
	CreateSession(ctx context.Context, s *Session) error
	// SessionByID returns ErrNotFound for an unknown ID.
	SessionByID(ctx context.Context, id string) (*Session, error)
	// SessionByTokenHash finds a session or family by its current token
	// hash; ErrNotFound when none has it.
	SessionByTokenHash(ctx context.Context, hash []byte) (*Session, error)
	// SessionsByUser lists the user's sessions and families, oldest first.
	SessionsByUser(ctx context.Context, userID string) ([]*Session, error)
	// TouchSessions writes batched last-use updates; unknown IDs are ignored,
	// and a deadline never moves backwards.
	TouchSessions(ctx context.Context, touches []SessionTouch) error
	// ReplaceSessionToken gives a session a new secret and CSRF token
	// (fixation defence on re-authentication); the old secret stops
	// working. ErrNotFound when the session is gone.
	ReplaceSessionToken(ctx context.Context, id string, tokenHash, csrfHash []byte) error
	// RotateRefresh atomically spends the presented refresh token and makes
	// r.Next the family's current token, sliding IdleExpiresAt to
	// min(r.Now+r.RefreshTTL, ExpiresAt) and LastSeenAt to r.Now. Only
	// families (KindToken) rotate. It returns:
	//   - the updated family, when Presented is the current token and the
	//     family is live at r.Now: the displaced token becomes PrevHash,
	//     RotatedAt = r.Now, GraceUsed = false;
	//   - the updated family, when Presented is the family's PrevHash, the
	//     family is live, |r.Now - RotatedAt| < r.Grace and GraceUsed is
	//     false: the grace is used up (GraceUsed = true, PrevHash kept) and
	//     the displaced current token is spent like any other;
	//   - ErrRefreshReused with the (unchanged) family, when Presented was
	//     spent in a live family and the grace does not apply;
	//   - ErrNotFound (and nil) when the token is unknown, belongs to a
	//     cookie session, or its family is expired or gone.
	// Of concurrent calls with one token exactly one succeeds through the
	// first case, and at most one more through the grace.
	RotateRefresh(ctx context.Context, r RefreshRotation) (*Session, error)
	// DeleteSession removes one session or family and every spent token
	// hash it kept; ErrNotFound when it is already gone.
	DeleteSession(ctx context.Context, id string) error
	// DeleteExpiredSessions removes what is dead at now and returns how many.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
}

// SessionUser is an optional fast path of a SessionStore: look a session up
// by its token hash and slide its idle deadline in one round trip. A store
// that implements it is used this way on every cookie-authenticated request.
type SessionUser interface {
	// UseSession returns the session whose current token hash is hash, as
	// SessionByTokenHash does, after moving its LastSeenAt to now and its
	// IdleExpiresAt to min(now+idle, ExpiresAt) (never backwards) when it
	// is a cookie session live at now. A dead session or a refresh family
	// is returned unchanged (families slide on refresh only). The store may
	// skip the write when the deadline would move by less than a second.
	// ErrNotFound when unknown.
	UseSession(ctx context.Context, hash []byte, now time.Time, idle time.Duration) (*Session, error)
}

// SessionCounter is an optional capability of a SessionStore: counting the
// sessions and families alive at now, for the active-sessions metric.
type SessionCounter interface {
	CountLiveSessions(ctx context.Context, now time.Time) (int, error)
}

// SessionEvictor is the capability of a SessionStore that keeps copies of
// sessions in memory (a cache in front of the database): the Service calls
// EvictSession with the ID of every session or family revoked by this
// process, by another instance through the bus, or found in the durable
// log, so that no copy outlives its revocation. It must not block.
type SessionEvictor interface {
	EvictSession(id string)
}
