package memory

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/latch-dev/latch"
)

var _ latch.KeyStore = (*KeyStore)(nil)

// KeyStore is a latch.KeyStore in memory.
type KeyStore struct {
	mu   sync.RWMutex
	keys []*latch.SigningKey // newest first; of equal CreatedAt, the last stored first
}

// Keys implements latch.KeyStore.
func (m *KeyStore) Keys(context.Context) ([]*latch.SigningKey, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	keys := make([]*latch.SigningKey, len(m.keys))
	for i, k := range m.keys {
		keys[i] = copyKey(k)
	}
	return keys, nil
}

// InitKey implements latch.KeyStore.
func (m *KeyStore) InitKey(_ context.Context, k *latch.SigningKey) (*latch.SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, cur := range m.keys {
		if cur.Alg == k.Alg && cur.RetiredAt.IsZero() {
			return copyKey(cur), nil
		}
	}
	m.add(k)
	return copyKey(k), nil
}

// RotateKey implements latch.KeyStore.
func (m *KeyStore) RotateKey(_ context.Context, k *latch.SigningKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, cur := range m.keys {
		if cur.Alg == k.Alg && cur.RetiredAt.IsZero() {
			cur.RetiredAt = k.CreatedAt
		}
	}
	m.add(k)
	return nil
}

// add stores a copy of k, keeping m.keys newest first.
func (m *KeyStore) add(k *latch.SigningKey) {
	i := 0
	for i < len(m.keys) && m.keys[i].CreatedAt.After(k.CreatedAt) {
		i++
	}
	m.keys = slices.Insert(m.keys, i, copyKey(k))
}

// DeleteKeysRetiredBefore implements latch.KeyStore.
func (m *KeyStore) DeleteKeysRetiredBefore(_ context.Context, t time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.keys)
	m.keys = slices.DeleteFunc(m.keys, func(k *latch.SigningKey) bool {
		return !k.RetiredAt.IsZero() && k.RetiredAt.Before(t)
	})
	return n - len(m.keys), nil
}
