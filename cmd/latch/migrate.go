package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latch-dev/latch/postgres"
	"github.com/latch-dev/latch/sqlite"
)

func migrateCmd(a *app) *cobra.Command {
	var cfg Config
	var check bool
	c := &cobra.Command{
		Use:   "migrate [--check]",
		Short: "apply the database's pending schema migrations, or list them (--check)",
		Long: `Bring the database's schema up to date, as "latch serve" does when it
starts, and list what was applied; with --check, list the pending migrations
without applying anything (nor creating the database). Migrations run in one
transaction: a failure leaves the database as it was. A database migrated by
a newer latch is refused.`,
		Example: `  latch migrate --check --db 'postgres://latch@db/latch'
  latch migrate --db sqlite:/var/lib/latch/latch.db --json`,
		Args: args(),
	}
	asJSON := jsonFlag(c)
	c.Flags().BoolVar(&check, "check", false, "list the pending migrations without applying them")
	cfg.define(c.Flags())
	c.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		if err := validateDB(cfg.DB); err != nil {
			return usageError{err}
		}
		ctx := cmd.Context()
		pending, err := pendingMigrations(ctx, cfg.DB)
		if err != nil {
			return err
		}
		if !check && len(pending) > 0 {
			st, err := openStores(ctx, cfg.DB) // Open migrates
			if err != nil {
				return err
			}
			_ = st.close()
		}
		out := map[string]any{"database": dbKind(cfg.DB), "pending": pending, "applied": []string{}}
		if !check {
			out["pending"], out["applied"] = []string{}, pending
		}
		return emit(a.stdout, *asJSON, out, func(w io.Writer) error {
			var err error
			switch {
			case len(pending) == 0:
				_, err = fmt.Fprintf(w, "the %s database is up to date\n", dbKind(cfg.DB))
			case check:
				_, err = fmt.Fprintf(w, "%d pending: %s\n", len(pending), strings.Join(pending, ", "))
			default:
				_, err = fmt.Fprintf(w, "applied %d: %s\n", len(pending), strings.Join(pending, ", "))
			}
			return err
		})
	})
	return c
}

// pendingMigrations lists what opening db would apply; memory: has none.
func pendingMigrations(ctx context.Context, db string) ([]string, error) {
	var (
		p   []string
		err error
	)
	switch {
	case strings.HasPrefix(db, "sqlite:"):
		p, err = sqlite.Pending(ctx, strings.TrimPrefix(db, "sqlite:"))
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		p, err = postgres.Pending(ctx, db)
	}
	if p == nil {
		p = []string{}
	}
	return p, err
}
