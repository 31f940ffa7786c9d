package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latch-dev/latch"
)

var _ latch.AccountTokenStore = (*DB)(nil)

const tokenColumns = `hash, purpose, user_id, email, created_at, expires_at, data, attempts`

func scanToken(row pgx.Row) (*latch.AccountToken, error) {
	var t latch.AccountToken
	if err := row.Scan(&t.Hash, (*string)(&t.Purpose), &t.UserID, &t.Email, timeDest{&t.CreatedAt}, timeDest{&t.ExpiresAt}, &t.Data, &t.Attempts); err != nil {
		return nil, err
	}
	return &t, nil
}

// CreateAccountToken implements latch.AccountTokenStore.
func (db *DB) CreateAccountToken(ctx context.Context, t *latch.AccountToken) error {
	_, err := db.exec(ctx, "create account token", `INSERT INTO account_tokens (`+tokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		t.Hash, string(t.Purpose), t.UserID, t.Email, t.CreatedAt, t.ExpiresAt, t.Data, t.Attempts)
	return err
}

// AccountToken implements latch.AccountTokenStore.
func (db *DB) AccountToken(ctx context.Context, hash []byte, now time.Time) (*latch.AccountToken, error) {
	return get(ctx, db, "account token", scanToken,
		`SELECT `+tokenColumns+` FROM account_tokens WHERE hash = $1 AND expires_at > $2`, hash, now)
}

// ConsumeAccountToken implements latch.AccountTokenStore: one DELETE …
// RETURNING, which of concurrent callers only one gets a row from.
func (db *DB) ConsumeAccountToken(ctx context.Context, hash []byte, now time.Time) (*latch.AccountToken, error) {
	return get(ctx, db, "consume account token", scanToken,
		`DELETE FROM account_tokens WHERE hash = $1 AND expires_at > $2 RETURNING `+tokenColumns, hash, now)
}

// FailAccountToken implements latch.AccountTokenStore.
func (db *DB) FailAccountToken(ctx context.Context, hash []byte, now time.Time) (int, error) {
	n, err := get(ctx, db, "fail account token", func(row pgx.Row) (*int, error) {
		var n int
		return &n, row.Scan(&n)
	}, `UPDATE account_tokens SET attempts = attempts + 1 WHERE hash = $1 AND expires_at > $2 RETURNING attempts`, hash, now)
	if err != nil {
		return 0, err
	}
	return *n, nil
}

// DeleteAccountTokens implements latch.AccountTokenStore.
func (db *DB) DeleteAccountTokens(ctx context.Context, userID string, purpose latch.TokenPurpose) error {
	_, err := db.exec(ctx, "delete account tokens", `DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2`, userID, string(purpose))
	return err
}

// DeleteExpiredAccountTokens implements latch.AccountTokenStore.
func (db *DB) DeleteExpiredAccountTokens(ctx context.Context, now time.Time) (int, error) {
	return db.deleteBatched(ctx, "delete expired account tokens", `DELETE FROM account_tokens WHERE hash IN (
		SELECT hash FROM account_tokens WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, now)
}
