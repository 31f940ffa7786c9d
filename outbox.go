package latch

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

const (
	// mailLease is how long a claimed mail is left to its sender before
	// another may take it: longer than any SMTP exchange (the mail package
	// gives up after 30 s).
	mailLease = 2 * time.Minute
	// mailBatch is how many mails one pass of the sender claims.
	mailBatch = 16
	// maxMailDelay caps the doubling retry delay.
	maxMailDelay = time.Hour
	// keepDoneMail is how long sent and failed mail stays for operators.
	keepDoneMail = 7 * 24 * time.Hour
	// maxBackground bounds the work done after a request was answered
	// (the mail of a password reset); beyond it such work is dropped
	// with a warning.
	maxBackground = 256
)

var errNoMail = fmt.Errorf("%w: no outbox configured for account mail", ErrUnavailable)

// mailReady reports whether the account-mail features are wired.
func (s *Service) mailReady() error {
	if s.outbox == nil || s.tokens == nil {
		return errNoMail
	}
	return nil
}

// enqueue stores a mail in the outbox and wakes the sender.
func (s *Service) enqueue(ctx context.Context, m *Mail) error {
	id, err := s.newSecret(16)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	m.ID, m.Status, m.CreatedAt, m.NextAttemptAt = id, MailPending, now, now
	stored := *m
	if stored.Link != "" && s.sealer != nil {
		// With a master key the outbox holds the link sealed: a copy of
		// the database alone carries no usable reset link.
		sealed, err := s.sealer.SealSecret([]byte(m.Link), mailAAD(id))
		if err != nil {
			return err
		}
		stored.Link = sealedLinkPrefix + base64.RawURLEncoding.EncodeToString(sealed)
	}
	if err := s.outbox.EnqueueMail(ctx, &stored); err != nil {
		return storeErr(err)
	}
	select {
	case s.mailKick <- struct{}{}:
	default:
	}
	return nil
}

// sealedLinkPrefix marks a Mail.Link sealed with the master key.
const sealedLinkPrefix = "sealed:"

func mailAAD(id string) []byte { return []byte("latch mail " + id) }

// openLink returns the mail with its link opened, when it was sealed.
func (s *Service) openLink(m *Mail) (*Mail, error) {
	rest, ok := strings.CutPrefix(m.Link, sealedLinkPrefix)
	if !ok {
		return m, nil
	}
	if s.sealer == nil {
		return nil, errors.New("its link is sealed and no master key is configured")
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err == nil {
		b, err = s.sealer.OpenSecret(b, mailAAD(m.ID))
	}
	if err != nil {
		return nil, errors.New("its sealed link does not open with this master key")
	}
	c := *m
	c.Link = string(b)
	return &c, nil
}

// link is an absolute link under Config.PublicURL carrying a one-time secret.
func (s *Service) link(path, secret string) string {
	return strings.TrimRight(s.cfg.PublicURL, "/") + path + "?token=" + secret
}

// newAccountToken stores a token for u and returns the secret of its link.
func (s *Service) newAccountToken(ctx context.Context, purpose TokenPurpose, userID, email string, ttl time.Duration) (string, time.Time, error) {
	secret, err := s.newSecret(32)
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.now().UTC()
	t := &AccountToken{Hash: HashSecret(secret), Purpose: purpose, UserID: userID, Email: email,
		CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.tokens.CreateAccountToken(ctx, t); err != nil {
		return "", time.Time{}, storeErr(err)
	}
	return secret, t.ExpiresAt, nil
}

// allowMail takes one token of the account's mail budget; it returns how
// long until the next one (0: allowed).
func (s *Service) allowMail(ctx context.Context, key string) (time.Duration, error) {
	if s.mailLimiter == nil {
		return 0, nil
	}
	wait, err := s.mailLimiter.Allow(ctx, key, s.now())
	return wait, storeErr(err)
}

// background runs f after the request is answered, with the request's
// identity but a context of its own (30 s). Close waits for it. It
// reports false when too much such work is in flight, or the Service is
// closed, and f was dropped.
func (s *Service) background(ctx context.Context, f func(context.Context)) bool {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.bgClosed {
		return false
	}
	select {
	case s.bgSlots <- struct{}{}:
	default:
		return false
	}
	s.bgWG.Add(1)
	ri := RequestInfoFrom(ctx)
	go func() {
		defer s.bgWG.Done()
		defer func() { <-s.bgSlots }()
		c, cancel := context.WithTimeout(WithRequestInfo(context.Background(), ri), 30*time.Second)
		defer cancel()
		f(c)
	}()
	return true
}

// mailLoop delivers due mail whenever some is enqueued, and every
// Config.MailInterval for retries, other instances' mail and mail a
// restart left behind.
func (s *Service) mailLoop() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(s.cfg.MailInterval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
			case <-s.mailKick:
			}
			ctx, cancel := context.WithTimeout(context.Background(), mailLease)
			if _, err := s.DeliverMail(ctx); err != nil {
				s.logger.Warn("delivering mail", "err", err)
			}
			cancel()
		}
	}()
}

// DeliverMail runs one pass of the outbox's sender: it claims the due
// mail and tries each once. A mail that fails is retried after
// Config.MailRetryDelay, doubling each time up to an hour; after
// Config.MailAttempts tries, or once its link has expired, it is marked
// failed and logged as an error. It returns how many were sent. The
// Service runs it in the background after Start; tests call it directly.
func (s *Service) DeliverMail(ctx context.Context) (int, error) {
	if s.outbox == nil {
		return 0, nil
	}
	sent := 0
	for {
		batch, err := s.outbox.ClaimMail(ctx, s.now().UTC(), mailLease, mailBatch)
		if err != nil {
			return sent, storeErr(err)
		}
		for _, m := range batch {
			ok, err := s.deliver(ctx, m)
			if err != nil {
				return sent, err
			}
			if ok {
				sent++
			}
		}
		if len(batch) < mailBatch {
			return sent, nil
		}
	}
}

// deliver tries one claimed mail and records the outcome.
func (s *Service) deliver(ctx context.Context, m *Mail) (bool, error) {
	now := s.now().UTC()
	if !m.NotAfter.IsZero() && !now.Before(m.NotAfter) {
		return false, s.giveUp(ctx, m, m.Attempts, "its link expired before it could be sent")
	}
	open, err := s.openLink(m)
	if err != nil {
		return false, s.giveUp(ctx, m, m.Attempts, err.Error())
	}
	sctx, cancel := context.WithTimeout(ctx, mailLease/2)
	err = s.mailer.SendMail(sctx, open)
	cancel()
	if err == nil {
		if err := s.outbox.MarkMailSent(ctx, m.ID, s.now().UTC()); err != nil && !errors.Is(err, ErrNotFound) {
			return true, storeErr(err)
		}
		return true, nil
	}
	attempts := m.Attempts + 1
	if attempts >= s.cfg.MailAttempts {
		return false, s.giveUp(ctx, m, attempts, err.Error())
	}
	delay := s.cfg.MailRetryDelay << (attempts - 1)
	if delay > maxMailDelay || delay <= 0 {
		delay = maxMailDelay
	}
	s.logger.Warn("mail not sent; will retry", "mail_id", m.ID, "kind", m.Kind, "attempt", attempts, "retry_in", delay, "err", err)
	if err := s.outbox.RetryMail(ctx, m.ID, attempts, s.now().UTC().Add(delay), truncate(err.Error(), 1000)); err != nil && !errors.Is(err, ErrNotFound) {
		return false, storeErr(err)
	}
	return false, nil
}

// giveUp marks a mail failed and says so where operators look.
func (s *Service) giveUp(ctx context.Context, m *Mail, attempts int, why string) error {
	s.logger.Error("mail failed; giving up", "mail_id", m.ID, "kind", m.Kind, "to", m.To, "attempts", attempts, "err", why)
	s.emit(ctx, Event{Kind: EventMailFailed, Outcome: OutcomeError, Detail: string(m.Kind)})
	if err := s.outbox.MarkMailFailed(ctx, m.ID, attempts, s.now().UTC(), truncate(why, 1000)); err != nil && !errors.Is(err, ErrNotFound) {
		return storeErr(err)
	}
	return nil
}

// logMailer is the Mailer without an SMTP server: it writes each mail to
// the log, link included. For development only (the command warns at start).
type logMailer struct{ l *slog.Logger }

func (m logMailer) SendMail(_ context.Context, mail *Mail) error {
	m.l.Warn("mail not sent (no SMTP server configured; development only)",
		"to", mail.To, "kind", mail.Kind, "link", mail.Link, "detail", mail.Detail)
	return nil
}
