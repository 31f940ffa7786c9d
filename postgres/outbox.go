package postgres

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latch-dev/latch"
)

var _ latch.Outbox = (*DB)(nil)

const mailColumns = `id, kind, recipient, link, detail, status, created_at, not_after, attempts, next_attempt_at, last_error, done_at`

func scanMail(row pgx.Row) (*latch.Mail, error) {
	var m latch.Mail
	err := row.Scan(&m.ID, (*string)(&m.Kind), &m.To, &m.Link, &m.Detail, (*string)(&m.Status), timeDest{&m.CreatedAt},
		timeDest{&m.NotAfter}, &m.Attempts, timeDest{&m.NextAttemptAt}, &m.LastError, timeDest{&m.DoneAt})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// EnqueueMail implements latch.Outbox.
func (db *DB) EnqueueMail(ctx context.Context, m *latch.Mail) error {
	_, err := db.exec(ctx, "enqueue mail", `INSERT INTO outbox (`+mailColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		m.ID, string(m.Kind), m.To, m.Link, m.Detail, string(m.Status), m.CreatedAt, nullTime(m.NotAfter),
		m.Attempts, m.NextAttemptAt, m.LastError, nullTime(m.DoneAt))
	return err
}

// ClaimMail implements latch.Outbox. Instances claiming at once skip each
// other's rows (FOR UPDATE SKIP LOCKED), so no mail is claimed twice.
func (db *DB) ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*latch.Mail, error) {
	out, err := list(ctx, db, "claim mail", scanMail, `UPDATE outbox SET next_attempt_at = $1 WHERE id IN (
		SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $2
		ORDER BY created_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING `+mailColumns, now.Add(lease), now, limit)
	if err != nil {
		return nil, err
	}
	// RETURNING has no order of its own.
	slices.SortFunc(out, func(a, b *latch.Mail) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// MarkMailSent implements latch.Outbox.
func (db *DB) MarkMailSent(ctx context.Context, id string, at time.Time) error {
	return db.one(ctx, "mark mail sent", `UPDATE outbox SET status = 'sent', done_at = $1, link = '' WHERE id = $2 AND status = 'pending'`, at, id)
}

// RetryMail implements latch.Outbox.
func (db *DB) RetryMail(ctx context.Context, id string, attempts int, next time.Time, lastErr string) error {
	return db.one(ctx, "retry mail", `UPDATE outbox SET attempts = $1, next_attempt_at = $2, last_error = $3 WHERE id = $4 AND status = 'pending'`,
		attempts, next, lastErr, id)
}

// MarkMailFailed implements latch.Outbox.
func (db *DB) MarkMailFailed(ctx context.Context, id string, attempts int, at time.Time, lastErr string) error {
	return db.one(ctx, "mark mail failed", `UPDATE outbox SET status = 'failed', attempts = $1, done_at = $2, last_error = $3, link = ''
		WHERE id = $4 AND status = 'pending'`, attempts, at, lastErr, id)
}

// MailByID implements latch.Outbox.
func (db *DB) MailByID(ctx context.Context, id string) (*latch.Mail, error) {
	return get(ctx, db, "mail by id", scanMail, `SELECT `+mailColumns+` FROM outbox WHERE id = $1`, id)
}

// DeleteDoneMail implements latch.Outbox.
func (db *DB) DeleteDoneMail(ctx context.Context, before time.Time) (int, error) {
	return db.deleteBatched(ctx, "delete done mail", `DELETE FROM outbox WHERE id IN (
		SELECT id FROM outbox WHERE status <> 'pending' AND done_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, before)
}
