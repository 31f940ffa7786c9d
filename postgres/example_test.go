package postgres_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/postgres"
)

func ExampleOpen() {
	ctx := context.Background()
	// Every instance opens the same database; the first to start migrates
	// it, the others wait for that and find it done.
	db, err := postgres.Open(ctx, "postgres://latch@db.internal:5432/latch?sslmode=verify-full",
		postgres.WithTimeout(time.Second), postgres.WithMaxConns(16))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	// In an outage every call fails within the timeout, as unavailable.
	if _, err := db.UserByEmail(ctx, "ada@example.com"); errors.Is(err, latch.ErrUnavailable) {
		log.Print("database unavailable: answer 503")
	}
}
