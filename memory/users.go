package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/latch-dev/latch"
)

var _ latch.UserStore = (*UserStore)(nil)

// UserStore is a latch.UserStore in memory.
type UserStore struct {
	mu      sync.RWMutex
	byID    map[string]*latch.User
	byEmail map[string]*latch.User
}

// CreateUser implements latch.UserStore.
func (m *UserStore) CreateUser(_ context.Context, u *latch.User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byID == nil {
		m.byID, m.byEmail = map[string]*latch.User{}, map[string]*latch.User{}
	}
	if _, ok := m.byEmail[u.Email]; ok {
		return latch.ErrEmailTaken
	}
	if _, ok := m.byID[u.ID]; ok {
		return fmt.Errorf("memory: user %q exists", u.ID)
	}
	c := copyUser(u)
	m.byID[c.ID], m.byEmail[c.Email] = c, c
	return nil
}

// UserByID implements latch.UserStore.
func (m *UserStore) UserByID(_ context.Context, id string) (*latch.User, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	u, ok := m.byID[id]
	if !ok {
		return nil, latch.ErrNotFound
	}
	return copyUser(u), nil
}

// UserByEmail implements latch.UserStore.
func (m *UserStore) UserByEmail(_ context.Context, email string) (*latch.User, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	u, ok := m.byEmail[email]
	if !ok {
		return nil, latch.ErrNotFound
	}
	return copyUser(u), nil
}

// UpdateUser implements latch.UserStore.
func (m *UserStore) UpdateUser(_ context.Context, u *latch.User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.byID[u.ID]
	if !ok {
		return latch.ErrNotFound
	}
	// The stored struct is never handed out, so it can change in place.
	cur.PasswordHash, cur.Role, cur.Disabled, cur.UpdatedAt = u.PasswordHash, u.Role, u.Disabled, u.UpdatedAt
	return nil
}

// DeleteUser implements latch.UserStore.
func (m *UserStore) DeleteUser(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.byID[id]
	if !ok {
		return latch.ErrNotFound
	}
	delete(m.byID, id)
	delete(m.byEmail, u.Email)
	return nil
}

// ListUsers implements latch.UserStore.
func (m *UserStore) ListUsers(_ context.Context, after string, limit int) ([]*latch.User, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var us []*latch.User
	for _, u := range m.byEmail {
		if u.Email > after {
			us = append(us, copyUser(u))
		}
	}
	slices.SortFunc(us, func(a, b *latch.User) int { return strings.Compare(a.Email, b.Email) })
	if limit > 0 && len(us) > limit {
		us = us[:limit]
	}
	return us, nil
}

// UpdateEmail implements latch.UserStore.
func (m *UserStore) UpdateEmail(_ context.Context, u *latch.User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.byID[u.ID]
	if !ok {
		return latch.ErrNotFound
	}
	if other, ok := m.byEmail[u.Email]; ok && other != cur {
		return latch.ErrEmailTaken
	}
	delete(m.byEmail, cur.Email)
	cur.Email, cur.EmailVerified, cur.UpdatedAt = u.Email, u.EmailVerified, u.UpdatedAt
	m.byEmail[cur.Email] = cur
	return nil
}
