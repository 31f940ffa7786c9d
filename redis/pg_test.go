package redis_test

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/postgres"
	"github.com/latch-dev/latch/storetest"
)

// pgURL is the PostgreSQL of the tests, as the postgres package's own
// tests take it.
func pgURL() string {
	if u := os.Getenv("LATCH_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

var pgReachable = sync.OnceValue(func() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgURL())
	if err != nil {
		return err
	}
	return conn.Close(ctx)
})

// openPG opens the postgres stores in a schema of their own, dropped when
// t ends.
func openPG(t testing.TB) *postgres.DB {
	t.Helper()
	if err := pgReachable(); err != nil {
		unavailable(t, "PostgreSQL at %s is not reachable: %v", pgURL(), err)
	}
	schema := "latch_redis_test_" + strings.ToLower(rand.Text())
	db, err := postgres.Open(t.Context(), pgURL(), postgres.WithSchema(schema))
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() {
		_ = db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, pgURL())
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer func() { _ = conn.Close(ctx) }()
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return db
}

// TestStoresOnPostgres runs the conformance suite over the decorators with
// PostgreSQL as the source of truth: the production pairing.
func TestStoresOnPostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Stores {
		db := openPG(t)
		c := mustOpen(t, testURL())
		st := storetest.Stores{Sessions: c.Sessions(db), Revocations: c.Revocations(db)}
		waitHealthy(t, c)
		return st
	})
}

// TestPostgres_Outage: Redis dies under a PostgreSQL-backed store; sessions
// and revocations keep working from PostgreSQL, and the idle deadlines slid
// in Redis reach PostgreSQL.
func TestPostgres_Outage(t *testing.T) {
	db := openPG(t)
	srv := startServer(t)
	c := mustOpen(t, srv.url())
	sessions, revs := c.Sessions(db), c.Revocations(db)
	sessions.Start(t.Context())
	defer sessions.Close()
	waitHealthy(t, c)
	ctx := t.Context()
	t0 := base().Truncate(time.Microsecond)

	s := newSession(t0)
	if err := sessions.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	slid, err := sessions.UseSession(ctx, s.TokenHash, t0.Add(time.Minute), idle)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the slid deadline in PostgreSQL", 3*time.Second, func() bool {
		got, err := db.SessionByID(ctx, s.ID)
		return err == nil && got.IdleExpiresAt.Equal(slid.IdleExpiresAt)
	})

	srv.stop()
	waitFor(t, "the outage", 2*time.Second, func() bool { return !c.Healthy() })
	got, err := sessions.UseSession(ctx, s.TokenHash, t0.Add(2*time.Minute), idle)
	if err != nil || !got.IdleExpiresAt.Equal(t0.Add(2*time.Minute+idle)) {
		t.Fatalf("UseSession from PostgreSQL = %+v, %v", got, err)
	}
	r := &latch.Revocation{Kind: latch.RevokeSID, Value: s.ID, Expires: t0.Add(time.Hour), CreatedAt: t0}
	if err := revs.AddRevocations(ctx, []*latch.Revocation{r}); err != nil {
		t.Fatalf("AddRevocations with Redis down: %v", err)
	}
	if got, err := revs.RevocationsSince(ctx, 0, t0, 0); err != nil || len(got) != 1 || got[0].Seq != r.Seq {
		t.Fatalf("RevocationsSince with Redis down = %v, %v", got, err)
	}
	if err := sessions.DeleteSession(ctx, s.ID); err != nil {
		t.Fatalf("DeleteSession with Redis down: %v", err)
	}

	srv.start()
	waitHealthy(t, c)
	if _, err := sessions.UseSession(ctx, s.TokenHash, t0.Add(3*time.Minute), idle); err == nil {
		t.Errorf("a session deleted during the outage is found after it")
	}
	if got, err := revs.RevocationsSince(ctx, 0, t0, 0); err != nil || len(got) != 1 {
		t.Errorf("RevocationsSince after the recovery = %v, %v", got, err)
	}
}
