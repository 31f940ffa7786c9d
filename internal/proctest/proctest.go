// Package proctest runs latch's binaries as real processes for the tests
// that need them (e2e/, scale/) and for bench/propagation: build once,
// start, wait for the "listening addr=HOST:PORT" line, keep the log for
// failure reports, and (in tests) kill the process when the test ends.
package proctest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Build compiles each package (a path relative to moduleRoot, such as
// "./cmd/latch") into dir and returns the binaries' paths by package.
func Build(moduleRoot, dir string, pkgs ...string) (map[string]string, error) {
	out := make(map[string]string, len(pkgs))
	for _, pkg := range pkgs {
		bin := filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-o", bin, pkg)
		cmd.Dir = moduleRoot
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
		}
		out[pkg] = bin
	}
	return out, nil
}

// Main is a TestMain body for a package whose tests start binaries: it
// builds pkgs of the module at moduleRoot into a temporary directory,
// hands their paths (by package) to use, runs the tests and removes the
// directory. A build failure is reported on stderr and fails the run.
func Main(m *testing.M, name, moduleRoot string, use func(bins map[string]string), pkgs ...string) int {
	dir, err := os.MkdirTemp("", "latch-"+name+"-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	built, err := Build(moduleRoot, dir, pkgs...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	use(built)
	return m.Run()
}

// Proc is a started binary whose output is kept for failure reports.
type Proc struct {
	Name string
	Addr string // from its "listening addr=HOST:PORT" line

	cmd  *exec.Cmd
	done chan struct{}
	err  error // from Wait, once done is closed

	mu  sync.Mutex
	log bytes.Buffer
}

var listeningAddr = regexp.MustCompile(`\blistening\b.*\baddr=(\S+)`)

// StartTimeout bounds the wait for the listening line.
const StartTimeout = 60 * time.Second

// ErrNoListening is Launch's error when the listening line does not come
// within StartTimeout.
var ErrNoListening = errors.New("no listening line")

// Launch runs bin with args and waits for its listening line: until
// StartTimeout, ctx's end or the process's exit, each an error (the process
// then killed). The caller kills or signals the process it returns.
func Launch(ctx context.Context, name, bin string, args ...string) (*Proc, error) {
	p := &Proc{Name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	p.cmd.Stdout = writerFunc(p.write)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			_, _ = p.write([]byte(line + "\n"))
			if m := listeningAddr.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.err = p.cmd.Wait() // after the pipe is drained, as exec asks
		close(p.done)
	}()
	select {
	case p.Addr = <-addr:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s exited before listening (%v):\n%s", name, p.err, p.Output())
	case <-ctx.Done():
		p.Kill()
		return nil, ctx.Err()
	case <-time.After(StartTimeout):
		p.Kill()
		return nil, fmt.Errorf("%s: %w within %s:\n%s", name, ErrNoListening, StartTimeout, p.Output())
	}
}

// Start is Launch for a test: it returns an error, not a failure, when the
// process exits first (a port still busy, say), so that callers can retry;
// it fails the test when the listening line does not come within
// StartTimeout. The process is killed when the test ends, and the end of
// its log is printed if the test failed.
func Start(t testing.TB, name, bin string, args ...string) (*Proc, error) {
	t.Helper()
	p, err := Launch(context.Background(), name, bin, args...)
	if errors.Is(err, ErrNoListening) {
		t.Fatal(err)
	}
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("--- log of %s (%s):\n%s", name, strings.Join(args, " "), Tail(p.Output(), 60))
		}
	})
	return p, nil
}

// MustStart is Start that fails the test when the process exits early.
func MustStart(t testing.TB, name, bin string, args ...string) *Proc {
	t.Helper()
	p, err := Start(t, name, bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *Proc) write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Write(b)
}

// Output is everything the process printed so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// Pid is the process ID (to read its /proc entries).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Kill sends SIGKILL (a crash, not a shutdown) and waits for the exit.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error (nil for status 0), once Done is closed.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Tail is the last n lines of a log, noting how many came before.
func Tail(log string, n int) string {
	lines := strings.SplitAfter(log, "\n")
	if len(lines) <= n {
		return log
	}
	return fmt.Sprintf("[%d lines before these]\n", len(lines)-n) + strings.Join(lines[len(lines)-n:], "")
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
