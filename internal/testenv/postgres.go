package testenv

import (
	"context"
	"crypto/rand"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
)

// FreshDatabase creates a database of its own on the PostgreSQL server at
// adminURL, named prefix plus random letters, and returns its URL. When the
// test ends it deletes what latch kept in Redis for it (every key under the
// prefix named after the database's deployment ID; redisURL "" for none)
// and drops the database. Cleanup deadlines are generous: on a loaded
// machine a DROP DATABASE WITH (FORCE) can take seconds.
func FreshDatabase(t testing.TB, adminURL, prefix, redisURL string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		Unavailable(t, "PostgreSQL", "PostgreSQL at %s is unreachable: %v", adminURL, err)
	}
	defer conn.Close(context.Background())
	name := prefix + strings.ToLower(rand.Text()[:12])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("CREATE DATABASE %s: %v", name, err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	dbURL := u.String()
	t.Cleanup(func() {
		if redisURL != "" {
			deleteRedisKeys(t, dbURL, redisURL)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			t.Errorf("dropping database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("DROP DATABASE %s: %v", name, err)
		}
	})
	return dbURL
}

// deleteRedisKeys removes what latch kept in Redis for the database at
// dbURL: every key under the prefix named after its deployment ID.
func deleteRedisKeys(t testing.TB, dbURL, redisURL string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Logf("reading the deployment ID for the Redis cleanup: %v", err)
		return
	}
	defer conn.Close(context.Background())
	var id string
	if err := conn.QueryRow(ctx, "SELECT id FROM deployment").Scan(&id); err != nil {
		return // latch never migrated it: nothing in Redis either
	}
	opt, err := goredis.ParseURL(redisURL)
	if err != nil {
		t.Errorf("Redis URL %s: %v", redisURL, err)
		return
	}
	rdb := goredis.NewClient(opt)
	defer rdb.Close()
	iter := rdb.Scan(ctx, 0, "{latch-"+id[:min(12, len(id))]+":*", 1000).Iterator()
	for iter.Next(ctx) {
		if err := rdb.Unlink(ctx, iter.Val()).Err(); err != nil {
			t.Errorf("Redis cleanup: %v", err)
			return
		}
	}
	if err := iter.Err(); err != nil {
		t.Errorf("Redis cleanup: %v", err)
	}
}
