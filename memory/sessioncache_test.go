package memory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/memory"
)

func TestSessionCache(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	newSession := func(id string, kind latch.SessionKind) *latch.Session {
		return &latch.Session{ID: id, UserID: "u1", Kind: kind, TokenHash: latch.HashSecret("secret-" + id),
			CreatedAt: now, LastSeenAt: now, IdleExpiresAt: now.Add(30 * time.Minute), ExpiresAt: now.Add(12 * time.Hour)}
	}
	setup := func(t *testing.T) (*memory.SessionStore, *memory.SessionCache) {
		store := new(memory.SessionStore)
		c := memory.NewSessionCache(store)
		t.Cleanup(func() { _ = c.Close() })
		if err := c.CreateSession(ctx, newSession("s1", latch.KindSession)); err != nil {
			t.Fatal(err)
		}
		return store, c
	}

	t.Run("a use slides in memory and reaches the store at Flush", func(t *testing.T) {
		store, c := setup(t)
		later := now.Add(10 * time.Minute)
		s, err := c.UseSession(ctx, latch.HashSecret("secret-s1"), later, 30*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if want := later.Add(30 * time.Minute); !s.IdleExpiresAt.Equal(want) {
			t.Fatalf("idle deadline %v, want %v", s.IdleExpiresAt, want)
		}
		stored, _ := store.SessionByID(ctx, "s1")
		if !stored.IdleExpiresAt.Equal(now.Add(30 * time.Minute)) {
			t.Fatal("the store was written before Flush: the slide is meant to be batched")
		}
		listed, err := c.SessionsByUser(ctx, "u1")
		if err != nil || len(listed) != 1 || !listed[0].IdleExpiresAt.Equal(later.Add(30*time.Minute)) {
			t.Fatalf("SessionsByUser = %v, %v; want the deadline slid in memory", listed, err)
		}
		if err := c.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		stored, _ = store.SessionByID(ctx, "s1")
		if !stored.IdleExpiresAt.Equal(later.Add(30 * time.Minute)) {
			t.Fatalf("stored deadline after Flush %v, want %v", stored.IdleExpiresAt, later.Add(30*time.Minute))
		}
	})

	t.Run("Close writes what is pending", func(t *testing.T) {
		store, c := setup(t)
		c.Start(ctx, nil)
		later := now.Add(time.Minute)
		if _, err := c.UseSession(ctx, latch.HashSecret("secret-s1"), later, 30*time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		stored, _ := store.SessionByID(ctx, "s1")
		if !stored.IdleExpiresAt.Equal(later.Add(30 * time.Minute)) {
			t.Fatal("Close lost a pending idle deadline")
		}
	})

	t.Run("an evicted session is read from the store again", func(t *testing.T) {
		store, c := setup(t)
		// Deleted behind the cache's back (what a revocation stands for):
		// the copy answers until evicted, then the store's truth shows.
		if err := store.DeleteSession(ctx, "s1"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SessionByTokenHash(ctx, latch.HashSecret("secret-s1")); err != nil {
			t.Fatalf("the cached copy = %v, want it served from memory", err)
		}
		c.EvictSession("s1")
		if _, err := c.SessionByTokenHash(ctx, latch.HashSecret("secret-s1")); !errors.Is(err, latch.ErrNotFound) {
			t.Fatalf("after EvictSession = %v, want ErrNotFound", err)
		}
	})

	t.Run("a replaced secret stops working at once", func(t *testing.T) {
		_, c := setup(t)
		if err := c.ReplaceSessionToken(ctx, "s1", latch.HashSecret("new"), latch.HashSecret("csrf")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SessionByTokenHash(ctx, latch.HashSecret("secret-s1")); !errors.Is(err, latch.ErrNotFound) {
			t.Fatalf("the old secret = %v, want ErrNotFound", err)
		}
		if _, err := c.SessionByTokenHash(ctx, latch.HashSecret("new")); err != nil {
			t.Fatalf("the new secret = %v", err)
		}
	})

	t.Run("refresh families are not held", func(t *testing.T) {
		store, c := setup(t)
		if err := c.CreateSession(ctx, newSession("f1", latch.KindToken)); err != nil {
			t.Fatal(err)
		}
		if err := store.DeleteSession(ctx, "f1"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SessionByTokenHash(ctx, latch.HashSecret("secret-f1")); !errors.Is(err, latch.ErrNotFound) {
			t.Fatalf("a family deleted in the store = %v, want ErrNotFound (families are never cached)", err)
		}
	})
}
