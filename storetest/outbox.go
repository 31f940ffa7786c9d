package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

func newMail(created time.Time) *latch.Mail {
	return &latch.Mail{ID: newID(), Kind: latch.MailPasswordReset, To: newID() + "@example.com",
		Link: "https://latch.example/reset?token=" + newID(), Status: latch.MailPending, CreatedAt: created,
		NotAfter: created.Add(15 * time.Minute), NextAttemptAt: created}
}

func mustEnqueue(t *testing.T, o latch.Outbox, ms ...*latch.Mail) {
	t.Helper()
	for _, m := range ms {
		if err := o.EnqueueMail(ctx(t), m); err != nil {
			t.Fatalf("EnqueueMail: %v", err)
		}
	}
}

func mustMail(t *testing.T, o latch.Outbox, id string) *latch.Mail {
	t.Helper()
	m, err := o.MailByID(ctx(t), id)
	if err != nil {
		t.Fatalf("MailByID: %v", err)
	}
	return m
}

// Outbox tests each open a store of their own: ClaimMail sees every mail.
func testOutbox(t *testing.T, _ Stores, open func(*testing.T) Stores) {
	const lease = 2 * time.Minute

	t.Run("enqueue, claim in order, lease", func(t *testing.T) {
		o := open(t).Outbox
		a, b, later := newMail(t0), newMail(t0.Add(time.Second)), newMail(t0.Add(time.Hour))
		later.NextAttemptAt = t0.Add(time.Hour)
		noLimit := newMail(t0.Add(2 * time.Second))
		noLimit.NotAfter, noLimit.Link, noLimit.Detail = time.Time{}, "", "new@example.com"
		mustEnqueue(t, o, b, later, a, noLimit)
		mustEqual(t, "MailByID", mustMail(t, o, noLimit.ID), noLimit)

		got, err := o.ClaimMail(ctx(t), t0.Add(time.Minute), lease, 10)
		wantErr(t, "ClaimMail", err, nil)
		if len(got) != 3 {
			t.Fatalf("ClaimMail returned %d mails, want the 3 due", len(got))
		}
		for i, want := range []*latch.Mail{a, b, noLimit} {
			w := clone(want)
			w.NextAttemptAt = t0.Add(time.Minute + lease)
			mustEqual(t, "claimed mail", got[i], w)
		}
		again, err := o.ClaimMail(ctx(t), t0.Add(time.Minute+lease-time.Microsecond), lease, 10)
		wantErr(t, "ClaimMail within the lease", err, nil)
		if len(again) != 0 {
			t.Fatalf("ClaimMail within the lease returned %d mails, want none", len(again))
		}
		again, err = o.ClaimMail(ctx(t), t0.Add(time.Minute+lease), lease, 2)
		wantErr(t, "ClaimMail after the lease", err, nil)
		if len(again) != 2 || again[0].ID != a.ID || again[1].ID != b.ID {
			t.Fatalf("ClaimMail after the lease with limit 2 returned %d mails, want a and b again", len(again))
		}
	})

	t.Run("sent", func(t *testing.T) {
		o := open(t).Outbox
		m := newMail(t0)
		mustEnqueue(t, o, m)
		at := t0.Add(time.Second)
		wantErr(t, "MarkMailSent", o.MarkMailSent(ctx(t), m.ID, at), nil)
		want := clone(m)
		want.Status, want.DoneAt, want.Link = latch.MailSent, at, ""
		mustEqual(t, "a sent mail (its link erased)", mustMail(t, o, m.ID), want)
		got, err := o.ClaimMail(ctx(t), t0.Add(time.Hour), lease, 10)
		wantErr(t, "ClaimMail", err, nil)
		if len(got) != 0 {
			t.Fatalf("ClaimMail returned a sent mail")
		}
		for name, err := range map[string]error{
			"MarkMailSent twice":     o.MarkMailSent(ctx(t), m.ID, at),
			"RetryMail of a sent":    o.RetryMail(ctx(t), m.ID, 1, at, "x"),
			"MarkMailFailed a sent":  o.MarkMailFailed(ctx(t), m.ID, 1, at, "x"),
			"MarkMailSent unknown":   o.MarkMailSent(ctx(t), newID(), at),
			"RetryMail unknown":      o.RetryMail(ctx(t), newID(), 1, at, "x"),
			"MarkMailFailed unknown": o.MarkMailFailed(ctx(t), newID(), 1, at, "x"),
		} {
			wantErr(t, name, err, latch.ErrNotFound)
		}
		_, err = o.MailByID(ctx(t), newID())
		wantErr(t, "MailByID unknown", err, latch.ErrNotFound)
	})

	t.Run("retry, then fail", func(t *testing.T) {
		o := open(t).Outbox
		m := newMail(t0)
		mustEnqueue(t, o, m)
		next := t0.Add(10 * time.Second)
		wantErr(t, "RetryMail", o.RetryMail(ctx(t), m.ID, 1, next, "421 try later"), nil)
		want := clone(m)
		want.Attempts, want.NextAttemptAt, want.LastError = 1, next, "421 try later"
		mustEqual(t, "a mail to retry", mustMail(t, o, m.ID), want)
		got, err := o.ClaimMail(ctx(t), next.Add(-time.Microsecond), lease, 10)
		wantErr(t, "ClaimMail before the retry", err, nil)
		if len(got) != 0 {
			t.Fatalf("ClaimMail returned a mail before its retry time")
		}
		got, err = o.ClaimMail(ctx(t), next, lease, 10)
		wantErr(t, "ClaimMail at the retry", err, nil)
		if len(got) != 1 || got[0].Attempts != 1 || got[0].LastError != "421 try later" {
			t.Fatalf("ClaimMail at the retry time = %+v, want the mail with its attempt", got)
		}
		at := next.Add(time.Second)
		wantErr(t, "MarkMailFailed", o.MarkMailFailed(ctx(t), m.ID, 2, at, "550 no such user"), nil)
		want.Status, want.Attempts, want.DoneAt, want.LastError, want.Link = latch.MailFailed, 2, at, "550 no such user", ""
		want.NextAttemptAt = got[0].NextAttemptAt
		mustEqual(t, "a failed mail (its link erased)", mustMail(t, o, m.ID), want)
		got, err = o.ClaimMail(ctx(t), t0.Add(time.Hour), lease, 10)
		wantErr(t, "ClaimMail", err, nil)
		if len(got) != 0 {
			t.Fatalf("ClaimMail returned a failed mail")
		}
	})

	t.Run("concurrent claims take each mail once", func(t *testing.T) {
		o := open(t).Outbox
		const n = 20
		for i := range n {
			mustEnqueue(t, o, newMail(t0.Add(time.Duration(i)*time.Millisecond)))
		}
		var (
			mu   sync.Mutex
			seen = map[string]int{}
			wg   sync.WaitGroup
		)
		for range 8 {
			wg.Go(func() {
				got, err := o.ClaimMail(ctx(t), t0.Add(time.Second), lease, 3)
				if err != nil {
					t.Errorf("ClaimMail: %v", err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, m := range got {
					seen[m.ID]++
				}
			})
		}
		wg.Wait()
		for id, k := range seen {
			if k != 1 {
				t.Fatalf("mail %s claimed %d times", id, k)
			}
		}
		if len(seen) != n {
			t.Fatalf("%d mails claimed by 8 claims of 3, want %d", len(seen), n)
		}
	})

	t.Run("DeleteDoneMail", func(t *testing.T) {
		o := open(t).Outbox
		sent, failed, pending, recent := newMail(t0), newMail(t0), newMail(t0), newMail(t0)
		mustEnqueue(t, o, sent, failed, pending, recent)
		wantErr(t, "MarkMailSent", o.MarkMailSent(ctx(t), sent.ID, t0), nil)
		wantErr(t, "MarkMailFailed", o.MarkMailFailed(ctx(t), failed.ID, 8, t0, "x"), nil)
		wantErr(t, "MarkMailSent", o.MarkMailSent(ctx(t), recent.ID, t0.Add(time.Hour)), nil)
		n, err := o.DeleteDoneMail(ctx(t), t0.Add(time.Minute))
		wantErr(t, "DeleteDoneMail", err, nil)
		if n != 2 {
			t.Fatalf("DeleteDoneMail deleted %d, want the sent and the failed mail done before", n)
		}
		for id, want := range map[string]error{sent.ID: latch.ErrNotFound, failed.ID: latch.ErrNotFound, pending.ID: nil, recent.ID: nil} {
			_, err := o.MailByID(ctx(t), id)
			wantErr(t, "MailByID after DeleteDoneMail", err, want)
		}
	})
}
