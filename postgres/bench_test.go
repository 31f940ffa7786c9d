package postgres_test

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/postgres"
)

func hash() []byte {
	h := sha256.Sum256([]byte(rand.Text()))
	return h[:]
}

func benchSession(b *testing.B, db *postgres.DB, kind latch.SessionKind, i int) *latch.Session {
	s := &latch.Session{
		ID: fmt.Sprintf("s%d", i), UserID: fmt.Sprintf("u%d", i%100), Kind: kind, TokenHash: hash(),
		CreatedAt: t0, LastSeenAt: t0, IdleExpiresAt: t0.Add(7 * 24 * time.Hour), ExpiresAt: t0.Add(30 * 24 * time.Hour),
		UserAgent: "bench", IP: "192.0.2.1",
	}
	if kind == latch.KindSession {
		s.CSRFHash = hash()
	}
	if err := db.CreateSession(b.Context(), s); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkRotateRefresh rotates one family's token again and again: one
// UPDATE statement each (the fast path), the cost of POST
// /v1/token/refresh in the store.
func BenchmarkRotateRefresh(b *testing.B) {
	db := open(b)
	cur := benchSession(b, db, latch.KindToken, 0).TokenHash
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
// GOMAXPROCS goroutines: row locks do not conflict, so they run side by
// side on the pool's connections.
func BenchmarkRotateRefreshParallel(b *testing.B) {
	db := open(b)
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		cur := benchSession(b, db, latch.KindToken, int(n.Add(1))).TokenHash
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

// benchSessions stores n cookie sessions and returns their token hashes.
func benchSessions(b *testing.B, db *postgres.DB, n int) [][]byte {
	hashes := make([][]byte, n)
	for i := range hashes {
		hashes[i] = benchSession(b, db, latch.KindSession, i).TokenHash
	}
	return hashes
}

// BenchmarkUseSession looks up and slides cookie sessions in one statement,
// as every cookie-authenticated request does, among 10,000 stored.
func BenchmarkUseSession(b *testing.B) {
	db := open(b)
	const sessions = 10_000
	hashes := benchSessions(b, db, sessions)
	b.Run("serial", func(b *testing.B) {
		i := 0
		now := t0
		for b.Loop() {
			now = now.Add(time.Millisecond)
			if _, err := db.UseSession(b.Context(), hashes[i%sessions], now, 30*time.Minute); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				if _, err := db.UseSession(b.Context(), hashes[int(i)%sessions], t0.Add(time.Duration(i)*time.Millisecond), 30*time.Minute); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkSessionByTokenHash looks sessions up by their secret's hash
// among 10,000 stored: the read alone, for comparison with UseSession.
func BenchmarkSessionByTokenHash(b *testing.B) {
	db := open(b)
	const sessions = 10_000
	hashes := benchSessions(b, db, sessions)
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
