package memory

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/latch-dev/latch"
)

var _ latch.RevocationStore = (*RevocationStore)(nil)

// RevocationStore is a latch.RevocationStore in memory: a log in Seq order.
type RevocationStore struct {
	mu  sync.RWMutex
	log []latch.Revocation // in Seq order
	seq int64              // the last Seq handed out; never reused
}

// AddRevocations implements latch.RevocationStore.
func (m *RevocationStore) AddRevocations(_ context.Context, revs []*latch.Revocation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range revs {
		m.seq++
		r.Seq = m.seq
		m.log = append(m.log, *r)
	}
	return nil
}

// RevocationsSince implements latch.RevocationStore.
func (m *RevocationStore) RevocationsSince(_ context.Context, after int64, now time.Time, limit int) ([]*latch.Revocation, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	i := sort.Search(len(m.log), func(i int) bool { return m.log[i].Seq > after })
	var revs []*latch.Revocation
	for _, r := range m.log[i:] {
		if limit > 0 && len(revs) == limit {
			break
		}
		if r.Expires.After(now) {
			revs = append(revs, &r)
		}
	}
	return revs, nil
}

// DeleteExpiredRevocations implements latch.RevocationStore.
func (m *RevocationStore) DeleteExpiredRevocations(_ context.Context, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.log)
	m.log = slices.DeleteFunc(m.log, func(r latch.Revocation) bool { return r.Expires.Before(now) })
	return n - len(m.log), nil
}
