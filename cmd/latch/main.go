// Command latch is the latch authentication server and its admin tool.
//
//	latch serve                              run the server (flags: API.md §1, or latch serve --help)
//	latch migrate [--check]                  apply the database's pending migrations, or list them
//	latch user add|list|show|set-role|disable|enable|delete
//	                                         manage accounts (add reads the password from stdin)
//	latch sessions list|revoke --user U      see or end a user's sessions, on every instance
//	latch keys list|rotate                   list the signing keys, or start signing with a new one
//	latch token inspect JWT                  decode an access token and say why it is valid or not
//	latch config                             the effective configuration and where each value came from
//	latch version                            version, commit and Go version
//	latch completion bash|zsh|fish           shell completion
//
// Every command that opens the database takes the server's configuration
// flags, each with a LATCH_ environment twin; flags win. --user takes a
// user ID or an email address. Commands print for people, or JSON with
// --json. A bad command line is one line on stderr and exit status 2; a
// failure of the command itself, exit status 1.
//
// This package only wires: newService (serve.go) is the one place a
// latch.Service is built, for serve and for every admin command alike.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/latch-dev/latch/internal/gcfloor"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// heapFloor is the least heap goal the process lets the garbage collector
// have, unless GOGC is set (internal/gcfloor; docs/decisions.md, "A floor
// under the heap goal").
const heapFloor = 16 << 20

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Getenv("GOGC") == "" {
		// Process-wide, as the collector's settings are: here and not in
		// run, which the tests call many times in one process.
		if _, err := gcfloor.Start(heapFloor); err != nil {
			fmt.Fprintf(os.Stderr, "latch: %v\n", err)
			os.Exit(1)
		}
	}
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// usageError is a bad command line: one line on stderr, exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

// run is main without the process: tests call it directly. It returns the
// exit status: 0, 1 when the command failed, 2 for a bad command line.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	err := execute(a, args)
	if err == nil && a.serve != nil {
		// The server runs after the command tree is gone: its ~3,000 objects
		// (every command's flags) would otherwise stay live for the life of
		// the process, and every garbage collection, which runs every few
		// thousand requests, would mark them again.
		err = runE(func(*cobra.Command, []string) error { return serve(ctx, a.serve, stderr) })(nil, nil)
	}
	var ue usageError
	var ce commandError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "latch: %v\n", oneLine(ue.err))
		return 2
	case errors.As(err, &ce):
		fmt.Fprintf(stderr, "latch: %v\n", oneLine(ce.err))
		return 1
	default:
		// cobra's own: an unknown command or flag, a missing required flag.
		fmt.Fprintf(stderr, "latch: %v\n", oneLine(err))
		return 2
	}
}

// execute parses args with the command tree and runs the command, but for
// serve, which it leaves in a.serve.
func execute(a *app, args []string) error {
	root := newRoot(a)
	root.SetArgs(args)
	return root.ExecuteContext(a.ctx)
}

// oneLine keeps the first line of an error.
func oneLine(err error) string {
	return strings.SplitN(err.Error(), "\n", 2)[0]
}
