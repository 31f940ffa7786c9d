package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/latch-dev/latch"
)

var _ latch.Outbox = (*Outbox)(nil)

// Outbox is a latch.Outbox in memory: mail survives no restart, so it is
// for tests and --db memory: only.
type Outbox struct {
	mu sync.Mutex
	m  map[string]*latch.Mail
}

func copyMail(m *latch.Mail) *latch.Mail {
	c := *m
	return &c
}

// EnqueueMail implements latch.Outbox.
func (o *Outbox) EnqueueMail(_ context.Context, m *latch.Mail) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[string]*latch.Mail{}
	}
	if _, ok := o.m[m.ID]; ok {
		return fmt.Errorf("memory: mail %q exists", m.ID)
	}
	o.m[m.ID] = copyMail(m)
	return nil
}

// ClaimMail implements latch.Outbox.
func (o *Outbox) ClaimMail(_ context.Context, now time.Time, lease time.Duration, limit int) ([]*latch.Mail, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var due []*latch.Mail
	for _, m := range o.m {
		if m.Status == latch.MailPending && !m.NextAttemptAt.After(now) {
			due = append(due, m)
		}
	}
	slices.SortFunc(due, func(a, b *latch.Mail) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if limit > 0 && len(due) > limit {
		due = due[:limit]
	}
	out := make([]*latch.Mail, len(due))
	for i, m := range due {
		m.NextAttemptAt = now.Add(lease)
		out[i] = copyMail(m)
	}
	return out, nil
}

// pending returns the pending mail with this ID, or ErrNotFound.
func (o *Outbox) pending(id string) (*latch.Mail, error) {
	m, ok := o.m[id]
	if !ok || m.Status != latch.MailPending {
		return nil, latch.ErrNotFound
	}
	return m, nil
}

// MarkMailSent implements latch.Outbox.
func (o *Outbox) MarkMailSent(_ context.Context, id string, at time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	m, err := o.pending(id)
	if err != nil {
		return err
	}
	m.Status, m.DoneAt, m.Link = latch.MailSent, at, ""
	return nil
}

// RetryMail implements latch.Outbox.
func (o *Outbox) RetryMail(_ context.Context, id string, attempts int, next time.Time, lastErr string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	m, err := o.pending(id)
	if err != nil {
		return err
	}
	m.Attempts, m.NextAttemptAt, m.LastError = attempts, next, lastErr
	return nil
}

// MarkMailFailed implements latch.Outbox.
func (o *Outbox) MarkMailFailed(_ context.Context, id string, attempts int, at time.Time, lastErr string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	m, err := o.pending(id)
	if err != nil {
		return err
	}
	m.Status, m.Attempts, m.DoneAt, m.LastError, m.Link = latch.MailFailed, attempts, at, lastErr, ""
	return nil
}

// MailByID implements latch.Outbox.
func (o *Outbox) MailByID(_ context.Context, id string) (*latch.Mail, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	m, ok := o.m[id]
	if !ok {
		return nil, latch.ErrNotFound
	}
	return copyMail(m), nil
}

// DeleteDoneMail implements latch.Outbox.
func (o *Outbox) DeleteDoneMail(_ context.Context, before time.Time) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for id, m := range o.m {
		if m.Status != latch.MailPending && m.DoneAt.Before(before) {
			delete(o.m, id)
			n++
		}
	}
	return n, nil
}

// All returns every mail in the outbox, in no order (tests and operators).
func (o *Outbox) All() []*latch.Mail {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]*latch.Mail, 0, len(o.m))
	for _, m := range o.m {
		out = append(out, copyMail(m))
	}
	return out
}
