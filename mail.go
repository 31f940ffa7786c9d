package latch

import (
	"context"
	"time"
)

// MailKind names an email latch sends; the mail package has a template
// (subject, plain text and HTML) for each.
type MailKind string

// The emails of API.md §8.
const (
	// MailPasswordReset carries a link to /reset.
	MailPasswordReset MailKind = "password_reset"
	// MailPasswordResetDone tells the account that its password was reset.
	MailPasswordResetDone MailKind = "password_reset_done"
	// MailVerifyEmail carries a link to /verify-email for the current address.
	MailVerifyEmail MailKind = "verify_email"
	// MailChangeEmail carries a link to /verify-email, to the new address.
	MailChangeEmail MailKind = "change_email"
	// MailEmailChangeNotice tells the old address that a change to
	// Detail (the new address) was asked for.
	MailEmailChangeNotice MailKind = "email_change_notice"
	// MailEmailInUse tells an address that someone asked to move another
	// account to it, while it already has one (see docs/decisions.md).
	MailEmailInUse MailKind = "email_in_use"
)

// MailStatus is where a Mail is in the outbox.
type MailStatus string

// The states of a Mail.
const (
	MailPending MailStatus = "pending" // to send, at NextAttemptAt
	MailSent    MailStatus = "sent"
	MailFailed  MailStatus = "failed" // given up on; LastError says why
)

// Mail is one email in the durable outbox. A mail accepted for sending is
// a record before the request that asked for it is answered, so it
// survives a restart; the sender delivers it, retries with backoff, and
// finally marks it failed with the error logged: never silently lost.
type Mail struct {
	ID   string
	Kind MailKind
	To   string
	// Link is the one-time link the mail carries, if any. It is a secret:
	// the outbox forgets it once the mail is sent or failed.
	Link string
	// Detail is other text the template shows (the new address of a change notice).
	Detail    string
	Status    MailStatus
	CreatedAt time.Time
	// NotAfter is when the mail is no longer worth sending (its link has
	// expired); zero means never.
	NotAfter      time.Time
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	// DoneAt is when it was sent or given up on.
	DoneAt time.Time
}

// Outbox is the durable queue of mail to send.
type Outbox interface {
	// EnqueueMail stores m (ID set by the caller, Status MailPending).
	EnqueueMail(ctx context.Context, m *Mail) error
	// ClaimMail returns up to limit pending mails whose NextAttemptAt is
	// not after now, oldest first, and moves their NextAttemptAt to
	// now+lease: another sender (another instance) does not take them
	// before then, and a sender that dies mid-send leaves them to be
	// retried once the lease is over.
	ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*Mail, error)
	// MarkMailSent records a delivery at at: Status MailSent, DoneAt set,
	// Link erased. ErrNotFound when no pending mail has this ID.
	MarkMailSent(ctx context.Context, id string, at time.Time) error
	// RetryMail records a failed attempt: Attempts and LastError set, to be
	// tried again at next. ErrNotFound when no pending mail has this ID.
	RetryMail(ctx context.Context, id string, attempts int, next time.Time, lastErr string) error
	// MarkMailFailed gives up on a mail: Status MailFailed, Attempts,
	// LastError and DoneAt set, Link erased. ErrNotFound when no pending
	// mail has this ID.
	MarkMailFailed(ctx context.Context, id string, attempts int, at time.Time, lastErr string) error
	// MailByID returns a mail in any state; ErrNotFound when unknown.
	MailByID(ctx context.Context, id string) (*Mail, error)
	// DeleteDoneMail removes sent and failed mail done before before, and
	// returns how many.
	DeleteDoneMail(ctx context.Context, before time.Time) (int, error)
}

// Mailer delivers one mail (the mail package renders it and speaks SMTP).
// An error means it was not accepted and may be retried.
type Mailer interface {
	SendMail(ctx context.Context, m *Mail) error
}
