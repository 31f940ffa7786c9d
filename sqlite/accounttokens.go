package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/latch-dev/latch"
)

var _ latch.AccountTokenStore = (*DB)(nil)

const tokenColumns = `hash, purpose, user_id, email, created_at, expires_at, data, attempts`

func scanToken(row rowScanner) (*latch.AccountToken, error) {
	var t latch.AccountToken
	if err := row.Scan(&t.Hash, (*string)(&t.Purpose), &t.UserID, &t.Email, timeDest{&t.CreatedAt}, timeDest{&t.ExpiresAt}, &t.Data, &t.Attempts); err != nil {
		return nil, err
	}
	return &t, nil
}

// CreateAccountToken implements latch.AccountTokenStore.
func (db *DB) CreateAccountToken(ctx context.Context, t *latch.AccountToken) error {
	_, err := db.exec(ctx, nil, `INSERT INTO account_tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.Hash, string(t.Purpose), t.UserID, t.Email, nanos(t.CreatedAt), nanos(t.ExpiresAt), t.Data, t.Attempts)
	return fail(ctx, "create account token", err)
}

// AccountToken implements latch.AccountTokenStore.
func (db *DB) AccountToken(ctx context.Context, hash []byte, now time.Time) (*latch.AccountToken, error) {
	t, err := scanToken(db.row(ctx, nil, `SELECT `+tokenColumns+` FROM account_tokens WHERE hash = ? AND expires_at > ?`, hash, nanos(now)))
	if err != nil {
		return nil, fail(ctx, "account token", err)
	}
	return t, nil
}

// ConsumeAccountToken implements latch.AccountTokenStore: one DELETE …
// RETURNING on the single writer, so one of concurrent calls gets the row.
func (db *DB) ConsumeAccountToken(ctx context.Context, hash []byte, now time.Time) (*latch.AccountToken, error) {
	const op = "consume account token"
	var t *latch.AccountToken
	err := db.write(ctx, op, func(tx *sql.Tx) error {
		var err error
		t, err = scanToken(db.row(ctx, tx, `DELETE FROM account_tokens WHERE hash = ? AND expires_at > ? RETURNING `+tokenColumns, hash, nanos(now)))
		return fail(ctx, op, err)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// FailAccountToken implements latch.AccountTokenStore.
func (db *DB) FailAccountToken(ctx context.Context, hash []byte, now time.Time) (int, error) {
	const op = "fail account token"
	var n int
	err := db.write(ctx, op, func(tx *sql.Tx) error {
		return fail(ctx, op, db.row(ctx, tx, `UPDATE account_tokens SET attempts = attempts + 1
			WHERE hash = ? AND expires_at > ? RETURNING attempts`, hash, nanos(now)).Scan(&n))
	})
	return n, err
}

// DeleteAccountTokens implements latch.AccountTokenStore.
func (db *DB) DeleteAccountTokens(ctx context.Context, userID string, purpose latch.TokenPurpose) error {
	_, err := db.exec(ctx, nil, `DELETE FROM account_tokens WHERE user_id = ? AND purpose = ?`, userID, string(purpose))
	return fail(ctx, "delete account tokens", err)
}

// DeleteExpiredAccountTokens implements latch.AccountTokenStore.
func (db *DB) DeleteExpiredAccountTokens(ctx context.Context, now time.Time) (int, error) {
	return db.deleteBatched(ctx, "delete expired account tokens", `DELETE FROM account_tokens WHERE hash IN (
		SELECT hash FROM account_tokens WHERE expires_at <= ? LIMIT ?)`, nanos(now))
}
