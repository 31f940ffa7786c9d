package scale_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/latch-dev/latch/internal/proctest"
	"github.com/latch-dev/latch/internal/testenv"
)

// The shared servers of the development machines and CI; LATCH_TEST_POSTGRES
// and LATCH_TEST_REDIS override them, as for the postgres and redis tests.
func sharedPostgres() string {
	if u := os.Getenv("LATCH_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

func sharedRedis() string {
	if u := os.Getenv("LATCH_TEST_REDIS"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// What every instance of a test shares: the issuer and audience (instances
// behind one address share them), the resource-server client and the admin
// key.
const (
	issuer   = "http://latch.test"
	audience = "https://api.latch.test"
	clientID = "rs1"
	adminKey = "scale-admin-key-0123456789abcdef"
)

var clientSecret = randomSecret()

// latchArgs are the flags of every instance of these tests.
func latchArgs(db, redis string) []string {
	args := []string{"serve", "--addr", "127.0.0.1:0", "--db", db,
		"--client", clientID + ":" + clientSecret, "--admin-key", adminKey,
		"--login-ip-rate", "0", "--login-max-failures", "3",
		"--issuer", issuer, "--audience", audience}
	if redis != "" {
		args = append(args, "--redis", redis)
	}
	return args
}

// startInstances starts n instances on db and redis, one after the other.
func startInstances(t testing.TB, n int, db, redis string) []*instance {
	t.Helper()
	insts := make([]*instance, n)
	for i := range insts {
		name := string(rune('A' + i))
		p := startLatch(t, "latch "+name, latchArgs(db, redis)...)
		insts[i] = &instance{name: name, url: "http://" + p.Addr, p: p}
	}
	return insts
}

// freshDatabase creates a database of its own on the shared PostgreSQL
// server, dropped (with the Redis keys named after it) when the test ends,
// after the processes registered later are gone. It returns its URL.
func freshDatabase(t testing.TB, redisURL string) string {
	t.Helper()
	return testenv.FreshDatabase(t, sharedPostgres(), "latch_scale_", redisURL)
}

// needRedis skips (or fails in CI) unless the Redis at redisURL answers.
func needRedis(t testing.TB, redisURL string) {
	t.Helper()
	opt, err := goredis.ParseURL(redisURL)
	if err != nil {
		t.Fatalf("Redis URL %s: %v", redisURL, err)
	}
	rdb := goredis.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		unavailable(t, "Redis at %s is unreachable: %v", redisURL, err)
	}
}

// ---- private servers ----

// freePort returns a port of 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// server is a private PostgreSQL or Redis that a test stops and starts
// again on the same port (and, for PostgreSQL, the same data directory).
type server struct {
	name string
	port int
	argv []string
	cred *syscall.Credential // run as this user (PostgreSQL refuses root)
	up   func(ctx context.Context) error

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  bytes.Buffer
}

// start runs the server and waits until it answers; the test fails when
// it does not within 30 s.
func (s *server) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", s.name, err)
	}
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
		}
		_ = cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := s.up(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-done:
			t.Fatalf("%s exited at start:\n%s", s.name, s.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer 30 s after its start: %v\n%s", s.name, err, s.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends sig (SIGINT: PostgreSQL's fast shutdown; SIGTERM for Redis)
// and waits for the exit, escalating to SIGKILL after 15 s.
func (s *server) stop(t testing.TB, sig syscall.Signal) {
	t.Helper()
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Errorf("%s did not stop within 15 s of %v; killing it", s.name, sig)
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
}

func (s *server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// privateRedis starts a Redis of the test's own, without persistence (so a
// restart brings it back empty), stopped when the test ends.
func privateRedis(t testing.TB) (*server, string) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		unavailable(t, "redis-server is not installed: %v", err)
	}
	port := freePort(t)
	dir := t.TempDir()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s := &server{name: "redis-server :" + strconv.Itoa(port), port: port,
		argv: []string{bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir},
		up:   func(ctx context.Context) error { return redisPing(ctx, addr) },
	}
	s.start(t)
	t.Cleanup(func() {
		s.stop(t, syscall.SIGTERM)
		if t.Failed() {
			t.Logf("--- log of %s:\n%s", s.name, proctest.Tail(s.Output(), 60))
		}
	})
	return s, "redis://" + addr + "/0"
}

// redisPing sends one PING over a fresh connection.
func redisPing(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING: %q", line)
	}
	return nil
}

const pgBin = "/usr/lib/postgresql/15/bin"

// privatePostgres initialises a cluster of the test's own in a temporary
// directory and starts it, stopped when the test ends. PostgreSQL refuses
// to run as root: when the tests do, it runs as the postgres user.
func privatePostgres(t testing.TB) (*server, string) {
	t.Helper()
	bin := os.Getenv("LATCH_TEST_PGBIN")
	if bin == "" {
		bin = pgBin
	}
	for _, p := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, p)); err != nil {
			unavailable(t, "PostgreSQL server binaries are not in %s (set LATCH_TEST_PGBIN): %v", bin, err)
		}
	}
	dir, err := os.MkdirTemp("", "latch-scale-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			unavailable(t, "running as root, and there is no postgres user to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-A", "trust", "-U", "postgres", "-D", data, "-N", "-E", "UTF8", "--locale=C")
	if cred != nil {
		initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := freePort(t)
	dbURL := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	s := &server{name: "postgres :" + strconv.Itoa(port), port: port, cred: cred,
		argv: []string{filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", dir,
			"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=60"},
		up: func(ctx context.Context) error {
			c, err := pgx.Connect(ctx, dbURL)
			if err != nil {
				return err
			}
			return c.Close(ctx)
		},
	}
	s.start(t)
	t.Cleanup(func() {
		s.stop(t, syscall.SIGINT)
		if t.Failed() {
			t.Logf("--- log of %s:\n%s", s.name, proctest.Tail(s.Output(), 60))
		}
	})
	return s, dbURL
}
