package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/jose"
)

// keyJSON is a signing key as the commands print it: never private material.
type keyJSON struct {
	ID        string     `json:"kid"`
	Alg       string     `json:"alg"`
	CreatedAt time.Time  `json:"created_at"`
	RetiredAt *time.Time `json:"retired_at,omitempty"`
	Signing   bool       `json:"signing"`
	Sealed    bool       `json:"sealed"`
}

func keysCmd(a *app) *cobra.Command {
	return group("keys", "list the signing keys, or start signing with a new one",
		"  latch keys list\n  latch keys rotate --jwt-alg ES256", keysListCmd(a), keysRotateCmd(a))
}

// storesCmd is a command that opens the database only: no Service, no keys
// created as a side effect.
func storesCmd(a *app, c *cobra.Command, body func(ctx context.Context, cfg *Config, st *stores) error) *cobra.Command {
	var cfg Config
	cfg.define(c.Flags())
	c.Args = args()
	c.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		if err := cfg.validate(); err != nil {
			return usageError{err}
		}
		st, err := openStores(cmd.Context(), cfg.DB)
		if err != nil {
			return err
		}
		defer st.close()
		return body(cmd.Context(), &cfg, st)
	})
	return c
}

func keysListCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "list",
		Short: "list the signing keys, newest first: the one that signs, and those retired but still published",
		Example: `  latch keys list
  latch keys list --json`,
	}
	asJSON := jsonFlag(c)
	return storesCmd(a, c, func(ctx context.Context, _ *Config, st *stores) error {
		keys, err := st.keys.Keys(ctx)
		if err != nil {
			return err
		}
		out := make([]keyJSON, len(keys))
		rows := [][]string{{"KID", "ALG", "CREATED", "STATE"}}
		for i, k := range keys {
			out[i] = keyJSON{ID: k.ID, Alg: k.Alg, CreatedAt: k.CreatedAt.UTC(), Signing: k.RetiredAt.IsZero(), Sealed: k.Sealed}
			state := "signing"
			if !k.RetiredAt.IsZero() {
				t := k.RetiredAt.UTC()
				out[i].RetiredAt = &t
				state = "retired " + t.Format(time.RFC3339)
			}
			if k.Sealed {
				state += " (sealed)"
			}
			rows = append(rows, []string{k.ID, k.Alg, k.CreatedAt.UTC().Format(time.RFC3339), state})
		}
		return emit(a.stdout, *asJSON, out, func(w io.Writer) error { return table(w, rows) })
	})
}

// keysRotateCmd adds a new signing key of --jwt-alg and announces it in the
// revocation log: running servers pick it up within a second; the old key
// stays published until its tokens expire.
func keysRotateCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "rotate",
		Short: "start signing with a new key; tokens signed with the old one stay valid until they expire",
		Long: `Add a new signing key of --jwt-alg, sealed with --master-key when set.
The rotation is announced in the revocation log, which running servers read
at least once a second: they sign with the new key and publish it within a
second (at once when they meet a token it signed); the old key stays published in the JWKS until the tokens it signed
have expired. HS256 has no stored key: change --hs256-secret instead.`,
		Example: `  latch keys rotate
  LATCH_MASTER_KEY="$KEY" latch keys rotate --jwt-alg ES256 --json`,
	}
	asJSON := jsonFlag(c)
	return storesCmd(a, c, func(ctx context.Context, cfg *Config, st *stores) error {
		if cfg.JWTAlg == "HS256" {
			return usageError{errors.New("--jwt-alg HS256: the HMAC key is --hs256-secret; rotate it by restarting with a new one")}
		}
		k, err := jose.GenerateKey(cfg.JWTAlg, time.Now().UTC())
		if err != nil {
			return usageError{fmt.Errorf("--jwt-alg %q: %w", cfg.JWTAlg, err)}
		}
		if cfg.MasterKey != "" {
			s, err := jose.NewSealer(cfg.MasterKey)
			if err != nil {
				return usageError{fmt.Errorf("--master-key: %w", err)}
			}
			if k, err = s.Seal(k); err != nil {
				return err
			}
		}
		if err := st.keys.RotateKey(ctx, k); err != nil {
			return err
		}
		// Announced in the revocation log, which every instance polls: they
		// reload the keys within a second instead of at their next reload.
		if err := st.revs.AddRevocations(ctx, []*latch.Revocation{latch.KeysChangedEntry(k.ID, time.Now().UTC())}); err != nil {
			return fmt.Errorf("the key is stored; announcing it failed (instances reload within 10 s): %w", err)
		}
		audit, closeAudit, err := openAudit(cfg, a.stderr)
		if err != nil {
			return usageError{err}
		}
		defer closeAudit()
		if audit != nil {
			audit(ctx, latch.Event{Time: time.Now().UTC(), Kind: latch.EventKeyRotate, Detail: k.ID + " " + k.Alg,
				Request: latch.RequestInfo{Actor: "cli"}})
		}
		out := keyJSON{ID: k.ID, Alg: k.Alg, CreatedAt: k.CreatedAt.UTC(), Signing: true, Sealed: k.Sealed}
		return emit(a.stdout, *asJSON, out, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "new signing key %s (%s); running servers use it within a second\n", k.ID, k.Alg)
			return err
		})
	})
}
