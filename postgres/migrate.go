package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/latch-dev/latch/internal/migrations"
)

// Advisory lock keys (pg_advisory_xact_lock takes a bigint): "latch" in
// ASCII and a purpose. They are database-wide, so schemas of one database
// share them; what they serialise is rare enough for that not to matter.
const (
	// migrateLock serialises the migrations of instances starting together.
	migrateLock int64 = 0x6c61746368_0001
	// revocationLock serialises AddRevocations (see there why).
	revocationLock int64 = 0x6c61746368_0002
	// keysLock serialises InitKey and RotateKey.
	keysLock int64 = 0x6c61746368_0003
)

// migrationFiles are the schema migrations, NNNN_name.sql, numbered from 1
// without gaps. A released file never changes: a change of schema is a new
// file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// loadMigrations returns the embedded migrations in order.
func loadMigrations() ([]migrations.Migration, error) {
	ms, err := migrations.Load(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return ms, nil
}

// migrate brings the schema up to date in one transaction, which first
// takes an advisory lock: instances starting together wait for each other
// and find the work done, instead of racing on CREATE TABLE, and a failed
// migration leaves the database as it was (PostgreSQL's DDL is
// transactional). Each applied version is recorded in schema_version.
//
// A database already up to date is only read, without the lock: restarts
// do not queue behind each other, and latch can start on a database that
// accepts only reads for now (Ping then reports it unavailable).
func (db *DB) migrate(ctx context.Context, schema string) error {
	const op = "migrate"
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	latest := len(ms)
	current, err := db.schemaVersion(ctx)
	switch {
	case err != nil:
		return err
	case current > latest:
		return newerSchema(current, latest)
	case current == latest:
		return nil
	}

	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return db.fail(ctx, op, err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // no-op after Commit
	// Waiting for another instance's migration, and migrating, may take
	// longer than any operation may.
	if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
		return db.fail(ctx, op, err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
		return db.fail(ctx, op, err)
	}
	if schema != "" {
		// CREATE SCHEMA IF NOT EXISTS would need the CREATE privilege on the
		// database even when the schema exists; a role given only its schema
		// must be able to start latch.
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
			return db.fail(ctx, op, err)
		}
		if !exists {
			if _, err := tx.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
				return db.fail(ctx, "create schema", err)
			}
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    integer     PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return db.fail(ctx, op, err)
	}
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&current); err != nil {
		return db.fail(ctx, op, err)
	}
	if current > latest {
		return newerSchema(current, latest)
	}
	for _, m := range ms[current:] {
		// Without arguments pgx sends the file as a simple query, which may
		// hold several statements.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return db.fail(ctx, "migration "+m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, m.Version); err != nil {
			return db.fail(ctx, op, err)
		}
	}
	return db.fail(ctx, op, tx.Commit(ctx))
}

// newerSchema is the error of Open on a database migrated by a newer latch:
// this one does not know what the newer schema means, so it must not use it.
func newerSchema(current, latest int) error {
	return fmt.Errorf("postgres: database schema version %d is newer than this latch supports (%d); upgrade latch", current, latest)
}

// Pending returns the names of the migrations that Open would apply to the
// database at url (with the same options), in order, without applying
// them: every migration for an empty database or a schema that does not
// exist yet, none for an up-to-date one. It fails, as Open does, when the
// database is unreachable or its schema is newer than this package knows.
// For `latch migrate --check`.
func Pending(ctx context.Context, url string, opts ...Option) ([]string, error) {
	ms, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	db, _, err := connect(ctx, url, opts...)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	current, err := db.schemaVersion(ctx)
	if err != nil {
		return nil, err
	}
	if current > len(ms) {
		return nil, newerSchema(current, len(ms))
	}
	var names []string
	for _, m := range ms[current:] {
		names = append(names, m.Name)
	}
	return names, nil
}

// schemaVersion is the latest migration applied; 0 for a database (or
// schema) without latch's tables.
func (db *DB) schemaVersion(ctx context.Context) (int, error) {
	var current int
	octx, cancel := db.op(ctx)
	defer cancel()
	err := db.pool.QueryRow(octx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&current)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table: a new database
		return 0, nil
	}
	return current, db.fail(ctx, "schema version", err)
}
