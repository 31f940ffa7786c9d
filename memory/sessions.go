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

// RotateRefresh implements latch.SessionStore: latch.(*Session).Rotate
// decides on the family that holds the presented token, under the store's
// lock, so of concurrent rotations of one token exactly one wins.
func (m *SessionStore) RotateRefresh(_ context.Context, r latch.RefreshRotation) (*latch.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.byHash[string(r.Presented)]
	if !ok {
		rec, ok = m.spent[string(r.Presented)]
	}
	if !ok {
		return nil, latch.ErrNotFound
	}
	next, err := copySession(&rec.s).Rotate(r)
	if err != nil {
		return next, err
	}
	if _, ok := m.byHash[string(next.TokenHash)]; ok {
		return nil, fmt.Errorf("memory: refresh token hash in use")
	}
	// The displaced current token is spent.
	delete(m.byHash, string(rec.s.TokenHash))
	m.spend(rec, rec.s.TokenHash)
	rec.s = *copySession(next)
	m.byHash[string(rec.s.TokenHash)] = rec
	return copySession(&rec.s), nil
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
