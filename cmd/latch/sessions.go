package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/latch-dev/latch"
)

// sessionJSON is a session or refresh family as the commands print it:
// never a hash of a secret.
type sessionJSON struct {
	ID            string            `json:"id"`
	Kind          latch.SessionKind `json:"kind"`
	CreatedAt     time.Time         `json:"created_at"`
	LastSeenAt    time.Time         `json:"last_seen_at"`
	IdleExpiresAt time.Time         `json:"idle_expires_at"`
	ExpiresAt     time.Time         `json:"expires_at"`
	IP            string            `json:"ip,omitempty"`
	UserAgent     string            `json:"user_agent,omitempty"`
}

func sessionsCmd(a *app) *cobra.Command {
	return group("sessions", "see or end a user's sessions and refresh families",
		`  latch sessions list --user ada@example.com
  latch sessions revoke --user ada@example.com`,
		sessionsListCmd(a), sessionsRevokeCmd(a))
}

func sessionsListCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "list --user USER",
		Short: "list a user's live sessions (cookie) and refresh families (token), oldest first",
		Example: `  latch sessions list --user ada@example.com
  latch sessions list --user 01J9Z... --json`,
	}
	return oneUserCmd(a, c, func(ctx context.Context, ad *admin, u *latch.User, asJSON bool) error {
		ss, err := ad.svc.AdminSessions(ctx, u.ID)
		if err != nil {
			return err
		}
		out := make([]sessionJSON, len(ss))
		for i, s := range ss {
			out[i] = sessionJSON{ID: s.ID, Kind: s.Kind, CreatedAt: s.CreatedAt.UTC(), LastSeenAt: s.LastSeenAt.UTC(),
				IdleExpiresAt: s.IdleExpiresAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(), IP: s.IP, UserAgent: s.UserAgent}
		}
		return emit(a.stdout, asJSON, out, func(w io.Writer) error {
			rows := [][]string{{"ID", "KIND", "CREATED", "LAST SEEN", "DIES", "IP", "USER AGENT"}}
			for _, s := range ss {
				rows = append(rows, []string{s.ID, string(s.Kind), s.CreatedAt.UTC().Format(time.RFC3339),
					s.LastSeenAt.UTC().Format(time.RFC3339), s.Deadline().UTC().Format(time.RFC3339), s.IP, truncate(s.UserAgent, 40)})
			}
			if err := table(w, rows); err != nil {
				return err
			}
			_, err := fmt.Fprintf(w, "%d live for %s <%s>\n", len(ss), u.ID, u.Email)
			return err
		})
	})
}

func sessionsRevokeCmd(a *app) *cobra.Command {
	var id string
	c := &cobra.Command{
		Use:   "revoke --user USER [--id SESSION]",
		Short: "force logout: revoke one session (--id) or everything the user holds",
		Long: `Force a logout. With --id, one session or refresh family and every access
token bound to it; without, every session, refresh family and access token of
the user (logout-all). The revocation is written to the database's durable
log and, with --redis, published on the bus, exactly as the admin API does:
every instance and every verifier refuses the credentials within a second.`,
		Example: `  latch sessions revoke --user ada@example.com
  latch sessions revoke --user ada@example.com --id 3QX7...`,
	}
	c.Flags().StringVar(&id, "id", "", "revoke only this session or refresh family (from sessions list)")
	return oneUserCmd(a, c, func(ctx context.Context, ad *admin, u *latch.User, asJSON bool) error {
		what := "every session and token"
		var err error
		if id != "" {
			what = "session " + id
			err = ad.svc.DeleteSession(ctx, u.ID, id)
			if errors.Is(err, latch.ErrNotFound) {
				return fmt.Errorf("user %s has no session %q", u.Email, id)
			}
		} else {
			err = ad.svc.AdminRevoke(ctx, u.ID)
		}
		if err != nil {
			return err
		}
		out := map[string]any{"user": u.ID, "email": u.Email, "all": id == "", "session": id}
		return emit(a.stdout, asJSON, out, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "revoked %s of %s <%s>\n", what, u.ID, u.Email)
			return err
		})
	})
}

// truncate shortens s to n runes with an ellipsis.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
