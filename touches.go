package latch

import (
	"context"
	"sync"
	"time"
)

// TouchWriter batches the idle-deadline slides of a session store that
// keeps copies in front of another (memory.SessionCache, the Redis hot
// copy) and writes them to the store behind with TouchSessions: every
// interval while Start runs, at Flush, and at Close. A slide is pending
// until written; one that fails stays pending for the next try (merged,
// never moving a deadline backwards, with any slide that came meanwhile).
type TouchWriter struct {
	next  SessionStore
	every time.Duration
	chunk int

	mu      sync.Mutex
	pending map[string]SessionTouch

	runMu      sync.Mutex
	stop, done chan struct{}
}

// NewTouchWriter writes to next every interval, at most chunk touches per
// TouchSessions call (chunk <= 0: all in one).
func NewTouchWriter(next SessionStore, every time.Duration, chunk int) *TouchWriter {
	return &TouchWriter{next: next, every: every, chunk: chunk, pending: map[string]SessionTouch{}}
}

// Add records a slide; merged with a pending one, neither time moves back.
func (w *TouchWriter) Add(t SessionTouch) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if old, ok := w.pending[t.ID]; ok {
		t.LastSeenAt, t.IdleExpiresAt = later(old.LastSeenAt, t.LastSeenAt), later(old.IdleExpiresAt, t.IdleExpiresAt)
	}
	w.pending[t.ID] = t
}

// Drop forgets the pending slide of a session (deleted or revoked).
func (w *TouchWriter) Drop(id string) {
	w.mu.Lock()
	delete(w.pending, id)
	w.mu.Unlock()
}

// Overlay applies the pending slide of s, if any, to s: what the store
// behind says lags by up to a flush.
func (w *TouchWriter) Overlay(s *Session) {
	w.mu.Lock()
	t, ok := w.pending[s.ID]
	w.mu.Unlock()
	if ok {
		s.LastSeenAt, s.IdleExpiresAt = later(s.LastSeenAt, t.LastSeenAt), later(s.IdleExpiresAt, t.IdleExpiresAt)
	}
}

// Flush writes the pending slides now. Those it could not write stay pending.
func (w *TouchWriter) Flush(ctx context.Context) error {
	w.mu.Lock()
	if len(w.pending) == 0 {
		w.mu.Unlock()
		return nil
	}
	batch := make([]SessionTouch, 0, len(w.pending))
	for _, t := range w.pending {
		batch = append(batch, t)
	}
	w.pending = map[string]SessionTouch{}
	w.mu.Unlock()
	chunk := w.chunk
	if chunk <= 0 {
		chunk = len(batch)
	}
	for i := 0; i < len(batch); i += chunk {
		if err := w.next.TouchSessions(ctx, batch[i:min(i+chunk, len(batch))]); err != nil {
			for _, t := range batch[i:] {
				w.Add(t)
			}
			return err
		}
	}
	return nil
}

// Start flushes every interval until Close or until ctx ends; onErr
// (optional) is told of failed writes, which are retried.
func (w *TouchWriter) Start(ctx context.Context, onErr func(error)) {
	w.runMu.Lock()
	defer w.runMu.Unlock()
	if w.stop != nil {
		return
	}
	w.stop, w.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(w.done)
		t := time.NewTicker(w.every)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if err := w.Flush(fctx); err != nil && onErr != nil {
					onErr(err)
				}
				cancel()
			}
		}
	}()
}

// Close stops the background writes and writes what is pending.
func (w *TouchWriter) Close() error {
	w.runMu.Lock()
	if w.stop != nil {
		close(w.stop)
		<-w.done
		w.stop = nil
	}
	w.runMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return w.Flush(ctx)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
