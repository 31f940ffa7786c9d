package redis_test

import (
	"context"
	"log"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/memory"
	"github.com/latch-dev/latch/redis"
)

// Example wires Redis in front of the database's stores, as latch serve
// does with --redis. Memory stores stand in for PostgreSQL here.
func Example() {
	ctx := context.Background()
	c, err := redis.Open(ctx, "redis://127.0.0.1:6379/0") // or redis+sentinel://…, redis+cluster://…
	if err != nil {
		log.Fatal(err) // a malformed URL; an unreachable Redis is not an error
	}
	defer c.Close()

	sessions := c.Sessions(&memory.SessionStore{})
	sessions.Start(ctx) // writes idle deadlines back every second
	defer sessions.Close()

	// The Deps a Service takes from Redis; the rest (users, hasher, keys)
	// come from the database and the jose and password packages.
	deps := latch.Deps{
		Users:       &memory.UserStore{},
		Sessions:    sessions,
		Revocations: c.Revocations(&memory.RevocationStore{}),
		Bus:         c.Bus(),
		BusHealthy:  c.Healthy,
		Throttle:    c.LoginThrottle(5, 15*time.Minute, memory.NewLoginThrottle(5, 15*time.Minute)),
	}
	// Several instances: SingleWriter stays false, so the durable log is
	// polled too. It is how revocations spread while the bus is down, and
	// it closes the gap between a resubscribe and the catch-up before it.
	cfg := latch.Config{Issuer: "https://auth.example.com"}
	limiter := c.RateLimiter(10, memory.NewRateLimiter(10)) // per client IP, for the HTTP layer
	_, _, _ = deps, cfg, limiter

	// /readyz: "ok" while c.Healthy(), "degraded" otherwise.
	_ = c.Healthy()
}
