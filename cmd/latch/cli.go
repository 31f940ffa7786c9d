package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// app is one run of the command: its streams and environment. Commands are
// built per run (newRoot), so nothing is global and tests run in parallel.
type app struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// sources says where each configuration flag's value came from
	// (default, environment, flag), filled before a command runs.
	sources map[string]string
	// serve is the configuration of `latch serve`, set by its command and
	// run after the command tree is released.
	serve *Config
}

// commandError marks an error returned by a command's own work (exit 1),
// as opposed to cobra's parse and argument errors (usage, exit 2).
type commandError struct{ err error }

func (e commandError) Error() string { return e.err.Error() }
func (e commandError) Unwrap() error { return e.err }

// runE adapts a command body: its errors are the command's, unless it says
// they are usage errors.
func runE(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := f(cmd, args)
		var ue usageError
		if err == nil || errors.As(err, &ue) {
			return err
		}
		return commandError{err}
	}
}

// newRoot builds the command tree of one run.
func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "latch COMMAND",
		Short: "latch is an authentication server: sessions, JWTs and rotating refresh tokens",
		Long: `latch is an authentication server and its admin tool.

"latch serve" runs the server; every other command acts on the same database
(and Redis, when --redis is set) as the server, with the server's rules.
Configuration flags have a LATCH_ environment twin (--session-idle-timeout is
LATCH_SESSION_IDLE_TIMEOUT); a flag given on the command line wins. Commands
print for people by default and JSON with --json.`,
		Example: `  latch serve --addr 127.0.0.1:8080
  echo 'a long passphrase' | latch user add --email admin@example.com --role admin
  latch sessions revoke --user ada@example.com
  latch token inspect eyJhbGciOi...`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		Args:              cobra.ArbitraryArgs,
		RunE:              groupRunE,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			sources, err := applyEnv(cmd.Flags(), a.getenv)
			if err != nil {
				return usageError{err}
			}
			a.sources = sources
			return nil
		},
	}
	root.SetContext(a.ctx)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{flagError(err)} })
	root.SetHelpFunc(func(cmd *cobra.Command, _ []string) { writeHelp(cmd.OutOrStdout(), cmd) })
	root.AddCommand(serveCmd(a), migrateCmd(a), userCmd(a), sessionsCmd(a), keysCmd(a), tokenCmd(a),
		configCmd(a), versionCmd(a), benchCmd(a))
	return root
}

// group returns a command that only holds subcommands: run alone, or with
// an unknown subcommand, it is a usage error rather than help on stdout.
func group(use, short, example string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use + " COMMAND", Short: short, Example: example, Args: cobra.ArbitraryArgs, RunE: groupRunE}
	c.AddCommand(subs...)
	return c
}

func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return usageError{fmt.Errorf("missing command; see %s --help", cmd.CommandPath())}
	}
	return usageError{fmt.Errorf("unknown command %q for %q; see %s --help", args[0], cmd.CommandPath(), cmd.CommandPath())}
}

// args requires exactly the named positional arguments.
func args(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, got []string) error {
		switch {
		case len(got) < len(names):
			return usageError{fmt.Errorf("%s: missing argument <%s>", cmd.CommandPath(), names[len(got)])}
		case len(got) > len(names):
			return usageError{fmt.Errorf("%s: unexpected argument %q", cmd.CommandPath(), got[len(names)])}
		}
		return nil
	}
}

// badValue is pflag's error for a value that does not parse.
var badValue = regexp.MustCompile(`^invalid argument "(.*)" for "(?:-\w, )?(--[\w-]+)" flag: (.*)$`)

// flagError shortens pflag's errors to one line and never repeats the
// value of a flag that may hold a secret (those are the configuration's
// own; a value of a command's flag is echoed as pflag does).
func flagError(err error) error {
	msg := strings.SplitN(err.Error(), "\n", 2)[0]
	if m := badValue.FindStringSubmatch(msg); m != nil {
		switch m[2] {
		case "--db", "--redis", "--hs256-secret", "--master-key", "--admin-key", "--client":
			return fmt.Errorf("invalid value for %s: %s", m[2], m[3])
		}
		return fmt.Errorf("invalid value %q for %s: %s", m[1], m[2], m[3])
	}
	return errors.New(msg)
}

// writeHelp is the help of every command: what it does, how to call it,
// its subcommands, its own flags, then the configuration flags with their
// defaults and environment twins, and examples.
func writeHelp(w io.Writer, cmd *cobra.Command) {
	desc := cmd.Long
	if desc == "" {
		desc = cmd.Short
	}
	fmt.Fprintf(w, "%s\n\nUsage:\n  %s\n", strings.TrimSpace(desc), cmd.UseLine())
	if cmd.HasAvailableSubCommands() {
		fmt.Fprintf(w, "\nCommands:\n")
		tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
		for _, sub := range cmd.Commands() {
			if sub.IsAvailableCommand() {
				fmt.Fprintf(tw, "  %s\t%s\n", sub.Name(), sub.Short)
			}
		}
		_ = tw.Flush()
	}
	var own, config []*pflag.Flag
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		if f.Annotations[annotEnv] != nil {
			config = append(config, f)
		} else {
			own = append(own, f)
		}
	})
	cmd.InheritedFlags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			own = append(own, f)
		}
	})
	if len(own) > 0 {
		fmt.Fprintf(w, "\nFlags:\n")
		writeFlags(w, own)
	}
	if len(config) > 0 {
		fmt.Fprintf(w, "\nConfiguration (shared with serve; each has a LATCH_ environment twin, a flag wins):\n")
		writeFlags(w, config)
	}
	if cmd.Example != "" {
		fmt.Fprintf(w, "\nExamples:\n%s\n", strings.TrimRight(cmd.Example, "\n"))
	}
	if cmd.HasAvailableSubCommands() {
		fmt.Fprintf(w, "\nRun \"%s COMMAND --help\" for more about a command.\n", cmd.CommandPath())
	}
}

func writeFlags(w io.Writer, flags []*pflag.Flag) {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	for _, f := range flags {
		name, usage := pflag.UnquoteUsage(f)
		if f.Shorthand != "" {
			name = fmt.Sprintf("-%s, --%s %s", f.Shorthand, f.Name, name)
		} else {
			name = fmt.Sprintf("    --%s %s", f.Name, name)
		}
		var notes []string
		if def := flagDefault(f); def != "" {
			notes = append(notes, "default "+def)
		}
		if env := f.Annotations[annotEnv]; env != nil {
			notes = append(notes, "env "+env[0])
		}
		if _, ok := f.Annotations[cobra.BashCompOneRequiredFlag]; ok {
			notes = append(notes, "required")
		}
		if len(notes) > 0 {
			usage += " (" + strings.Join(notes, "; ") + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimRight(name, " "), usage)
	}
	_ = tw.Flush()
}

// flagDefault is the default worth showing: none for an empty string, a
// false switch or an empty list.
func flagDefault(f *pflag.Flag) string {
	switch f.DefValue {
	case "", "false", "[]":
		return ""
	}
	if f.Value.Type() == "string" {
		return fmt.Sprintf("%q", f.DefValue)
	}
	return f.DefValue
}

// jsonFlag adds --json to a command.
func jsonFlag(cmd *cobra.Command) *bool {
	var v bool
	cmd.Flags().BoolVar(&v, "json", false, "print JSON for scripts instead of text")
	return &v
}

// emit prints v as indented JSON with --json, else what human writes.
func emit(w io.Writer, asJSON bool, v any, human func(w io.Writer) error) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return human(w)
}

// table writes rows aligned in columns, the first row a header.
func table(w io.Writer, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}
