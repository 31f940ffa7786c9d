package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/latch-dev/latch"
)

const userColumns = `id, email, password_hash, role, disabled, created_at, updated_at, email_verified`

func scanUser(row pgx.Row) (*latch.User, error) {
	var u latch.User
	err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Role, &u.Disabled, timeDest{&u.CreatedAt}, timeDest{&u.UpdatedAt}, &u.EmailVerified)
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// CreateUser implements latch.UserStore.
func (db *DB) CreateUser(ctx context.Context, u *latch.User) error {
	_, err := db.exec(ctx, "create user", `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		u.ID, u.Email, u.PasswordHash, u.Role, u.Disabled, u.CreatedAt, u.UpdatedAt, u.EmailVerified)
	if isUnique(err, "users_email_key") {
		return latch.ErrEmailTaken
	}
	return err
}

// UserByID implements latch.UserStore.
func (db *DB) UserByID(ctx context.Context, id string) (*latch.User, error) {
	return get(ctx, db, "user by id", scanUser, `SELECT `+userColumns+` FROM users WHERE id = $1`, id)
}

// UserByEmail implements latch.UserStore.
func (db *DB) UserByEmail(ctx context.Context, email string) (*latch.User, error) {
	return get(ctx, db, "user by email", scanUser, `SELECT `+userColumns+` FROM users WHERE email = $1`, email)
}

// UpdateUser implements latch.UserStore.
func (db *DB) UpdateUser(ctx context.Context, u *latch.User) error {
	return db.one(ctx, "update user", `UPDATE users SET password_hash = $1, role = $2, disabled = $3, updated_at = $4 WHERE id = $5`,
		u.PasswordHash, u.Role, u.Disabled, u.UpdatedAt, u.ID)
}

// DeleteUser implements latch.UserStore.
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	return db.one(ctx, "delete user", `DELETE FROM users WHERE id = $1`, id)
}

// ListUsers implements latch.UserStore. Emails compare bytewise (COLLATE
// "C"), whatever the database's collation, as the other stores compare them.
func (db *DB) ListUsers(ctx context.Context, after string, limit int) ([]*latch.User, error) {
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	return list(ctx, db, "list users", scanUser,
		`SELECT `+userColumns+` FROM users WHERE email COLLATE "C" > $1 ORDER BY email COLLATE "C" LIMIT $2`, after, lim)
}

// UpdateEmail implements latch.UserStore.
func (db *DB) UpdateEmail(ctx context.Context, u *latch.User) error {
	err := db.one(ctx, "update email", `UPDATE users SET email = $1, email_verified = $2, updated_at = $3 WHERE id = $4`,
		u.Email, u.EmailVerified, u.UpdatedAt, u.ID)
	if isUnique(err, "users_email_key") {
		return latch.ErrEmailTaken
	}
	return err
}
