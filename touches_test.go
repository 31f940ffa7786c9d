package latch_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/memory"
)

// failingTouches is a memory store whose TouchSessions fails while fail is
// set, and counts its calls.
type failingTouches struct {
	*memory.SessionStore
	fail  bool
	calls int
}

func (f *failingTouches) TouchSessions(ctx context.Context, ts []latch.SessionTouch) error {
	f.calls++
	if f.fail {
		return errors.New("database down")
	}
	return f.SessionStore.TouchSessions(ctx, ts)
}

func TestTouchWriter(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	setup := func(t *testing.T, chunk int, ids ...string) (*failingTouches, *latch.TouchWriter) {
		store := &failingTouches{SessionStore: new(memory.SessionStore)}
		for _, id := range ids {
			s := &latch.Session{ID: id, UserID: "u", Kind: latch.KindSession, TokenHash: latch.HashSecret(id),
				CreatedAt: t0, LastSeenAt: t0, IdleExpiresAt: t0.Add(time.Minute), ExpiresAt: t0.Add(time.Hour)}
			if err := store.CreateSession(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		return store, latch.NewTouchWriter(store, time.Hour, chunk)
	}
	touch := func(id string, d time.Duration) latch.SessionTouch {
		return latch.SessionTouch{ID: id, LastSeenAt: t0.Add(d), IdleExpiresAt: t0.Add(d + time.Minute)}
	}
	idle := func(t *testing.T, store *failingTouches, id string) time.Time {
		s, err := store.SessionByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return s.IdleExpiresAt
	}

	t.Run("merges, never backwards", func(t *testing.T) {
		store, w := setup(t, 0, "a")
		w.Add(touch("a", 10*time.Second))
		w.Add(touch("a", 5*time.Second))
		s := &latch.Session{ID: "a", LastSeenAt: t0, IdleExpiresAt: t0.Add(time.Minute)}
		w.Overlay(s)
		if !s.IdleExpiresAt.Equal(t0.Add(70 * time.Second)) {
			t.Fatalf("overlay gave %v, want the later slide", s.IdleExpiresAt)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got := idle(t, store, "a"); !got.Equal(t0.Add(70 * time.Second)) {
			t.Fatalf("stored %v, want %v", got, t0.Add(70*time.Second))
		}
	})
	t.Run("a failed write stays pending, merged with newer slides", func(t *testing.T) {
		store, w := setup(t, 0, "a")
		w.Add(touch("a", 10*time.Second))
		store.fail = true
		if err := w.Flush(ctx); err == nil {
			t.Fatal("Flush hid a failed write")
		}
		w.Add(touch("a", 20*time.Second))
		store.fail = false
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got := idle(t, store, "a"); !got.Equal(t0.Add(80 * time.Second)) {
			t.Fatalf("stored %v after the retry, want %v", got, t0.Add(80*time.Second))
		}
	})
	t.Run("chunks", func(t *testing.T) {
		store, w := setup(t, 2, "a", "b", "c", "d", "e")
		for _, id := range []string{"a", "b", "c", "d", "e"} {
			w.Add(touch(id, time.Second))
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if store.calls != 3 {
			t.Fatalf("%d TouchSessions calls for 5 touches in chunks of 2, want 3", store.calls)
		}
	})
	t.Run("a dropped slide is not written", func(t *testing.T) {
		store, w := setup(t, 0, "a")
		w.Add(touch("a", 10*time.Second))
		w.Drop("a")
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if store.calls != 0 {
			t.Fatal("a dropped slide was written")
		}
	})
	t.Run("Close writes what is pending", func(t *testing.T) {
		store, w := setup(t, 0, "a")
		w.Start(ctx, nil)
		w.Add(touch("a", 10*time.Second))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if got := idle(t, store, "a"); !got.Equal(t0.Add(70 * time.Second)) {
			t.Fatal("Close lost a pending slide")
		}
	})
}
