package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/latch-dev/latch"
)

var _ latch.Outbox = (*DB)(nil)

const mailColumns = `id, kind, recipient, link, detail, status, created_at, not_after, attempts, next_attempt_at, last_error, done_at`

func scanMail(row rowScanner) (*latch.Mail, error) {
	var m latch.Mail
	err := row.Scan(&m.ID, (*string)(&m.Kind), &m.To, &m.Link, &m.Detail, (*string)(&m.Status), timeDest{&m.CreatedAt},
		timeDest{&m.NotAfter}, &m.Attempts, timeDest{&m.NextAttemptAt}, &m.LastError, timeDest{&m.DoneAt})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// EnqueueMail implements latch.Outbox. The mail is on disk when it returns
// (WAL, synchronous=NORMAL: a process crash keeps it; see the package
// documentation for a power loss).
func (db *DB) EnqueueMail(ctx context.Context, m *latch.Mail) error {
	_, err := db.exec(ctx, nil, `INSERT INTO outbox (`+mailColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, string(m.Kind), m.To, m.Link, m.Detail, string(m.Status), nanos(m.CreatedAt), nanos(m.NotAfter),
		m.Attempts, nanos(m.NextAttemptAt), m.LastError, nanos(m.DoneAt))
	return fail(ctx, "enqueue mail", err)
}

// ClaimMail implements latch.Outbox, in one write transaction.
func (db *DB) ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*latch.Mail, error) {
	const op = "claim mail"
	var out []*latch.Mail
	err := db.write(ctx, op, func(tx *sql.Tx) error {
		s, err := db.stmt(ctx, tx, `UPDATE outbox SET next_attempt_at = ? WHERE id IN (
			SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY created_at, id LIMIT ?)
			RETURNING `+mailColumns)
		if err != nil {
			return fail(ctx, op, err)
		}
		rows, err := s.QueryContext(ctx, nanos(now.Add(lease)), nanos(now), limit)
		if err != nil {
			return fail(ctx, op, err)
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanMail(rows)
			if err != nil {
				return fail(ctx, op, err)
			}
			out = append(out, m)
		}
		return fail(ctx, op, rows.Err())
	})
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
	res, err := db.exec(ctx, nil, `UPDATE outbox SET status = 'sent', done_at = ?, link = '' WHERE id = ? AND status = 'pending'`, nanos(at), id)
	return affected(ctx, "mark mail sent", res, err)
}

// RetryMail implements latch.Outbox.
func (db *DB) RetryMail(ctx context.Context, id string, attempts int, next time.Time, lastErr string) error {
	res, err := db.exec(ctx, nil, `UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ? AND status = 'pending'`,
		attempts, nanos(next), lastErr, id)
	return affected(ctx, "retry mail", res, err)
}

// MarkMailFailed implements latch.Outbox.
func (db *DB) MarkMailFailed(ctx context.Context, id string, attempts int, at time.Time, lastErr string) error {
	res, err := db.exec(ctx, nil, `UPDATE outbox SET status = 'failed', attempts = ?, done_at = ?, last_error = ?, link = ''
		WHERE id = ? AND status = 'pending'`, attempts, nanos(at), lastErr, id)
	return affected(ctx, "mark mail failed", res, err)
}

// MailByID implements latch.Outbox.
func (db *DB) MailByID(ctx context.Context, id string) (*latch.Mail, error) {
	m, err := scanMail(db.row(ctx, nil, `SELECT `+mailColumns+` FROM outbox WHERE id = ?`, id))
	if err != nil {
		return nil, fail(ctx, "mail by id", err)
	}
	return m, nil
}

// DeleteDoneMail implements latch.Outbox.
func (db *DB) DeleteDoneMail(ctx context.Context, before time.Time) (int, error) {
	return db.deleteBatched(ctx, "delete done mail", `DELETE FROM outbox WHERE id IN (
		SELECT id FROM outbox WHERE status != 'pending' AND done_at < ? LIMIT ?)`, nanos(before))
}
