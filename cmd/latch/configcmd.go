package main

import (
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// masked replaces a secret in what the commands print.
const masked = "****"

// settingJSON is one line of `latch config`.
type settingJSON struct {
	Flag   string `json:"flag"`
	Env    string `json:"env"`
	Value  string `json:"value"`
	Source string `json:"source"` // default, environment or flag
}

func configCmd(a *app) *cobra.Command {
	var cfg Config
	c := &cobra.Command{
		Use:   "config",
		Short: "print the effective configuration, where each value came from, secrets masked",
		Long: `Print the configuration that "latch serve" (or any command) would run with,
given these flags and this environment: each value, and whether it came from
the default, the environment (LATCH_...) or a flag. Secrets are masked:
--hs256-secret, --master-key, --admin-key, the secrets of --client, and
passwords inside the --db and --redis URLs. An invalid configuration is
printed, then reported, with exit status 2.`,
		Example: `  LATCH_ACCESS_TTL=5m latch config --db 'postgres://latch:pw@db/latch'
  latch config --json`,
		Args: args(),
	}
	asJSON := jsonFlag(c)
	cfg.define(c.Flags())
	c.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		var out []settingJSON
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			env := f.Annotations[annotEnv]
			if env == nil {
				return
			}
			v := f.Value.String()
			if f.Annotations[annotSecret] != nil {
				v = maskSecret(f.Name, v)
			}
			out = append(out, settingJSON{Flag: "--" + f.Name, Env: env[0], Value: v, Source: a.sources[f.Name]})
		})
		err := emit(a.stdout, *asJSON, out, func(w io.Writer) error {
			rows := [][]string{{"FLAG", "VALUE", "SOURCE", "ENVIRONMENT"}}
			for _, s := range out {
				v := s.Value
				if v == "" {
					v = `""`
				}
				rows = append(rows, []string{s.Flag, v, s.Source, s.Env})
			}
			return table(w, rows)
		})
		if err != nil {
			return err
		}
		if err := cfg.validate(); err != nil {
			return usageError{fmt.Errorf("the configuration is invalid: %w", err)}
		}
		return nil
	})
	return c
}

// maskSecret masks the value of a secret flag: all of it, or for --db and
// --redis the password inside the URL (and a password= query parameter);
// --client's value masks its secrets itself.
func maskSecret(flag, v string) string {
	switch {
	case v == "":
		return ""
	case flag == "client":
		return v
	case flag != "db" && flag != "redis":
		return masked
	}
	u, err := url.Parse(v)
	if err != nil {
		return masked // cannot tell where a password would be
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), masked)
		}
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", masked)
		u.RawQuery = q.Encode()
	}
	return strings.Replace(u.String(), url.QueryEscape(masked), masked, -1)
}
