package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/latch-dev/latch"
)

var _ latch.FactorStore = (*DB)(nil)

// TOTP implements latch.FactorStore.
func (db *DB) TOTP(ctx context.Context, userID string) (*latch.TOTPFactor, error) {
	return get(ctx, db, "totp", func(row pgx.Row) (*latch.TOTPFactor, error) {
		f := latch.TOTPFactor{UserID: userID}
		return &f, row.Scan(&f.Secret, &f.Sealed, &f.Confirmed, &f.LastStep, timeDest{&f.CreatedAt})
	}, `SELECT secret, sealed, confirmed, last_step, created_at FROM totp_factors WHERE user_id = $1`, userID)
}

// PutTOTP implements latch.FactorStore.
func (db *DB) PutTOTP(ctx context.Context, f *latch.TOTPFactor) error {
	_, err := db.exec(ctx, "put totp", `INSERT INTO totp_factors (user_id, secret, sealed, confirmed, last_step, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, sealed = excluded.sealed,
			confirmed = excluded.confirmed, last_step = excluded.last_step, created_at = excluded.created_at`,
		f.UserID, f.Secret, f.Sealed, f.Confirmed, f.LastStep, f.CreatedAt)
	return err
}

// UseTOTPStep implements latch.FactorStore: one conditional UPDATE, which
// of concurrent callers with one step only one passes.
func (db *DB) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	return db.one(ctx, "use totp step", `UPDATE totp_factors SET last_step = $1 WHERE user_id = $2 AND confirmed AND last_step < $1`,
		step, userID)
}

// DeleteTOTP implements latch.FactorStore.
func (db *DB) DeleteTOTP(ctx context.Context, userID string) error {
	return db.one(ctx, "delete totp", `DELETE FROM totp_factors WHERE user_id = $1`, userID)
}

// ReplaceRecoveryCodes implements latch.FactorStore.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error {
	_, err := db.exec(ctx, "replace recovery codes", `WITH gone AS (DELETE FROM recovery_codes WHERE user_id = $1)
		INSERT INTO recovery_codes (user_id, hash) SELECT $1, h FROM unnest($2::bytea[]) AS h`, userID, hashes)
	return err
}

// UseRecoveryCode implements latch.FactorStore.
func (db *DB) UseRecoveryCode(ctx context.Context, userID string, hash []byte) error {
	return db.one(ctx, "use recovery code", `DELETE FROM recovery_codes WHERE user_id = $1 AND hash = $2`, userID, hash)
}

// RecoveryCodesLeft implements latch.FactorStore.
func (db *DB) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	n, err := get(ctx, db, "recovery codes left", func(row pgx.Row) (*int, error) {
		var n int
		return &n, row.Scan(&n)
	}, `SELECT count(*) FROM recovery_codes WHERE user_id = $1`, userID)
	if err != nil {
		return 0, err
	}
	return *n, nil
}

const passkeyColumns = `credential_id, user_id, name, data, sign_count, created_at, last_used_at`

func scanPasskey(row pgx.Row) (*latch.Passkey, error) {
	var p latch.Passkey
	var count int64
	if err := row.Scan(&p.CredentialID, &p.UserID, &p.Name, &p.Data, &count, timeDest{&p.CreatedAt}, timeDest{&p.LastUsedAt}); err != nil {
		return nil, err
	}
	p.SignCount = uint32(count)
	return &p, nil
}

// CreatePasskey implements latch.FactorStore.
func (db *DB) CreatePasskey(ctx context.Context, p *latch.Passkey) error {
	_, err := db.exec(ctx, "create passkey", `INSERT INTO passkeys (`+passkeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		p.CredentialID, p.UserID, p.Name, p.Data, int64(p.SignCount), p.CreatedAt, nullTime(p.LastUsedAt))
	if isUnique(err, "passkeys_pkey") {
		return latch.ErrCredentialTaken
	}
	return err
}

// Passkeys implements latch.FactorStore.
func (db *DB) Passkeys(ctx context.Context, userID string) ([]*latch.Passkey, error) {
	return list(ctx, db, "passkeys", scanPasskey,
		`SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = $1 ORDER BY created_at, credential_id`, userID)
}

// PasskeyByCredentialID implements latch.FactorStore.
func (db *DB) PasskeyByCredentialID(ctx context.Context, id []byte) (*latch.Passkey, error) {
	return get(ctx, db, "passkey", scanPasskey, `SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = $1`, id)
}

// RenamePasskey implements latch.FactorStore.
func (db *DB) RenamePasskey(ctx context.Context, userID string, id []byte, name string) error {
	return db.one(ctx, "rename passkey", `UPDATE passkeys SET name = $1 WHERE credential_id = $2 AND user_id = $3`, name, id, userID)
}

// UsePasskey implements latch.FactorStore: latch.CounterMovedForward in
// the WHERE clause, so that the check and the write are one statement (the
// row lock orders racing ones; the second sees the first's counter).
func (db *DB) UsePasskey(ctx context.Context, p *latch.Passkey) error {
	err := db.one(ctx, "use passkey", `UPDATE passkeys SET data = $1, sign_count = $2, last_used_at = $3
		WHERE credential_id = $4 AND user_id = $5 AND (sign_count < $2 OR (sign_count = 0 AND $2 = 0))`,
		p.Data, int64(p.SignCount), nullTime(p.LastUsedAt), p.CredentialID, p.UserID)
	if errors.Is(err, latch.ErrNotFound) {
		return latch.PasskeyNotUsed(ctx, p, db.PasskeyByCredentialID)
	}
	return err
}

// DeletePasskey implements latch.FactorStore.
func (db *DB) DeletePasskey(ctx context.Context, userID string, id []byte) error {
	return db.one(ctx, "delete passkey", `DELETE FROM passkeys WHERE credential_id = $1 AND user_id = $2`, id, userID)
}

// DeleteFactors implements latch.FactorStore. The foreign keys remove
// them with the account as well.
func (db *DB) DeleteFactors(ctx context.Context, userID string) error {
	_, err := db.exec(ctx, "delete factors", `WITH t AS (DELETE FROM totp_factors WHERE user_id = $1),
		r AS (DELETE FROM recovery_codes WHERE user_id = $1)
		DELETE FROM passkeys WHERE user_id = $1`, userID)
	return err
}
