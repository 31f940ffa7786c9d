package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/latch-dev/latch/bench/latchbench"
)

func benchCmd(a *app) *cobra.Command {
	var (
		opts     latchbench.Options
		asJSON   bool
		plotFile string
		algs     []string
	)
	cmd := &cobra.Command{
		Use:   "bench [--url URL]...",
		Short: "measure sessions, JWTs and JWT + refresh on this machine or a deployment",
		Long: `Measure the three designs side by side: the credential's size on the wire,
whoami's throughput (closed-loop at --workers) and latency (open-loop at 50 %
and 90 % of that maximum, beside latch's own timing of the same requests
from its /metrics: what part of the tail was spent inside latch), store
operations per request, logins/s,
refreshes/s and the revocation delay (logout → refused) on the same
instance, on another (with a second --url) and at a verifier following the
revocation stream (with --client); then one row per claim of the articles
("session ID 20–40 bytes vs JWT 200–500", "a store lookup per request", ...).

Without --url it starts latch itself (this binary, "latch serve") on the
embedded default, a SQLite database in a temporary directory, plus one
instance per further --alg for the token sizes, and removes them at the end.
With --url it measures that deployment: it signs up users of its own
(latch-bench-RUN-N@example.com; allow signups and, for the login rows,
a --login-ip-rate high enough), and at the end revokes their sessions and,
with --admin-key, disables them (the API deletes no account: the command
prints how to). Progress goes to stderr (a bar on a terminal); the tables,
or --json, to stdout.`,
		Example: `  latch bench --quick
  latch bench --json --plot bench.svg
  latch bench --url https://a.example.com --url https://b.example.com --admin-key "$KEY" --client bench:"$SECRET"`,
		Args: args(),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if plotFile != "" && !strings.HasSuffix(plotFile, ".svg") && !strings.HasSuffix(plotFile, ".png") {
				return usageError{fmt.Errorf("--plot %s: want a .svg or .png file", plotFile)}
			}
			if opts.Client != "" && !strings.Contains(opts.Client, ":") {
				return usageError{errors.New("invalid value for --client: want ID:SECRET")}
			}
			ctx := cmd.Context()
			if len(opts.URLs) == 0 {
				started, err := startBenchLatches(ctx, algs)
				defer started.stop()
				if err != nil {
					return err
				}
				opts.URLs, opts.AdminKey, opts.Client, opts.Started = []string{started.primary}, started.adminKey, started.client, true
				opts.AltAlgs = started.alts
			}
			opts.Progress = latchbench.NewProgress(a.stderr, isTerminal(a.stderr))
			rep, err := latchbench.Run(ctx, opts)
			if err != nil {
				if rep != nil {
					fmt.Fprintf(a.stderr, "latch bench: cleanup: %s\n", rep.Cleanup)
				}
				return err
			}
			if plotFile != "" {
				if err := latchbench.Plot(rep, plotFile); err != nil {
					return err
				}
			}
			return emit(a.stdout, asJSON, rep, func(w io.Writer) error { return latchbench.Print(w, rep) })
		}),
	}
	f := cmd.Flags()
	f.StringArrayVar(&opts.URLs, "url", nil, "base URL of a running latch instance (repeatable; default: start one on the embedded default)")
	f.StringVar(&opts.AdminKey, "admin-key", "", "the deployment's --admin-key, to disable the users bench made")
	f.StringVar(&opts.Client, "client", "", "ID:SECRET of a --client of the deployment, for the verifier row (the revocation stream)")
	f.BoolVar(&opts.Quick, "quick", false, "every load row for 1 s and 10 revocation rounds (a smoke run, not a measurement)")
	f.DurationVar(&opts.Duration, "duration", 0, "length of each load row (default 10s, 1s with --quick)")
	f.IntVar(&opts.Workers, "workers", 32, "closed-loop concurrency of whoami")
	f.IntVar(&opts.Rounds, "rounds", 0, "rounds of each revocation-delay row (default 100, 10 with --quick)")
	f.StringSliceVar(&algs, "alg", []string{"EdDSA", "ES256", "RS256", "HS256"},
		"signing algorithms to size access tokens with, when bench starts latch itself (the first is the measured server's)")
	f.StringVar(&plotFile, "plot", "", "also draw the comparison into FILE.svg or FILE.png")
	f.BoolVar(&asJSON, "json", false, "print JSON for scripts instead of text")
	return cmd
}

// isTerminal reports whether w is a terminal (then progress is a bar).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// benchLatches are the servers bench started for itself.
type benchLatches struct {
	primary          string
	alts             map[string]string
	adminKey, client string
	procs            []*exec.Cmd
	dir              string
}

// startBenchLatches starts `latch serve` (this executable) on a SQLite
// database in a temporary directory for each algorithm, the first one the
// server measured. stop ends them and removes the directory.
func startBenchLatches(ctx context.Context, algs []string) (*benchLatches, error) {
	b := &benchLatches{alts: map[string]string{}, adminKey: rand.Text() + rand.Text(), client: "latch-bench:" + rand.Text()}
	if len(algs) == 0 {
		return b, usageError{errors.New("--alg: at least one algorithm")}
	}
	self, err := os.Executable()
	if err != nil {
		return b, err
	}
	if b.dir, err = os.MkdirTemp("", "latch-bench-"); err != nil {
		return b, err
	}
	for i, alg := range algs {
		args := []string{"serve", "--addr", "127.0.0.1:0", "--db", "sqlite:" + filepath.Join(b.dir, alg, "latch.db"),
			"--jwt-alg", alg, "--login-ip-rate", "0", "--log-level", "warn", "--audit-log", "off",
			"--admin-key", b.adminKey, "--client", b.client}
		if alg == "HS256" {
			args = append(args, "--hs256-secret", rand.Text()+rand.Text())
		}
		addr, cmd, err := launch(ctx, self, args)
		if cmd != nil {
			b.procs = append(b.procs, cmd)
		}
		if err != nil {
			return b, fmt.Errorf("starting latch serve --jwt-alg %s: %w", alg, err)
		}
		if i == 0 {
			b.primary = "http://" + addr
		} else {
			b.alts[alg] = "http://" + addr
		}
	}
	return b, nil
}

// stop ends the servers (SIGTERM, then kill after 15 s) and removes their databases.
func (b *benchLatches) stop() {
	if b == nil {
		return
	}
	var wg sync.WaitGroup
	for _, p := range b.procs {
		wg.Go(func() {
			_ = p.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = p.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				_ = p.Process.Kill()
				<-done
			}
		})
	}
	wg.Wait()
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}

var listeningLine = regexp.MustCompile(`listening addr=(\S+)`)

// launch starts bin with args, without the caller's LATCH_ configuration
// (the flags say everything), and waits for its listening line.
func launch(ctx context.Context, bin string, args []string) (string, *exec.Cmd, error) {
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LATCH_") || strings.HasPrefix(kv, "LATCH_TEST_RUN_MAIN=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	addr := make(chan string, 1)
	var mu sync.Mutex
	var tail []string // the last lines, for an error report
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if m := listeningLine.FindStringSubmatch(line); m != nil && !sent {
				addr <- m[1]
				sent = true
			}
			mu.Lock()
			tail = append(tail[max(len(tail)-4, 0):], line)
			mu.Unlock()
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if ok {
			return a, cmd, nil
		}
		_ = cmd.Wait()
		mu.Lock()
		defer mu.Unlock()
		return "", nil, fmt.Errorf("exited before listening: %s", strings.Join(tail, " | "))
	case <-time.After(30 * time.Second):
		return "", cmd, errors.New("no listening line after 30 s")
	case <-ctx.Done():
		return "", cmd, ctx.Err()
	}
}
