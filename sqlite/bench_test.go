package sqlite_test

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/sqlite"
)

func hash() []byte {
	h := sha256.Sum256([]byte(rand.Text()))
	return h[:]
}

func benchFamily(b *testing.B, db *sqlite.DB, i int) *latch.Session {
	f := &latch.Session{
		ID: fmt.Sprintf("f%d", i), UserID: fmt.Sprintf("u%d", i%100), Kind: latch.KindToken, TokenHash: hash(),
		CreatedAt: t0, LastSeenAt: t0, IdleExpiresAt: t0.Add(7 * 24 * time.Hour), ExpiresAt: t0.Add(30 * 24 * time.Hour),
		UserAgent: "bench", IP: "192.0.2.1",
	}
	if err := db.CreateSession(b.Context(), f); err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkRotateRefresh rotates one family's token again and again: one
// write transaction each, the cost of POST /v1/token/refresh in the store.
func BenchmarkRotateRefresh(b *testing.B) {
	db := open(b)
	cur := benchFamily(b, db, 0).TokenHash
	now := t0
	for b.Loop() {
		next := hash()
		now = now.Add(time.Millisecond)
		if _, err := db.RotateRefresh(b.Context(), latch.RefreshRotation{Presented: cur, Next: next, Now: now, RefreshTTL: 7 * 24 * time.Hour}); err != nil {
			b.Fatal(err)
		}
		cur = next
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rotations/s")
}

// BenchmarkRotateRefreshParallel rotates distinct families from
// GOMAXPROCS goroutines: the writers queue for the one write connection.
func BenchmarkRotateRefreshParallel(b *testing.B) {
	db := open(b)
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		cur := benchFamily(b, db, int(n.Add(1))).TokenHash
		now := t0
		for pb.Next() {
			next := hash()
			now = now.Add(time.Millisecond)
			if _, err := db.RotateRefresh(b.Context(), latch.RefreshRotation{Presented: cur, Next: next, Now: now, RefreshTTL: 7 * 24 * time.Hour}); err != nil {
				b.Error(err)
				return
			}
			cur = next
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rotations/s")
}

// BenchmarkSessionByTokenHash looks sessions up by their secret's hash, as
// every cookie-authenticated request does, among 10,000 stored.
func BenchmarkSessionByTokenHash(b *testing.B) {
	db := open(b)
	const sessions = 10_000
	hashes := make([][]byte, sessions)
	for i := range hashes {
		hashes[i] = benchFamily(b, db, i).TokenHash
	}
	b.Run("serial", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := db.SessionByTokenHash(b.Context(), hashes[i%sessions]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := db.SessionByTokenHash(b.Context(), hashes[int(n.Add(1))%sessions]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
