package main

import (
	"context"
	"os"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latch-dev/latch/internal/proctest"
	"github.com/latch-dev/latch/internal/testenv"
)

// The shared test servers; LATCH_TEST_POSTGRES and LATCH_TEST_REDIS
// override them, as for the postgres, redis and scale tests.
func testServer(envVar, def string) string {
	if u := os.Getenv(envVar); u != "" {
		return u
	}
	return def
}

// freshPostgres creates a database of its own, dropped when the test ends
// (with what latch kept for it in Redis), and returns its URL.
func freshPostgres(t *testing.T, redisURL string) string {
	t.Helper()
	admin := testServer("LATCH_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	return testenv.FreshDatabase(t, admin, "latch_cmd_", redisURL)
}

func needRedis(t *testing.T) string {
	t.Helper()
	u := testServer("LATCH_TEST_REDIS", "redis://127.0.0.1:6379/0")
	opt, err := goredis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		testenv.Unavailable(t, "Redis", "Redis is unreachable (%v); start it or set LATCH_TEST_REDIS", err)
	}
	return u
}

// `latch sessions revoke`, run as a command on the database and Redis of
// two running instances, ends a session and a token held on the other
// instance within a second, as the admin API does.
func TestSessionsRevoke_TakesEffectOnAnotherInstance(t *testing.T) {
	redisURL := needRedis(t)
	db := freshPostgres(t, redisURL)
	t.Setenv("LATCH_TEST_RUN_MAIN", "1") // this test binary runs as latch (TestMain)
	serve := []string{"serve", "--addr", "127.0.0.1:0", "--db", db, "--redis", redisURL, "--insecure-cookies",
		"--login-ip-rate", "0", "--issuer", "http://latch.test", "--log-level", "warn"}
	a := proctest.MustStart(t, "latch A", os.Args[0], serve...)
	b := proctest.MustStart(t, "latch B", os.Args[0], serve...)
	onA, onB := client{t, "http://" + a.Addr}, client{t, "http://" + b.Addr}

	const addr = "multi@example.com"
	if code, doc, _ := onA.do("POST", "/v1/signup", "", "", map[string]string{"email": addr, "password": passphrase}); code != 201 {
		t.Fatalf("signup on A: %d %v", code, doc)
	}
	cookie, _ := onB.loginSession(addr)
	token := onB.loginToken(addr)
	if onB.whoami(cookie, "") != 200 || onB.whoami("", token) != 200 {
		t.Fatal("the new session or token is refused on B")
	}

	e := env{"LATCH_DB": db, "LATCH_REDIS": redisURL, "LATCH_ISSUER": "http://latch.test"}
	ok(t, e, "", nil, "sessions", "revoke", "--user", " Multi@Example.com ")
	start := time.Now()
	onB.refusedWithin("B, the session cookie", time.Second, cookie, "")
	onB.refusedWithin("B, the access token", time.Second-time.Since(start), "", token)
	onA.refusedWithin("A, the access token", time.Second, "", token)
	t.Logf("refused on B %v after the command returned", time.Since(start))

	var sessions []sessionJSON
	ok(t, e, "", &sessions, "sessions", "list", "--user", addr, "--json")
	if len(sessions) != 0 {
		t.Errorf("sessions list after revoke = %+v, want none", sessions)
	}
}
