package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/email"
)

// admin is what an admin command acts through: the database, Redis when
// set (so that revocations reach running instances at once), the keys, and
// the Service built as `latch serve` builds it.
type admin struct {
	cfg   *Config
	st    *stores
	keys  *keyMaterial
	svc   *latch.Service
	close func()
}

// openAdmin opens the configured database (and Redis) and builds the
// Service with newService, the one place it is built.
func openAdmin(ctx context.Context, cfg *Config, stderr io.Writer) (*admin, error) {
	if err := cfg.validate(); err != nil {
		return nil, usageError{err}
	}
	logger := slog.New(slog.DiscardHandler)
	audit, closeAudit, err := openAudit(cfg, stderr)
	if err != nil {
		return nil, usageError{err}
	}
	st, err := openStores(ctx, cfg.DB)
	if err != nil {
		_ = closeAudit()
		return nil, err
	}
	sh, err := openShared(ctx, cfg, st, logger)
	if err != nil {
		_ = st.close()
		return nil, err
	}
	km, err := loadKeys(ctx, cfg, st.keys)
	if err == nil {
		var svc *latch.Service
		if svc, err = newService(ctx, cfg, st, sh, km, cfg.issuer(cfg.Addr), logger, nil, audit); err == nil {
			return &admin{cfg: cfg, st: st, keys: km, svc: svc,
				close: func() { _ = svc.Close(); sh.close(); _ = st.close(); _ = closeAudit() }}, nil
		}
	}
	sh.close()
	_ = st.close()
	_ = closeAudit()
	return nil, err
}

// adminCmd is a command that opens the database: it takes the
// configuration flags, and body runs with the opened admin.
func adminCmd(a *app, c *cobra.Command, body func(ctx context.Context, ad *admin, args []string) error) *cobra.Command {
	var cfg Config
	cfg.define(c.Flags())
	if c.Args == nil {
		c.Args = args()
	}
	c.RunE = runE(func(cmd *cobra.Command, args []string) error {
		// Events of admin commands carry the actor "cli" in the audit trail.
		ctx := latch.WithRequestInfo(cmd.Context(), latch.RequestInfo{Actor: "cli"})
		ad, err := openAdmin(ctx, &cfg, a.stderr)
		if err != nil {
			return err
		}
		defer ad.close()
		return body(ctx, ad, args)
	})
	return c
}

// oneUserCmd is an admin command about one account: it adds --json and
// --user, and body runs with the account --user names.
func oneUserCmd(a *app, c *cobra.Command, body func(ctx context.Context, ad *admin, u *latch.User, asJSON bool) error) *cobra.Command {
	asJSON := jsonFlag(c)
	ref := userFlag(c)
	return adminCmd(a, c, func(ctx context.Context, ad *admin, _ []string) error {
		u, err := ad.findUser(ctx, *ref)
		if err != nil {
			return err
		}
		return body(ctx, ad, u, *asJSON)
	})
}

// findUser resolves --user: an email address (normalised as signup does)
// when it holds an @, else a user ID.
func (ad *admin) findUser(ctx context.Context, ref string) (*latch.User, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, usageError{errors.New("--user: want a user ID or an email address")}
	}
	var u *latch.User
	var err error
	if strings.Contains(ref, "@") {
		addr, nerr := email.Normalize(ref)
		if nerr != nil {
			return nil, usageError{fmt.Errorf("--user %q: %v", ref, nerr)}
		}
		u, err = ad.st.users.UserByEmail(ctx, addr)
	} else {
		u, err = ad.st.users.UserByID(ctx, ref)
	}
	if errors.Is(err, latch.ErrNotFound) {
		return nil, fmt.Errorf("no user %q", ref)
	}
	return u, err
}

// userFlag adds the required --user flag.
func userFlag(c *cobra.Command) *string {
	var ref string
	c.Flags().StringVar(&ref, "user", "", "the user: an ID or an email address")
	_ = c.MarkFlagRequired("user")
	return &ref
}
