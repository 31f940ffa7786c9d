package memory

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/latch-dev/latch"
)

var (
	_ latch.SessionStore   = (*SessionStore)(nil)
	_ latch.SessionCounter = (*SessionStore)(nil)
)

// SessionStore is a latch.SessionStore in memory. One mutex guards it:
// RotateRefresh is a compare-and-set under that lock, so of concurrent
// rotations of one token exactly one wins.
type SessionStore struct {
	mu     sync.RWMutex
	byID   map[string]*sessionRecord
	byHash map[string]*sessionRecord            // current token hash
	spent  map[string]*sessionRecord            // spent refresh token hashes
	byUser map[string]map[string]*sessionRecord // user ID -> session ID
}

// sessionRecord is one stored session and the spent refresh token hashes
// that lead to it, which go when it goes.
type sessionRecord struct {
	s     latch.Session // owned: its byte slices are never shared
	spent []string
}

func (m *SessionStore) initMaps() {
	if m.byID == nil {
		m.byID = map[string]*sessionRecord{}
		m.byHash = map[string]*sessionRecord{}
		m.spent = map[string]*sessionRecord{}
		m.byUser = map[string]map[string]*sessionRecord{}
	}
}

// CreateSession implements latch.SessionStore. A PrevHash in s counts as a
// spent token of the family.
func (m *SessionStore) CreateSession(_ context.Context, s *latch.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.initMaps()
	if _, ok := m.byID[s.ID]; ok {
		return fmt.Errorf("memory: session %q exists", s.ID)
	}
	if _, ok := m.byHash[string(s.TokenHash)]; ok {
		return fmt.Errorf("memory: session token hash in use")
	}
	rec := &sessionRecord{s: *copySession(s)}
	m.byID[s.ID] = rec
	m.byHash[string(s.TokenHash)] = rec
	if len(s.PrevHash) > 0 {
		m.spend(rec, s.PrevHash)
	}
	if m.byUser[s.UserID] == nil {
		m.byUser[s.UserID] = map[string]*sessionRecord{}
	}
	m.byUser[s.UserID][s.ID] = rec
	return nil
}

func (m *SessionStore) spend(rec *sessionRecord, hash []byte) {
	m.spent[string(hash)] = rec
	rec.spent = append(rec.spent, string(hash))
}

// SessionByID implements latch.SessionStore.
func (m *SessionStore) SessionByID(_ context.Context, id string) (*latch.Session, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	rec, ok := m.byID[id]
	if !ok {
		return nil, latch.ErrNotFound
	}
	return copySession(&rec.s), nil
}

// SessionByTokenHash implements latch.SessionStore.
func (m *SessionStore) SessionByTokenHash(_ context.Context, hash []byte) (*latch.Session, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	rec, ok := m.byHash[string(hash)]
	if !ok {
		return nil, latch.ErrNotFound
	}
	return copySession(&rec.s), nil
}

// SessionsByUser implements latch.SessionStore.
func (m *SessionStore) SessionsByUser(_ context.Context, userID string) ([]*latch.Session, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	list := make([]*latch.Session, 0, len(m.byUser[userID]))
	for _, rec := range m.byUser[userID] {
		list = append(list, copySession(&rec.s))
	}
	slices.SortFunc(list, func(a, b *latch.Session) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return list, nil
}

// TouchSessions implements latch.SessionStore. LastSeenAt never moves
// backwards either: batches may be written out of order.
func (m *SessionStore) TouchSessions(_ context.Context, touches []latch.SessionTouch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range touches {
		if rec, ok := m.byID[t.ID]; ok {
			rec.s.LastSeenAt = later(rec.s.LastSeenAt, t.LastSeenAt)
			rec.s.IdleExpiresAt = later(rec.s.IdleExpiresAt, t.IdleExpiresAt)
		}
	}
	return nil
}

// ReplaceSessionToken implements latch.SessionStore.
func (m *SessionStore) ReplaceSessionToken(_ context.Context, id string, tokenHash, csrfHash []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.byID[id]
	if !ok {
		return latch.ErrNotFound
	}
	if other, ok := m.byHash[string(tokenHash)]; ok && other != rec {
		return fmt.Errorf("memory: session token hash in use")
	}
	delete(m.byHash, string(rec.s.TokenHash))
	rec.s.TokenHash, rec.s.CSRFHash = bytes.Clone(tokenHash), bytes.Clone(csrfHash)
	m.byHash[string(tokenHash)] = rec
	return nil
}

// RotateRefresh implements latch.SessionStore. Only refresh families
// (latch.KindToken) rotate: a cookie session's secret is no refresh token.
func (m *SessionStore) RotateRefresh(_ context.Context, r latch.RefreshRotation) (*latch.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rec, ok := m.byHash[string(r.Presented)]; ok {
		if rec.s.Kind != latch.KindToken || !rec.s.Live(r.Now) {
			return nil, latch.ErrNotFound
		}
		return m.rotate(rec, r, false)
	}
	rec, ok := m.spent[string(r.Presented)]
	if !ok || !rec.s.Live(r.Now) {
		return nil, latch.ErrNotFound
	}
	if rec.s.InGrace(r) {
		return m.rotate(rec, r, true)
	}
	return copySession(&rec.s), latch.ErrRefreshReused
}

// rotate makes r.Next the family's current token. The displaced current
// token is spent. After a normal rotation it becomes the predecessor, with a
// fresh grace; after a rotation through the grace (viaGrace) the
// predecessor stays, its grace used up.
func (m *SessionStore) rotate(rec *sessionRecord, r latch.RefreshRotation, viaGrace bool) (*latch.Session, error) {
	if _, ok := m.byHash[string(r.Next)]; ok {
		return nil, fmt.Errorf("memory: refresh token hash in use")
	}
	displaced := rec.s.TokenHash
	delete(m.byHash, string(displaced))
	m.spend(rec, displaced)
	s := &rec.s
	s.TokenHash = bytes.Clone(r.Next)
	if !viaGrace {
		s.PrevHash = displaced
	}
	s.RotatedAt, s.GraceUsed, s.LastSeenAt = r.Now, viaGrace, r.Now
	s.IdleExpiresAt = r.Now.Add(r.RefreshTTL)
	if s.ExpiresAt.Before(s.IdleExpiresAt) {
		s.IdleExpiresAt = s.ExpiresAt
	}
	m.byHash[string(s.TokenHash)] = rec
	return copySession(s), nil
}

// DeleteSession implements latch.SessionStore.
func (m *SessionStore) DeleteSession(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.byID[id]
	if !ok {
		return latch.ErrNotFound
	}
	m.remove(rec)
	return nil
}

// DeleteExpiredSessions implements latch.SessionStore.
func (m *SessionStore) DeleteExpiredSessions(_ context.Context, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, rec := range m.byID {
		if !rec.s.Live(now) {
			m.remove(rec)
			n++
		}
	}
	return n, nil
}

func (m *SessionStore) remove(rec *sessionRecord) {
	delete(m.byID, rec.s.ID)
	delete(m.byHash, string(rec.s.TokenHash))
	for _, h := range rec.spent {
		delete(m.spent, h)
	}
	if u := m.byUser[rec.s.UserID]; u != nil {
		delete(u, rec.s.ID)
		if len(u) == 0 {
			delete(m.byUser, rec.s.UserID)
		}
	}
}

// CountLiveSessions implements latch.SessionCounter.
func (m *SessionStore) CountLiveSessions(_ context.Context, now time.Time) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := 0
	for _, rec := range m.byID {
		if rec.s.Live(now) {
			n++
		}
	}
	return n, nil
}
