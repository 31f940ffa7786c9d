package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/jose"
)

// userAdd creates an account from the command line. The password is read
// from stdin (first line), never from a flag, so it stays out of shell
// history and process listings.
func userAdd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	var cfg Config
	var addr, role string
	fs := cfg.flagSet("user add") // the server's configuration: the same rules apply
	fs.StringVar(&addr, "email", "", "the account's email address")
	fs.StringVar(&role, "role", latch.DefaultRole, "the account's role")
	if err := parseFlags(fs, args, getenv); err != nil {
		return usageError{err}
	}
	if addr == "" {
		return usageError{errors.New("user add: --email is required")}
	}
	if err := cfg.validate(); err != nil {
		return usageError{err}
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, latch.MaxPasswordBytes+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	ctx = latch.WithRequestInfo(ctx, latch.RequestInfo{Actor: "cli"})
	svc, closeAll, err := openAdmin(ctx, &cfg, stderr)
	if err != nil {
		return err
	}
	defer closeAll()
	u, err := svc.Signup(ctx, addr, pw)
	if err != nil {
		return err
	}
	if role != latch.DefaultRole {
		if err := svc.SetRole(ctx, u.ID, role); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "created user %s <%s> role %s\n", u.ID, u.Email, role)
	return nil
}

// openAdmin opens what an admin command acts through: the database, Redis
// when set (so that revocations reach running instances at once), the keys,
// and the Service built as `latch serve` builds it.
func openAdmin(ctx context.Context, cfg *Config, stderr io.Writer) (*latch.Service, func(), error) {
	logger := slog.New(slog.DiscardHandler)
	audit, closeAudit, err := openAudit(cfg, stderr)
	if err != nil {
		return nil, nil, usageError{err}
	}
	st, err := openStores(ctx, cfg.DB)
	if err != nil {
		_ = closeAudit()
		return nil, nil, err
	}
	sh, err := openShared(ctx, cfg, st, logger)
	if err != nil {
		st.close()
		return nil, nil, err
	}
	km, err := loadKeys(ctx, cfg, st.keys)
	if err == nil {
		var svc *latch.Service
		if svc, err = newService(ctx, cfg, st, sh, km, cfg.issuer(cfg.Addr), logger, nil, audit); err == nil {
			return svc, func() { _ = svc.Close(); sh.close(); _ = st.close(); _ = closeAudit() }, nil
		}
	}
	sh.close()
	_ = st.close()
	_ = closeAudit()
	return nil, nil, err
}

// flagSetDB is the flag set of admin subcommands: the database and master key.
func (c *Config) flagSetDB(name string) *flag.FlagSet {
	fs := newFlagSet(name)
	c.dbFlags(fs)
	return fs
}

func keysList(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	var cfg Config
	if err := parseFlags(cfg.flagSetDB("keys list"), args, getenv); err != nil {
		return usageError{err}
	}
	st, err := openStores(ctx, cfg.DB)
	if err != nil {
		return err
	}
	defer st.close()
	keys, err := st.keys.Keys(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tCREATED\tSTATE")
	for _, k := range keys {
		state := "signing"
		if !k.RetiredAt.IsZero() {
			state = "retired " + k.RetiredAt.UTC().Format(time.RFC3339)
		}
		if k.Sealed {
			state += " (sealed)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, k.Alg, k.CreatedAt.UTC().Format(time.RFC3339), state)
	}
	return tw.Flush()
}

// keysRotate adds a new signing key of --jwt-alg. Running servers pick it
// up within 10 s; the old key stays published until its tokens expire.
func keysRotate(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	var cfg Config
	fs := cfg.flagSetDB("keys rotate")
	fs.StringVar(&cfg.JWTAlg, "jwt-alg", "EdDSA", "EdDSA, ES256 or RS256")
	if err := parseFlags(fs, args, getenv); err != nil {
		return usageError{err}
	}
	if cfg.JWTAlg == "HS256" {
		return usageError{errors.New("--jwt-alg HS256: the HMAC key is --hs256-secret; rotate it by restarting with a new one")}
	}
	k, err := jose.GenerateKey(cfg.JWTAlg, time.Now().UTC())
	if err != nil {
		return usageError{fmt.Errorf("--jwt-alg %q: %w", cfg.JWTAlg, err)}
	}
	st, err := openStores(ctx, cfg.DB)
	if err != nil {
		return err
	}
	defer st.close()
	if cfg.MasterKey != "" {
		s, err := jose.NewSealer(cfg.MasterKey)
		if err != nil {
			return usageError{fmt.Errorf("--master-key: %w", err)}
		}
		if k, err = s.Seal(k); err != nil {
			return err
		}
	}
	id := k.ID
	if err := st.keys.RotateKey(ctx, k); err != nil {
		return err
	}
	// Announced in the revocation log, which every instance polls: they
	// reload the keys within a second instead of at their next reload.
	if err := st.revs.AddRevocations(ctx, []*latch.Revocation{latch.KeysChangedEntry(id, time.Now().UTC())}); err != nil {
		return fmt.Errorf("the key is stored; announcing it failed (instances reload within 10 s): %w", err)
	}
	fmt.Fprintf(stdout, "new signing key %s (%s); running servers use it within a second\n", id, cfg.JWTAlg)
	return nil
}
