package postgres_test

import (
	"crypto/rand"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

// purgeAfter reads a session's purge_after behind the store's back.
func purgeAfter(t *testing.T, schema, id string) time.Time {
	t.Helper()
	var at time.Time
	if err := rawConn(t, schema).QueryRow(t.Context(), `SELECT purge_after FROM sessions WHERE id = $1`, id).Scan(&at); err != nil {
		t.Fatalf("purge_after of %s: %v", id, err)
	}
	return at.UTC()
}

// A slide writes no indexed column, so PostgreSQL can write it as a HOT
// update (no index entry) on the page it is on.
func TestDB_slideChangesNoIndexedColumn(t *testing.T) {
	schema := newSchema(t)
	db := openIn(t, schema)
	var indexed []string
	rows, err := rawConn(t, schema).Query(t.Context(), `SELECT DISTINCT a.attname FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = 'sessions'::regclass ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		indexed = append(indexed, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"idle_expires_at", "last_seen_at"} {
		if slices.Contains(indexed, c) {
			t.Errorf("sessions has an index on %s (indexed: %v): every slide would write an entry in each index", c, indexed)
		}
	}
	if !slices.Contains(indexed, "purge_after") {
		t.Errorf("no index on purge_after (indexed: %v): the purge would read the whole table", indexed)
	}

	s := newFamily("slid", []byte(rand.Text()))
	s.Kind = latch.KindSession
	if err := db.CreateSession(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	before := purgeAfter(t, schema, s.ID)
	if !before.Equal(s.IdleExpiresAt) {
		t.Errorf("purge_after of a new session = %v, want its idle deadline %v", before, s.IdleExpiresAt)
	}
	at := t0.Add(30 * time.Minute)
	if err := db.TouchSessions(t.Context(), []latch.SessionTouch{{ID: s.ID, LastSeenAt: at, IdleExpiresAt: at.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UseSession(t.Context(), s.TokenHash, at.Add(time.Minute), time.Hour); err != nil {
		t.Fatal(err)
	}
	got, err := db.SessionByID(t.Context(), s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := at.Add(time.Minute + time.Hour); !got.IdleExpiresAt.Equal(want) {
		t.Fatalf("idle deadline after the slides = %v, want %v", got.IdleExpiresAt, want)
	}
	if after := purgeAfter(t, schema, s.ID); !after.Equal(before) {
		t.Errorf("purge_after moved with a slide: %v → %v", before, after)
	}
}

// The purge takes a row whose purge_after has come: it deletes it when it is
// dead and moves purge_after to its deadline when a slide kept it alive.
func TestDB_DeleteExpiredSessions_slid(t *testing.T) {
	schema := newSchema(t)
	db := openIn(t, schema)
	s := newFamily("s", []byte(rand.Text())) // idle deadline t0+1h
	s.Kind = latch.KindSession
	if err := db.CreateSession(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	slid := t0.Add(3 * time.Hour)
	if err := db.TouchSessions(t.Context(), []latch.SessionTouch{{ID: s.ID, LastSeenAt: t0.Add(2 * time.Hour), IdleExpiresAt: slid}}); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		at        time.Time
		deleted   int
		live      int
		purgeNext time.Time // zero: gone
	}{
		{at: t0.Add(2 * time.Hour), deleted: 0, live: 1, purgeNext: slid}, // due, alive: moved to the slid deadline
		{at: t0.Add(2*time.Hour + time.Minute), deleted: 0, live: 1, purgeNext: slid},
		{at: slid, deleted: 1, live: 0},
	} {
		if n, err := db.CountLiveSessions(t.Context(), step.at); err != nil || n != step.live {
			t.Errorf("at %v: CountLiveSessions = %d, %v; want %d", step.at, n, err, step.live)
		}
		if n, err := db.DeleteExpiredSessions(t.Context(), step.at); err != nil || n != step.deleted {
			t.Errorf("at %v: DeleteExpiredSessions = %d, %v; want %d", step.at, n, err, step.deleted)
		}
		if step.purgeNext.IsZero() {
			if _, err := db.SessionByID(t.Context(), s.ID); err != latch.ErrNotFound {
				t.Errorf("at %v: the session is still there (%v)", step.at, err)
			}
			continue
		}
		if got := purgeAfter(t, schema, s.ID); !got.Equal(step.purgeNext) {
			t.Errorf("at %v: purge_after = %v, want %v", step.at, got, step.purgeNext)
		}
	}
}

// A rotation under a shorter refresh TTL than the family had moves the idle
// deadline earlier; purge_after follows it, so the purge still finds it.
func TestDB_RotateRefresh_shorterTTLLowersPurgeAfter(t *testing.T) {
	schema := newSchema(t)
	db := openIn(t, schema)
	fam := newFamily("f", []byte(rand.Text()))
	fam.IdleExpiresAt = t0.Add(10 * time.Hour)
	if err := db.CreateSession(t.Context(), fam); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Minute)
	if _, err := db.RotateRefresh(t.Context(), latch.RefreshRotation{Presented: fam.TokenHash, Next: []byte(rand.Text()), Now: at, RefreshTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if got, want := purgeAfter(t, schema, fam.ID), at.Add(time.Hour); !got.Equal(want) {
		t.Errorf("purge_after after the rotation = %v, want the new idle deadline %v", got, want)
	}
	if n, err := db.DeleteExpiredSessions(t.Context(), at.Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("DeleteExpiredSessions at the new deadline = %d, %v; want 1", n, err)
	}
}

// A database of schema version 4 has sessions and no purge_after: after the
// upgrade every row is due at once, the count is right before the first
// purge, and the purge deletes the dead and arms the rest.
func TestOpen_upgradeSessionsToPurgeAfter(t *testing.T) {
	schema := newSchema(t)
	db := openIn(t, schema)
	now := t0.Add(2 * time.Hour)
	type row struct {
		idle, abs time.Duration
		live      bool
	}
	rowsIn := []row{
		{3 * time.Hour, 24 * time.Hour, true},
		{2*time.Hour + time.Microsecond, 24 * time.Hour, true},
		{2 * time.Hour, 24 * time.Hour, false},
		{time.Hour, 24 * time.Hour, false},
		{3 * time.Hour, 2 * time.Hour, false},
		{30 * time.Hour, 25 * time.Hour, true},
	}
	for i, r := range rowsIn {
		s := newFamily(fmt.Sprintf("s%d", i), []byte(rand.Text()))
		s.IdleExpiresAt, s.ExpiresAt = t0.Add(r.idle), t0.Add(r.abs)
		if err := db.CreateSession(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	_ = db.Close()
	// Back to version 4's shape, with the rows kept.
	if _, err := rawConn(t, schema).Exec(t.Context(), `
		ALTER TABLE sessions DROP COLUMN purge_after;
		ALTER TABLE sessions RESET (fillfactor);
		CREATE INDEX sessions_idle_expires ON sessions (idle_expires_at);
		CREATE INDEX sessions_expires ON sessions (expires_at);
		DELETE FROM schema_version WHERE version = 5`); err != nil {
		t.Fatal(err)
	}
	db = openIn(t, schema)
	var due int
	if err := rawConn(t, schema).QueryRow(t.Context(), `SELECT count(*) FROM sessions WHERE purge_after = '-infinity'`).Scan(&due); err != nil || due != len(rowsIn) {
		t.Errorf("rows due after the upgrade = %d, %v; want all %d", due, err, len(rowsIn))
	}
	if n, err := db.CountLiveSessions(t.Context(), now); err != nil || n != 3 {
		t.Errorf("CountLiveSessions after the upgrade = %d, %v; want 3", n, err)
	}
	if n, err := db.DeleteExpiredSessions(t.Context(), now); err != nil || n != 3 {
		t.Errorf("DeleteExpiredSessions after the upgrade = %d, %v; want 3", n, err)
	}
	for i, r := range rowsIn {
		if !r.live {
			continue
		}
		want := t0.Add(min(r.idle, r.abs))
		if got := purgeAfter(t, schema, fmt.Sprintf("s%d", i)); !got.Equal(want) {
			t.Errorf("row s%d after the purge: purge_after = %v, want %v", i, got, want)
		}
	}
	if n, err := db.CountLiveSessions(t.Context(), now); err != nil || n != 3 {
		t.Errorf("CountLiveSessions after the purge = %d, %v; want 3", n, err)
	}
	if n, err := db.DeleteExpiredSessions(t.Context(), now); err != nil || n != 0 {
		t.Errorf("DeleteExpiredSessions again = %d, %v; want 0", n, err)
	}
}
