package sqlite

import (
	"context"
	"database/sql"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/latch-dev/latch"
)

const userColumns = `id, email, password_hash, role, disabled, created_at, updated_at, email_verified`

func scanUser(row rowScanner) (*latch.User, error) {
	var u latch.User
	err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Role, &u.Disabled, timeDest{&u.CreatedAt}, timeDest{&u.UpdatedAt}, &u.EmailVerified)
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// CreateUser implements latch.UserStore.
func (db *DB) CreateUser(ctx context.Context, u *latch.User) error {
	_, err := db.exec(ctx, nil, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.PasswordHash, u.Role, u.Disabled, nanos(u.CreatedAt), nanos(u.UpdatedAt), u.EmailVerified)
	if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE, "users.email") {
		return latch.ErrEmailTaken
	}
	return fail(ctx, "create user", err)
}

// UserByID implements latch.UserStore.
func (db *DB) UserByID(ctx context.Context, id string) (*latch.User, error) {
	return db.user(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id)
}

// UserByEmail implements latch.UserStore.
func (db *DB) UserByEmail(ctx context.Context, email string) (*latch.User, error) {
	return db.user(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, email)
}

func (db *DB) user(ctx context.Context, query string, arg any) (*latch.User, error) {
	u, err := scanUser(db.row(ctx, nil, query, arg))
	if err != nil {
		return nil, fail(ctx, "user", err)
	}
	return u, nil
}

// UpdateUser implements latch.UserStore.
func (db *DB) UpdateUser(ctx context.Context, u *latch.User) error {
	res, err := db.exec(ctx, nil, `UPDATE users SET password_hash = ?, role = ?, disabled = ?, updated_at = ? WHERE id = ?`,
		u.PasswordHash, u.Role, u.Disabled, nanos(u.UpdatedAt), u.ID)
	return affected(ctx, "update user", res, err)
}

// DeleteUser implements latch.UserStore.
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	res, err := db.exec(ctx, nil, `DELETE FROM users WHERE id = ?`, id)
	return affected(ctx, "delete user", res, err)
}

// ListUsers implements latch.UserStore. Emails compare bytewise (SQLite's
// BINARY collation), as the other stores compare them.
func (db *DB) ListUsers(ctx context.Context, after string, limit int) ([]*latch.User, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := db.rows(ctx, `SELECT `+userColumns+` FROM users WHERE email > ? ORDER BY email LIMIT ?`, after, limit)
	if err != nil {
		return nil, fail(ctx, "list users", err)
	}
	defer rows.Close()
	var us []*latch.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fail(ctx, "list users", err)
		}
		us = append(us, u)
	}
	return us, fail(ctx, "list users", rows.Err())
}

// UpdateEmail implements latch.UserStore.
func (db *DB) UpdateEmail(ctx context.Context, u *latch.User) error {
	res, err := db.exec(ctx, nil, `UPDATE users SET email = ?, email_verified = ?, updated_at = ? WHERE id = ?`,
		u.Email, u.EmailVerified, nanos(u.UpdatedAt), u.ID)
	if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE, "users.email") {
		return latch.ErrEmailTaken
	}
	return affected(ctx, "update email", res, err)
}

// affected maps the result of a write to one row: ErrNotFound when it
// touched none.
func affected(ctx context.Context, op string, res sql.Result, err error) error {
	if err != nil {
		return fail(ctx, op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fail(ctx, op, err)
	}
	if n == 0 {
		return latch.ErrNotFound
	}
	return nil
}
