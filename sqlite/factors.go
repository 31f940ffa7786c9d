package sqlite

import (
	"context"
	"database/sql"
	"errors"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/latch-dev/latch"
)

var _ latch.FactorStore = (*DB)(nil)

// TOTP implements latch.FactorStore.
func (db *DB) TOTP(ctx context.Context, userID string) (*latch.TOTPFactor, error) {
	f := latch.TOTPFactor{UserID: userID}
	err := db.row(ctx, nil, `SELECT secret, sealed, confirmed, last_step, created_at FROM totp_factors WHERE user_id = ?`, userID).
		Scan(&f.Secret, &f.Sealed, &f.Confirmed, &f.LastStep, timeDest{&f.CreatedAt})
	if err != nil {
		return nil, fail(ctx, "totp", err)
	}
	return &f, nil
}

// PutTOTP implements latch.FactorStore.
func (db *DB) PutTOTP(ctx context.Context, f *latch.TOTPFactor) error {
	_, err := db.exec(ctx, nil, `INSERT OR REPLACE INTO totp_factors (user_id, secret, sealed, confirmed, last_step, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, f.UserID, f.Secret, f.Sealed, f.Confirmed, f.LastStep, nanos(f.CreatedAt))
	return fail(ctx, "put totp", err)
}

// UseTOTPStep implements latch.FactorStore: one conditional UPDATE on the
// single writer.
func (db *DB) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	res, err := db.exec(ctx, nil, `UPDATE totp_factors SET last_step = ? WHERE user_id = ? AND confirmed AND last_step < ?`,
		step, userID, step)
	return affected(ctx, "use totp step", res, err)
}

// DeleteTOTP implements latch.FactorStore.
func (db *DB) DeleteTOTP(ctx context.Context, userID string) error {
	res, err := db.exec(ctx, nil, `DELETE FROM totp_factors WHERE user_id = ?`, userID)
	return affected(ctx, "delete totp", res, err)
}

// ReplaceRecoveryCodes implements latch.FactorStore.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error {
	const op = "replace recovery codes"
	return db.write(ctx, op, func(tx *sql.Tx) error {
		if _, err := db.exec(ctx, tx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
			return fail(ctx, op, err)
		}
		for _, h := range hashes {
			if _, err := db.exec(ctx, tx, `INSERT INTO recovery_codes (user_id, hash) VALUES (?, ?)`, userID, h); err != nil {
				return fail(ctx, op, err)
			}
		}
		return nil
	})
}

// UseRecoveryCode implements latch.FactorStore.
func (db *DB) UseRecoveryCode(ctx context.Context, userID string, hash []byte) error {
	res, err := db.exec(ctx, nil, `DELETE FROM recovery_codes WHERE user_id = ? AND hash = ?`, userID, hash)
	return affected(ctx, "use recovery code", res, err)
}

// RecoveryCodesLeft implements latch.FactorStore.
func (db *DB) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int
	err := db.row(ctx, nil, `SELECT count(*) FROM recovery_codes WHERE user_id = ?`, userID).Scan(&n)
	return n, fail(ctx, "recovery codes left", err)
}

const passkeyColumns = `credential_id, user_id, name, data, sign_count, created_at, last_used_at`

func scanPasskey(row rowScanner) (*latch.Passkey, error) {
	var p latch.Passkey
	if err := row.Scan(&p.CredentialID, &p.UserID, &p.Name, &p.Data, &p.SignCount, timeDest{&p.CreatedAt}, timeDest{&p.LastUsedAt}); err != nil {
		return nil, err
	}
	return &p, nil
}

// CreatePasskey implements latch.FactorStore.
func (db *DB) CreatePasskey(ctx context.Context, p *latch.Passkey) error {
	_, err := db.exec(ctx, nil, `INSERT INTO passkeys (`+passkeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.CredentialID, p.UserID, p.Name, p.Data, p.SignCount, nanos(p.CreatedAt), nanos(p.LastUsedAt))
	if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, "passkeys.credential_id") {
		return latch.ErrCredentialTaken
	}
	return fail(ctx, "create passkey", err)
}

// Passkeys implements latch.FactorStore.
func (db *DB) Passkeys(ctx context.Context, userID string) ([]*latch.Passkey, error) {
	rows, err := db.rows(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = ? ORDER BY created_at, credential_id`, userID)
	if err != nil {
		return nil, fail(ctx, "passkeys", err)
	}
	defer rows.Close()
	var out []*latch.Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, fail(ctx, "passkeys", err)
		}
		out = append(out, p)
	}
	return out, fail(ctx, "passkeys", rows.Err())
}

// PasskeyByCredentialID implements latch.FactorStore.
func (db *DB) PasskeyByCredentialID(ctx context.Context, id []byte) (*latch.Passkey, error) {
	p, err := scanPasskey(db.row(ctx, nil, `SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = ?`, id))
	if err != nil {
		return nil, fail(ctx, "passkey", err)
	}
	return p, nil
}

// RenamePasskey implements latch.FactorStore.
func (db *DB) RenamePasskey(ctx context.Context, userID string, id []byte, name string) error {
	res, err := db.exec(ctx, nil, `UPDATE passkeys SET name = ? WHERE credential_id = ? AND user_id = ?`, name, id, userID)
	return affected(ctx, "rename passkey", res, err)
}

// UsePasskey implements latch.FactorStore: latch.CounterMovedForward in
// the WHERE clause, so that the check and the write are one statement.
func (db *DB) UsePasskey(ctx context.Context, p *latch.Passkey) error {
	res, err := db.exec(ctx, nil, `UPDATE passkeys SET data = ?, sign_count = ?, last_used_at = ?
		WHERE credential_id = ? AND user_id = ? AND (sign_count < ? OR (sign_count = 0 AND ? = 0))`,
		p.Data, p.SignCount, nanos(p.LastUsedAt), p.CredentialID, p.UserID, p.SignCount, p.SignCount)
	err = affected(ctx, "use passkey", res, err)
	if errors.Is(err, latch.ErrNotFound) {
		return latch.PasskeyNotUsed(ctx, p, db.PasskeyByCredentialID)
	}
	return err
}

// DeletePasskey implements latch.FactorStore.
func (db *DB) DeletePasskey(ctx context.Context, userID string, id []byte) error {
	res, err := db.exec(ctx, nil, `DELETE FROM passkeys WHERE credential_id = ? AND user_id = ?`, id, userID)
	return affected(ctx, "delete passkey", res, err)
}

// DeleteFactors implements latch.FactorStore. The foreign keys remove
// them with the account as well.
func (db *DB) DeleteFactors(ctx context.Context, userID string) error {
	const op = "delete factors"
	return db.write(ctx, op, func(tx *sql.Tx) error {
		for _, table := range []string{"totp_factors", "recovery_codes", "passkeys"} {
			if _, err := db.exec(ctx, tx, `DELETE FROM `+table+` WHERE user_id = ?`, userID); err != nil {
				return fail(ctx, op, err)
			}
		}
		return nil
	})
}
