package memory

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/latch-dev/latch"
)

var _ latch.AccountTokenStore = (*AccountTokenStore)(nil)

// AccountTokenStore is a latch.AccountTokenStore in memory.
type AccountTokenStore struct {
	mu sync.Mutex
	m  map[string]*latch.AccountToken // by string(Hash)
}

func copyToken(t *latch.AccountToken) *latch.AccountToken {
	c := *t
	c.Hash = bytes.Clone(t.Hash)
	return &c
}

// CreateAccountToken implements latch.AccountTokenStore.
func (s *AccountTokenStore) CreateAccountToken(_ context.Context, t *latch.AccountToken) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*latch.AccountToken{}
	}
	s.m[string(t.Hash)] = copyToken(t)
	return nil
}

// AccountToken implements latch.AccountTokenStore.
func (s *AccountTokenStore) AccountToken(_ context.Context, hash []byte, now time.Time) (*latch.AccountToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[string(hash)]
	if !ok || !t.ExpiresAt.After(now) {
		return nil, latch.ErrNotFound
	}
	return copyToken(t), nil
}

// ConsumeAccountToken implements latch.AccountTokenStore.
func (s *AccountTokenStore) ConsumeAccountToken(_ context.Context, hash []byte, now time.Time) (*latch.AccountToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[string(hash)]
	if !ok || !t.ExpiresAt.After(now) {
		return nil, latch.ErrNotFound
	}
	delete(s.m, string(hash))
	return t, nil
}

// FailAccountToken implements latch.AccountTokenStore.
func (s *AccountTokenStore) FailAccountToken(_ context.Context, hash []byte, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[string(hash)]
	if !ok || !t.ExpiresAt.After(now) {
		return 0, latch.ErrNotFound
	}
	t.Attempts++
	return t.Attempts, nil
}

// DeleteAccountTokens implements latch.AccountTokenStore.
func (s *AccountTokenStore) DeleteAccountTokens(_ context.Context, userID string, purpose latch.TokenPurpose) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.m {
		if t.UserID == userID && t.Purpose == purpose {
			delete(s.m, k)
		}
	}
	return nil
}

// DeleteExpiredAccountTokens implements latch.AccountTokenStore.
func (s *AccountTokenStore) DeleteExpiredAccountTokens(_ context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, t := range s.m {
		if !t.ExpiresAt.After(now) {
			delete(s.m, k)
			n++
		}
	}
	return n, nil
}
