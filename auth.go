package latch

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// MaxPasswordBytes bounds what is ever hashed: longer input is refused
// before hashing, so a megabyte password costs nothing.
const MaxPasswordBytes = 1024

// Signup creates an account. It does not log in.
func (s *Service) Signup(ctx context.Context, email, password string) (*User, error) {
	norm, err := s.NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if err := s.CheckPassword(password, norm); err != nil {
		return nil, err
	}
	id, err := s.newSecret(16)
	if err != nil {
		return nil, err
	}
	hash, err := s.Hasher.Hash(ctx, password)
	if err != nil {
		return nil, err
	}
	now := s.Now().UTC()
	u := &User{ID: id, Email: norm, PasswordHash: hash, Role: DefaultRole, CreatedAt: now, UpdatedAt: now}
	if err := s.Users.CreateUser(ctx, u); err != nil {
		return nil, storeErr(err)
	}
	return u, nil
}

// LoginRequest is one login attempt.
type LoginRequest struct {
	Email, Password string
	Mode            SessionKind // KindSession or KindToken
	UserAgent, IP   string
	// PlantedSecret is a session cookie sent with the login request; that
	// session is destroyed (fixation defence).
	PlantedSecret string
}

// LoginResult is a successful login: a new cookie session or a new refresh
// family with its first access token.
type LoginResult struct {
	User    *User
	Session *Session
	// Secret is the session cookie value (KindSession) or the refresh token (KindToken).
	Secret string
	// CSRFToken is the session's synchronizer token (KindSession).
	CSRFToken string
	// Access is the first access token of the family (KindToken).
	Access *IssuedToken
}

// IssuedToken is a signed access token.
type IssuedToken struct {
	Token  string
	Claims *AccessClaims
}

// Login checks credentials and starts a session or refresh family.
// Unknown emails and wrong passwords take the same path and the same time.
func (s *Service) Login(ctx context.Context, req LoginRequest) (*LoginResult, error) {
	if req.PlantedSecret != "" {
		if err := s.destroyPlanted(ctx, req.PlantedSecret); err != nil {
			return nil, err
		}
	}
	u, err := s.checkCredentials(ctx, req.Email, req.Password)
	if err != nil {
		return nil, err
	}
	res, err := s.startSession(ctx, u, req.Mode, req.UserAgent, req.IP)
	if err != nil {
		s.login("error")
		return nil, err
	}
	s.login("success")
	return res, nil
}

// checkCredentials runs the lockout, the hash and the account checks of a login.
func (s *Service) checkCredentials(ctx context.Context, email, password string) (*User, error) {
	norm, err := s.NormalizeEmail(email)
	if err != nil {
		norm = "" // never matches an account; still hashed and throttled
	}
	account := norm
	if account == "" {
		// Keyed by a digest: the raw input is up to a request body long, and
		// the throttle keeps its keys for a whole window.
		account = "invalid:" + base64.RawURLEncoding.EncodeToString(HashSecret(email))
	}
	if s.Throttle != nil {
		wait, err := s.Throttle.Locked(ctx, account, s.Now())
		if err != nil {
			s.login("error")
			return nil, storeErr(err)
		}
		if wait > 0 {
			s.login("locked")
			return nil, &RateLimitError{RetryAfter: wait}
		}
	}
	var u *User
	if norm != "" {
		u, err = s.Users.UserByEmail(ctx, norm)
		if err != nil && !errors.Is(err, ErrNotFound) {
			s.login("error")
			return nil, storeErr(err)
		}
	}
	phc := s.DummyHash
	if u != nil {
		phc = u.PasswordHash
	}
	ok, rehash := false, false
	if len(password) <= MaxPasswordBytes {
		ok, rehash, err = s.Hasher.Compare(ctx, phc, password)
		if err != nil {
			s.login("error")
			return nil, err
		}
	}
	if u == nil || !ok {
		if s.Throttle != nil {
			if err := s.Throttle.RecordFailure(ctx, account, s.Now()); err != nil {
				s.login("error")
				return nil, storeErr(err)
			}
		}
		s.login("invalid_credentials")
		return nil, ErrInvalidCredentials
	}
	if u.Disabled {
		s.login("disabled")
		return nil, ErrAccountDisabled
	}
	if s.Throttle != nil {
		if err := s.Throttle.Reset(ctx, account); err != nil {
			s.Logger.Warn("resetting login failures", "err", err)
		}
	}
	if rehash {
		s.rehash(ctx, u, password)
	}
	return u, nil
}

// rehash upgrades a stored hash to the current parameters; a failure only
// postpones the upgrade to the next login.
func (s *Service) rehash(ctx context.Context, u *User, password string) {
	hash, err := s.Hasher.Hash(ctx, password)
	if err != nil {
		s.Logger.Warn("rehashing password", "err", err)
		return
	}
	nu := *u
	nu.PasswordHash, nu.UpdatedAt = hash, s.Now().UTC()
	if err := s.Users.UpdateUser(ctx, &nu); err != nil {
		s.Logger.Warn("storing rehashed password", "err", err)
		return
	}
	s.users.put(&nu)
}

// destroyPlanted ends the session whose cookie came with a login request,
// so a planted (fixated) identifier never becomes a logged-in session.
func (s *Service) destroyPlanted(ctx context.Context, secret string) error {
	sess, err := s.sessionByHash(ctx, HashSecret(secret))
	if errors.Is(err, ErrNotFound) || (err == nil && sess.Kind != KindSession) {
		return nil
	}
	if err != nil {
		return storeErr(err)
	}
	return s.revokeSessions(ctx, sess)
}

// startSession creates a cookie session or a refresh family for u, then
// enforces --max-sessions-per-user by revoking the oldest.
func (s *Service) startSession(ctx context.Context, u *User, mode SessionKind, ua, ip string) (*LoginResult, error) {
	now := s.Now().UTC()
	id, err := s.newSecret(16)
	if err != nil {
		return nil, err
	}
	secret, err := s.newSecret(32)
	if err != nil {
		return nil, err
	}
	sess := &Session{ID: id, UserID: u.ID, Kind: mode, TokenHash: HashSecret(secret),
		CreatedAt: now, LastSeenAt: now, RotatedAt: now, UserAgent: truncate(ua, 512), IP: ip}
	res := &LoginResult{User: u, Session: sess, Secret: secret}
	switch mode {
	case KindSession:
		res.CSRFToken, err = s.newSecret(32)
		if err != nil {
			return nil, err
		}
		sess.CSRFHash = HashSecret(res.CSRFToken)
		sess.ExpiresAt = now.Add(s.Config.SessionAbsoluteTimeout)
		sess.IdleExpiresAt = minTime(now.Add(s.Config.SessionIdleTimeout), sess.ExpiresAt)
	case KindToken:
		sess.ExpiresAt = now.Add(s.Config.RefreshAbsoluteTTL)
		sess.IdleExpiresAt = minTime(now.Add(s.Config.RefreshTTL), sess.ExpiresAt)
	default:
		return nil, fmt.Errorf("%w: unknown mode %q", ErrInvalidRequest, mode)
	}
	if err := s.createSession(ctx, sess); err != nil {
		return nil, err
	}
	if mode == KindToken {
		if res.Access, err = s.issue(ctx, u, sess.ID, time.Time{}); err != nil {
			return nil, err
		}
	}
	if err := s.enforceMaxSessions(ctx, u.ID, sess.ID); err != nil {
		return nil, err
	}
	return res, nil
}

func (s *Service) createSession(ctx context.Context, sess *Session) error {
	if s.cache != nil {
		return storeErr(s.cache.create(ctx, sess))
	}
	return storeErr(s.Sessions.CreateSession(ctx, sess))
}

func (s *Service) enforceMaxSessions(ctx context.Context, userID, keep string) error {
	limit := s.Config.MaxSessionsPerUser
	if limit <= 0 {
		return nil
	}
	all, err := s.liveSessions(ctx, userID)
	if err != nil {
		return err
	}
	var victims []*Session
	for _, x := range all { // oldest first
		if len(all)-len(victims) <= limit {
			break
		}
		if x.ID != keep {
			victims = append(victims, x)
		}
	}
	return s.revokeSessions(ctx, victims...)
}

// liveSessions lists the user's sessions and families alive now, oldest first.
func (s *Service) liveSessions(ctx context.Context, userID string) ([]*Session, error) {
	all, err := s.Sessions.SessionsByUser(ctx, userID)
	if err != nil {
		return nil, storeErr(err)
	}
	now := s.Now()
	live := all[:0]
	for _, x := range all {
		if s.cache != nil {
			x = s.cache.fresher(x)
		}
		if x.Live(now) && !s.revoked.Revoked("", x.ID, x.UserID, x.CreatedAt) {
			live = append(live, x)
		}
	}
	return live, nil
}

// AuthenticateSession resolves a session cookie and slides its idle
// deadline. Unknown, expired and revoked cookies are ErrUnauthenticated.
func (s *Service) AuthenticateSession(ctx context.Context, secret string) (*Principal, error) {
	if secret == "" || len(secret) > 256 {
		return nil, ErrUnauthenticated
	}
	now := s.Now()
	sess, err := s.useSession(ctx, HashSecret(secret), now)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, storeErr(err)
	}
	if sess.Kind != KindSession || !sess.Live(now) || s.revoked.Revoked("", sess.ID, sess.UserID, sess.CreatedAt) {
		return nil, ErrUnauthenticated
	}
	u, err := activeUser(s.users.get(ctx, sess.UserID))
	if err != nil {
		return nil, err
	}
	return &Principal{User: u, Method: KindSession, SessionID: sess.ID, Session: sess, ExpiresAt: sess.Deadline()}, nil
}

func (s *Service) sessionByHash(ctx context.Context, hash []byte) (*Session, error) {
	if s.cache != nil {
		return s.cache.lookup(ctx, hash)
	}
	return s.Sessions.SessionByTokenHash(ctx, hash)
}

// useSession looks a cookie session up and slides its idle deadline: in
// one round trip when the store offers it, else lookup then touch.
func (s *Service) useSession(ctx context.Context, hash []byte, now time.Time) (*Session, error) {
	if su, ok := s.Sessions.(SessionUser); ok && s.cache == nil {
		return su.UseSession(ctx, hash, now, s.Config.SessionIdleTimeout)
	}
	sess, err := s.sessionByHash(ctx, hash)
	if err != nil || sess.Kind != KindSession || !sess.Live(now) {
		return sess, err
	}
	return s.touch(ctx, sess, now)
}

// touch slides the idle deadline. With the cache the new deadline is exact
// at once and written in batches; without it, it is written when it has
// moved by more than a second, so a busy session writes once a second.
func (s *Service) touch(ctx context.Context, sess *Session, now time.Time) (*Session, error) {
	idle := minTime(now.Add(s.Config.SessionIdleTimeout), sess.ExpiresAt)
	if s.cache != nil {
		return s.cache.touch(sess, now, idle), nil
	}
	if idle.Sub(sess.IdleExpiresAt) < time.Second {
		return sess, nil
	}
	t := SessionTouch{ID: sess.ID, LastSeenAt: now.UTC(), IdleExpiresAt: idle.UTC()}
	if err := s.Sessions.TouchSessions(ctx, []SessionTouch{t}); err != nil {
		return nil, storeErr(err)
	}
	c := *sess
	c.LastSeenAt, c.IdleExpiresAt = t.LastSeenAt, t.IdleExpiresAt
	return &c, nil
}

// CheckCSRF compares a request's X-CSRF-Token with the session's, in constant time.
func (s *Service) CheckCSRF(p *Principal, token string) error {
	if p.Method != KindSession || p.Session == nil {
		return nil // bearer requests carry no ambient credential
	}
	if token == "" || subtle.ConstantTimeCompare(HashSecret(token), p.Session.CSRFHash) != 1 {
		return ErrCSRF
	}
	return nil
}

// Logout ends the caller's session: a cookie session is deleted; for a
// bearer token, its access token and its whole sid (the refresh family,
// or the session an exchanged token is bound to) are revoked.
func (s *Service) Logout(ctx context.Context, p *Principal) error {
	var extra []*Revocation
	if p.Claims != nil {
		extra = append(extra, s.jtiRevocation(p.Claims))
	}
	sess, err := s.Sessions.SessionByID(ctx, p.SessionID)
	if errors.Is(err, ErrNotFound) {
		// Already gone: still make sure its tokens die.
		sess = &Session{ID: p.SessionID, UserID: p.User.ID}
	} else if err != nil {
		return storeErr(err)
	}
	return s.revokeSessionsWith(ctx, extra, sess)
}

// LogoutAll revokes every session, refresh family and access token of the user.
func (s *Service) LogoutAll(ctx context.Context, userID string) error {
	sessions, err := s.Sessions.SessionsByUser(ctx, userID)
	if err != nil {
		return storeErr(err)
	}
	now := s.Now().UTC()
	sub := &Revocation{Kind: RevokeSub, Value: userID, NotBefore: now.Truncate(time.Second),
		Expires: now.Add(s.Config.AccessTTL + Leeway), CreatedAt: now}
	return s.revokeSessionsWith(ctx, []*Revocation{sub}, sessions...)
}

// ListSessions returns the user's live sessions and families, oldest first.
func (s *Service) ListSessions(ctx context.Context, userID string) ([]*Session, error) {
	return s.liveSessions(ctx, userID)
}

// DeleteSession revokes one of the user's sessions or families;
// ErrNotFound when the ID is not the user's.
func (s *Service) DeleteSession(ctx context.Context, userID, id string) error {
	sess, err := s.Sessions.SessionByID(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && sess.UserID != userID) {
		return ErrNotFound
	}
	if err != nil {
		return storeErr(err)
	}
	return s.revokeSessions(ctx, sess)
}

// PasswordChange is the result of ChangePassword for a cookie session: its
// fresh secret and CSRF token.
type PasswordChange struct {
	Secret, CSRFToken string
}

// ChangePassword sets a new password, revokes every other session and family
// of the user, and gives the current cookie session a fresh secret; a
// current refresh family stays.
func (s *Service) ChangePassword(ctx context.Context, p *Principal, current, next string) (*PasswordChange, error) {
	if err := s.CheckPassword(next, p.User.Email); err != nil {
		return nil, err
	}
	u, err := s.Users.UserByID(ctx, p.User.ID)
	if err != nil {
		return nil, storeErr(err)
	}
	// The current password is checked like a login's and shares the
	// account's lockout: else a stolen session could guess it unthrottled.
	if s.Throttle != nil {
		wait, err := s.Throttle.Locked(ctx, u.Email, s.Now())
		if err != nil {
			return nil, storeErr(err)
		}
		if wait > 0 {
			return nil, &RateLimitError{RetryAfter: wait}
		}
	}
	ok := false
	if len(current) <= MaxPasswordBytes {
		if ok, _, err = s.Hasher.Compare(ctx, u.PasswordHash, current); err != nil {
			return nil, err
		}
	}
	if !ok {
		if s.Throttle != nil {
			if err := s.Throttle.RecordFailure(ctx, u.Email, s.Now()); err != nil {
				return nil, storeErr(err)
			}
		}
		return nil, ErrWrongPassword
	}
	hash, err := s.Hasher.Hash(ctx, next)
	if err != nil {
		return nil, err
	}
	nu := *u
	nu.PasswordHash, nu.UpdatedAt = hash, s.Now().UTC()
	if err := s.Users.UpdateUser(ctx, &nu); err != nil {
		return nil, storeErr(err)
	}
	s.users.put(&nu)

	all, err := s.Sessions.SessionsByUser(ctx, u.ID)
	if err != nil {
		return nil, storeErr(err)
	}
	others := all[:0]
	for _, x := range all {
		if x.ID != p.SessionID {
			others = append(others, x)
		}
	}
	if err := s.revokeSessions(ctx, others...); err != nil {
		return nil, err
	}
	if p.Method != KindSession {
		return nil, nil
	}
	var pc PasswordChange
	if pc.Secret, err = s.newSecret(32); err != nil {
		return nil, err
	}
	if pc.CSRFToken, err = s.newSecret(32); err != nil {
		return nil, err
	}
	if s.cache != nil {
		err = s.cache.replaceToken(ctx, p.Session, HashSecret(pc.Secret), HashSecret(pc.CSRFToken))
	} else {
		err = s.Sessions.ReplaceSessionToken(ctx, p.SessionID, HashSecret(pc.Secret), HashSecret(pc.CSRFToken))
	}
	if err != nil {
		return nil, storeErr(err)
	}
	return &pc, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
