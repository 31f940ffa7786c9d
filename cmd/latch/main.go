// Command latch is the latch authentication server and its admin tool.
//
//	latch serve [flags]                 run the server (see API.md §1 for the flags)
//	latch user add --email E [--role R] add an account; the password is read from stdin
//	latch keys list                     list the signing keys
//	latch keys rotate                   add a new signing key; old tokens stay valid until they expire
//	latch version
//
// Every flag has a LATCH_ environment twin; flags win.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// usageError is a bad command line: one line on stderr, exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

const usage = `usage: latch <command> [flags]
  serve        run the server
  user add     add an account (password from stdin)
  keys list    list signing keys
  keys rotate  start signing with a new key
  version      print the version`

// run is main without the process: tests call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	err := dispatch(ctx, args, stdin, stdout, stderr, getenv)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "latch: %v\n", ue.err)
		return 2
	default:
		fmt.Fprintf(stderr, "latch: %v\n", err)
		return 1
	}
}

func dispatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return usageError{errors.New("no command\n" + usage)}
	}
	cmd, rest := args[0], args[1:]
	sub := ""
	if len(rest) > 0 && (cmd == "user" || cmd == "keys") {
		sub, rest = rest[0], rest[1:]
	}
	switch cmd + " " + sub {
	case "serve ":
		return serve(ctx, rest, stderr, getenv)
	case "user add":
		return userAdd(ctx, rest, stdin, stdout, stderr, getenv)
	case "keys list":
		return keysList(ctx, rest, stdout, getenv)
	case "keys rotate":
		return keysRotate(ctx, rest, stdout, getenv)
	case "version ":
		fmt.Fprintln(stdout, "latch", version)
		return nil
	case "help ", "-h ", "--help ":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return usageError{fmt.Errorf("unknown command %q\n%s", cmd+" "+sub, usage)}
}
