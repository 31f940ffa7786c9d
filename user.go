package latch

import (
	"context"
	"time"
)

// DefaultRole is the role of a new account.
const DefaultRole = "user"

// User is an account. Email is stored normalised (see the email package);
// PasswordHash is a PHC string, so its parameters can be raised later.
type User struct {
	ID           string
	Email        string
	PasswordHash string
	Role         string
	Disabled     bool
	// EmailVerified says that the account has proved it receives mail at
	// Email (a verification or reset link was used).
	EmailVerified bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// UserStore persists accounts.
type UserStore interface {
	// CreateUser inserts u (ID set by the caller). It returns ErrEmailTaken
	// when the normalised email already has an account.
	CreateUser(ctx context.Context, u *User) error
	// UserByID returns ErrNotFound for an unknown ID.
	UserByID(ctx context.Context, id string) (*User, error)
	// UserByEmail looks up a normalised email; ErrNotFound when unknown.
	UserByEmail(ctx context.Context, email string) (*User, error)
	// UpdateUser writes PasswordHash, Role, Disabled and UpdatedAt of an
	// existing user; ErrNotFound when unknown.
	UpdateUser(ctx context.Context, u *User) error
	// DeleteUser removes the account; ErrNotFound when unknown. It removes
	// the account only: its sessions and tokens are revoked by the caller
	// first (Service.DeleteUser).
	DeleteUser(ctx context.Context, id string) error
	// ListUsers returns the accounts whose email sorts after after (bytewise;
	// "" for the first page), ordered by email, at most limit of them
	// (limit <= 0: all). For the admin command line.
	ListUsers(ctx context.Context, after string, limit int) ([]*User, error)
	// UpdateEmail writes Email, EmailVerified and UpdatedAt of an existing
	// user; ErrNotFound when unknown, ErrEmailTaken when another account
	// has Email (normalised: compared exactly).
	UpdateEmail(ctx context.Context, u *User) error
}
