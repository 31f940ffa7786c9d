package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/latch-dev/latch"
)

// userJSON is an account as the user commands print it: never its hash.
type userJSON struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func toUserJSON(u *latch.User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, Role: u.Role, Disabled: u.Disabled, CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC()}
}

func state(u *latch.User) string {
	if u.Disabled {
		return "disabled"
	}
	return "active"
}

func userCmd(a *app) *cobra.Command {
	return group("user", "manage accounts: add, list, show, set-role, disable, enable, delete",
		`  echo 'a long passphrase' | latch user add --email ada@example.com
  latch user list
  latch user disable --user ada@example.com`,
		userAddCmd(a), userListCmd(a), userShowCmd(a), userSetRoleCmd(a),
		userDisableCmd(a, true), userDisableCmd(a, false), userDeleteCmd(a), userResetMFACmd(a))
}

// userAddCmd creates an account. The password is read from stdin (first
// line), never from a flag, so it stays out of shell history and process
// listings.
func userAddCmd(a *app) *cobra.Command {
	var addr, role string
	c := &cobra.Command{
		Use:   "add --email EMAIL [--role ROLE]",
		Short: "add an account; the password is read from the first line of stdin",
		Long: `Add an account. The password is the first line of stdin (never a flag, so
it stays out of shell history and process listings) and must pass the same
policy as signup.`,
		Example: `  echo 'a long passphrase' | latch user add --email admin@example.com --role admin
  latch user add --email ada@example.com --json < password.txt`,
	}
	asJSON := jsonFlag(c)
	c.Flags().StringVar(&addr, "email", "", "the account's email address")
	c.Flags().StringVar(&role, "role", latch.DefaultRole, "the account's role")
	_ = c.MarkFlagRequired("email")
	return adminCmd(a, c, func(ctx context.Context, ad *admin, _ []string) error {
		line, err := bufio.NewReader(io.LimitReader(a.stdin, latch.MaxPasswordBytes+2)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading the password from stdin: %w", err)
		}
		u, err := ad.svc.Signup(ctx, addr, strings.TrimRight(line, "\r\n"))
		if err != nil {
			return err
		}
		if role != latch.DefaultRole {
			if err := ad.svc.SetRole(ctx, u.ID, role); err != nil {
				return err
			}
			u.Role = role
		}
		return emit(a.stdout, *asJSON, toUserJSON(u), func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "created user %s <%s> role %s\n", u.ID, u.Email, u.Role)
			return err
		})
	})
}

func userListCmd(a *app) *cobra.Command {
	var after string
	var limit int
	c := &cobra.Command{
		Use:   "list [--after EMAIL] [--limit N]",
		Short: "list accounts by email address",
		Example: `  latch user list
  latch user list --limit 50 --after ada@example.com --json`,
	}
	asJSON := jsonFlag(c)
	c.Flags().StringVar(&after, "after", "", "list the accounts whose email address sorts after this one (the next page)")
	c.Flags().IntVar(&limit, "limit", 100, "at most this many accounts; 0 = all")
	return adminCmd(a, c, func(ctx context.Context, ad *admin, _ []string) error {
		if limit < 0 {
			return usageError{fmt.Errorf("--limit %d: must not be negative", limit)}
		}
		us, err := ad.st.users.ListUsers(ctx, after, limit)
		if err != nil {
			return err
		}
		out := make([]userJSON, len(us))
		for i, u := range us {
			out[i] = toUserJSON(u)
		}
		return emit(a.stdout, *asJSON, out, func(w io.Writer) error {
			rows := [][]string{{"ID", "EMAIL", "ROLE", "STATE", "CREATED"}}
			for _, u := range us {
				rows = append(rows, []string{u.ID, u.Email, u.Role, state(u), u.CreatedAt.UTC().Format(time.RFC3339)})
			}
			if err := table(w, rows); err != nil {
				return err
			}
			if limit > 0 && len(us) == limit {
				_, err = fmt.Fprintf(w, "(more: --after %s)\n", us[len(us)-1].Email)
			}
			return err
		})
	})
}

func userShowCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:     "show --user USER",
		Short:   "show an account and how many live sessions it has",
		Example: "  latch user show --user ada@example.com\n  latch user show --user 01J9Z... --json",
	}
	return oneUserCmd(a, c, func(ctx context.Context, ad *admin, u *latch.User, asJSON bool) error {
		sessions, err := ad.svc.AdminSessions(ctx, u.ID)
		if err != nil {
			return err
		}
		out := struct {
			userJSON
			LiveSessions int `json:"live_sessions"`
		}{toUserJSON(u), len(sessions)}
		return emit(a.stdout, asJSON, out, func(w io.Writer) error {
			return table(w, [][]string{
				{"id", u.ID}, {"email", u.Email}, {"role", u.Role}, {"state", state(u)},
				{"created", u.CreatedAt.UTC().Format(time.RFC3339)}, {"updated", u.UpdatedAt.UTC().Format(time.RFC3339)},
				{"live sessions", strconv.Itoa(len(sessions))},
			})
		})
	})
}

func userSetRoleCmd(a *app) *cobra.Command {
	var role string
	c := &cobra.Command{
		Use:   "set-role --user USER --role ROLE",
		Short: "change an account's role (it shows in the next access token)",
		Long: `Change an account's role. Access tokens already issued keep the old role
until they expire (--access-ttl); new ones carry the new role. Instances on
PostgreSQL reload accounts within a second; a server on SQLite keeps the
accounts it has read until it restarts.`,
		Example: "  latch user set-role --user ada@example.com --role admin",
	}
	c.Flags().StringVar(&role, "role", "", "the new role: [a-z][a-z0-9_-]{0,31}")
	_ = c.MarkFlagRequired("role")
	return oneUserCmd(a, c, func(ctx context.Context, ad *admin, u *latch.User, asJSON bool) error {
		if err := ad.svc.SetRole(ctx, u.ID, role); err != nil {
			if errors.Is(err, latch.ErrInvalidRequest) {
				return usageError{fmt.Errorf("--role %q: want [a-z][a-z0-9_-]{0,31}", role)}
			}
			return err
		}
		u.Role = role
		return emit(a.stdout, asJSON, toUserJSON(u), func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "user %s <%s> role %s\n", u.ID, u.Email, role)
			return err
		})
	})
}

// userDisableCmd is `user disable` (which also ends every session) or
// `user enable`.
func userDisableCmd(a *app, disable bool) *cobra.Command {
	c := &cobra.Command{
		Use:     "disable --user USER",
		Short:   "disable an account: refuse its logins and revoke every session and token it holds",
		Example: "  latch user disable --user ada@example.com",
	}
	if !disable {
		c.Use, c.Short, c.Example = "enable --user USER", "enable a disabled account", "  latch user enable --user ada@example.com"
	}
	return oneUserCmd(a, c, func(ctx context.Context, ad *admin, u *latch.User, asJSON bool) error {
		if err := ad.svc.SetDisabled(ctx, u.ID, disable); err != nil {
			return err
		}
		u.Disabled = disable
		return emit(a.stdout, asJSON, toUserJSON(u), func(w io.Writer) error {
			what := "enabled"
			if disable {
				what = "disabled (every session and token revoked)"
			}
			_, err := fmt.Fprintf(w, "user %s <%s> %s\n", u.ID, u.Email, what)
			return err
		})
	})
}

func userDeleteCmd(a *app) *cobra.Command {
	var yes bool
	c := &cobra.Command{
		Use:   "delete --user USER --yes",
		Short: "delete an account after revoking every session and token it holds",
		Long: `Delete an account. Every session, refresh family and access token of the
user is revoked first, on every instance and verifier (as logout-all does),
then the account is removed and its email address is free again.`,
		Example: "  latch user delete --user ada@example.com --yes",
	}
	c.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")
	c.PreRunE = func(*cobra.Command, []string) error { // before the database is opened
		if !yes {
			return usageError{errors.New("user delete: deleting an account cannot be undone; add --yes")}
		}
		return nil
	}
	return oneUserCmd(a, c, func(ctx context.Context, ad *admin, u *latch.User, asJSON bool) error {
		if err := ad.svc.DeleteUser(ctx, u.ID); err != nil {
			return err
		}
		return emit(a.stdout, asJSON, map[string]any{"deleted": toUserJSON(u)}, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "deleted user %s <%s>; its sessions and tokens are revoked\n", u.ID, u.Email)
			return err
		})
	})
}

func userResetMFACmd(a *app) *cobra.Command {
	var yes bool
	c := &cobra.Command{
		Use:   "reset-mfa --user USER --yes",
		Short: "remove every second factor of an account (TOTP, recovery codes, passkeys)",
		Long: `Remove every second factor of an account: its authenticator app, its
recovery codes and its passkeys. For a person who lost both the phone and the
recovery codes, once you have made sure, by other means, that it is them:
from then on the password alone logs in, until they set a factor up again.
Sessions already open stay open. The removal is in the audit trail.`,
		Example: "  latch user reset-mfa --user ada@example.com --yes",
	}
	c.Flags().BoolVar(&yes, "yes", false, "confirm the removal")
	c.PreRunE = func(*cobra.Command, []string) error {
		if !yes {
			return usageError{errors.New("user reset-mfa: the account will log in with its password alone; add --yes")}
		}
		return nil
	}
	return oneUserCmd(a, c, func(ctx context.Context, ad *admin, u *latch.User, asJSON bool) error {
		if err := ad.svc.ResetFactors(ctx, u.ID); err != nil {
			return err
		}
		return emit(a.stdout, asJSON, map[string]any{"reset": toUserJSON(u)}, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "removed every second factor of user %s <%s>; the password alone logs in now\n", u.ID, u.Email)
			return err
		})
	})
}
