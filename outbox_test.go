package latch_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/jose"
	"github.com/latch-dev/latch/memory"
)

// mailbox is a Mailer that keeps what it is given.
type mailbox struct {
	mu   sync.Mutex
	sent []*latch.Mail
}

func (m *mailbox) SendMail(_ context.Context, mail *latch.Mail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := *mail
	m.sent = append(m.sent, &c)
	return nil
}

// With a master key the outbox holds links sealed: the database has no
// usable link while a mail waits, and the mail sent has the real one.
func TestOutbox_linksSealedWithTheMasterKey(t *testing.T) {
	ctx := context.Background()
	outbox := &memory.Outbox{}
	withMail := func(masterKey string, box *mailbox) domainOption {
		return withDeps(func(d *latch.Deps) {
			d.AccountTokens, d.Outbox, d.Mailer = &memory.AccountTokenStore{}, outbox, box
			if masterKey != "" {
				s, err := jose.NewSealer(masterKey)
				if err != nil {
					t.Fatal(err)
				}
				d.Sealer = s
			}
		})
	}
	byHand := withConfig(func(c *latch.Config) { c.MailInterval = -1 })

	box := &mailbox{}
	d := newDomain(t, withMail("0123456789abcdef0123456789abcdef", box), byHand)
	d.signup(t, "ada@example.com", mfaPassword)
	p := d.principal(t, d.login(t, "ada@example.com", mfaPassword, latch.KindSession))
	if err := d.RequestVerification(ctx, p); err != nil {
		t.Fatal(err)
	}
	waiting := outbox.All()
	if len(waiting) != 1 || !strings.HasPrefix(waiting[0].Link, "sealed:") || strings.Contains(waiting[0].Link, "token=") {
		t.Fatalf("the outbox holds %d mails, link %q", len(waiting), waiting[0].Link)
	}
	if n, err := d.DeliverMail(ctx); n != 1 || err != nil {
		t.Fatalf("DeliverMail = %d, %v", n, err)
	}
	if len(box.sent) != 1 || !strings.HasPrefix(box.sent[0].Link, testIssuer+"/verify-email?token=") {
		t.Fatalf("sent %+v", box.sent)
	}

	// Another instance with another master key cannot open it: the mail
	// fails, loudly, rather than going out with a sealed blob for a link.
	if err := d.RequestVerification(ctx, p); err != nil {
		t.Fatalf("a second verification mail: %v", err)
	}
	other := newDomain(t, withMail("another master key, 32 bytes....", &mailbox{}), byHand)
	if n, err := other.DeliverMail(ctx); n != 0 || err != nil {
		t.Fatalf("DeliverMail with the wrong key = %d, %v", n, err)
	}
	for _, m := range outbox.All() {
		if m.Status != latch.MailSent && m.Status != latch.MailFailed {
			t.Fatalf("mail %s is %s after a wrong master key, want failed", m.ID, m.Status)
		}
	}
}
