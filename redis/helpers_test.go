package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/redis"

	"github.com/latch-dev/latch/internal/testenv"
)

// testURL is the shared Redis the tests use: LATCH_TEST_REDIS, by default
// database 0 of the local server. Every client gets a prefix of its own and
// removes its keys when its test ends.
func testURL() string {
	if u := os.Getenv("LATCH_TEST_REDIS"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// unavailable fails the test in CI and skips it, loudly, elsewhere.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	testenv.Unavailable(t, "Redis", format, args...)
}

func newPrefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "t" + hex.EncodeToString(b)
}

// mustOpen opens a client on url under a fresh prefix; its keys go and it
// closes when t ends. A Redis that does not answer fails or skips t.
func mustOpen(t testing.TB, url string, opts ...redis.Option) *redis.Client {
	t.Helper()
	return mustOpenPrefix(t, url, newPrefix(), opts...)
}

func mustOpenPrefix(t testing.TB, url, prefix string, opts ...redis.Option) *redis.Client {
	t.Helper()
	c, err := redis.Open(t.Context(), url, append([]redis.Option{redis.WithPrefix(prefix)}, opts...)...)
	if err != nil {
		t.Fatalf("Open(%q): %v", url, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		_ = c.Close()
		unavailable(t, "Redis at %s is not reachable: %v", url, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = deleteKeys(ctx, c.Redis(), "{"+prefix+":*") // a private server may be gone: nothing to clean then
		_ = c.Close()
	})
	return c
}

// deleteKeys removes every key matching pattern, on every master.
func deleteKeys(ctx context.Context, rdb goredis.UniversalClient, pattern string) error {
	one := func(ctx context.Context, n goredis.Cmdable) error {
		iter := n.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			if err := n.Unlink(ctx, iter.Val()).Err(); err != nil {
				return err
			}
		}
		return iter.Err()
	}
	if cc, ok := rdb.(*goredis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error { return one(ctx, n) })
	}
	return one(ctx, rdb)
}

// countKeys counts the keys matching pattern, on every master.
func countKeys(t testing.TB, rdb goredis.UniversalClient, pattern string) int {
	t.Helper()
	var n atomic.Int64
	one := func(ctx context.Context, c goredis.Cmdable) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			n.Add(1)
		}
		return iter.Err()
	}
	var err error
	if cc, ok := rdb.(*goredis.ClusterClient); ok {
		err = cc.ForEachMaster(t.Context(), func(ctx context.Context, c *goredis.Client) error { return one(ctx, c) })
	} else {
		err = one(t.Context(), rdb)
	}
	if err != nil {
		t.Fatalf("counting keys %s: %v", pattern, err)
	}
	return int(n.Load())
}

// waitFor polls cond until it holds, failing t after timeout.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitHealthy(t testing.TB, c *redis.Client) {
	t.Helper()
	waitFor(t, "the client to become healthy", 5*time.Second, c.Healthy)
}

// counter is a go-redis hook counting round trips: one per command sent
// alone, one per pipeline.
type counter struct{ n atomic.Int64 }

func (h *counter) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *counter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *counter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// server is a private redis-server on a loopback port, for tests that stop
// and restart it.
type server struct {
	t    testing.TB
	port int
	dir  string
	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startServer starts redis-server with extra arguments; it is killed when
// t ends.
func startServer(t testing.TB, extra ...string) *server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		unavailable(t, "redis-server is not installed: %v", err)
	}
	s := &server{t: t, port: freePort(t), dir: t.TempDir(), args: extra}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *server) url() string { return "redis://" + s.addr() + "/0" }

// start (re)starts the server, empty, on its port and waits until it answers.
func (s *server) start() {
	s.t.Helper()
	args := append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log")}, s.args...)
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	c := goredis.NewClient(&goredis.Options{Addr: s.addr(), DialTimeout: 100 * time.Millisecond, MaxRetries: -1, DisableIdentity: true})
	defer c.Close()
	waitFor(s.t, "redis-server on "+s.addr(), 10*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		return c.Ping(ctx).Err() == nil
	})
}

// stop kills the server (SIGKILL: nothing is saved, connections reset).
func (s *server) stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// proxy forwards a loopback port to a Redis server and can fail like a
// network between one latch instance and Redis while the server keeps its
// data: cut (connections reset, new ones refused) or hang (nothing comes
// back: a blackhole, which only timeouts notice).
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	mode   proxyMode
	conns  map[net.Conn]struct{}
}

type proxyMode int

const (
	forward proxyMode = iota
	cut
	hang
)

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.set(cut)
	})
	return p
}

func (p *proxy) url() string { return "redis://" + p.ln.Addr().String() + "/0" }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		switch p.mode {
		case cut:
			_ = c.Close()
		case hang:
			p.conns[c] = struct{}{}
			go p.pipe(io.Discard, c)
		default:
			up, err := net.DialTimeout("tcp", p.target, time.Second)
			if err != nil {
				_ = c.Close()
				break
			}
			p.conns[c], p.conns[up] = struct{}{}, struct{}{}
			go p.pipe(c, up)
			go p.pipe(up, c)
		}
		p.mu.Unlock()
	}
}

// pipe copies src to dst, dropping everything while the proxy hangs.
func (p *proxy) pipe(dst io.Writer, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		hung := p.mode == hang
		p.mu.Unlock()
		if n > 0 && !hung {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = src.Close()
	if c, ok := dst.(net.Conn); ok {
		_ = c.Close()
	}
	p.mu.Lock()
	delete(p.conns, src)
	p.mu.Unlock()
}

// set changes the mode. Cutting resets every connection; so does leaving a
// hang, since the connections it left have lost bytes.
func (p *proxy) set(m proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	prev := p.mode
	p.mode = m
	if m == cut || prev == hang {
		for c := range p.conns {
			_ = c.Close()
		}
		clear(p.conns)
	}
}

// countingSessions counts the lookups by hash that reach the wrapped store,
// and can hold them after they read, to stage races.
type countingSessions struct {
	latch.SessionStore
	byHash  atomic.Int64
	touches atomic.Int64                  // rows given to TouchSessions
	hold    atomic.Pointer[chan struct{}] // when set, lookups wait on it after reading
	read    chan struct{}                 // told when a held lookup has read
}

func (c *countingSessions) SessionByTokenHash(ctx context.Context, hash []byte) (*latch.Session, error) {
	c.byHash.Add(1)
	s, err := c.SessionStore.SessionByTokenHash(ctx, hash)
	if h := c.hold.Load(); h != nil {
		c.read <- struct{}{}
		<-*h
	}
	return s, err
}

func (c *countingSessions) TouchSessions(ctx context.Context, touches []latch.SessionTouch) error {
	c.touches.Add(int64(len(touches)))
	return c.SessionStore.TouchSessions(ctx, touches)
}

// countingRevocations counts the entries read from the wrapped log.
type countingRevocations struct {
	latch.RevocationStore
	rows atomic.Int64
}

func (c *countingRevocations) RevocationsSince(ctx context.Context, after int64, now time.Time, limit int) ([]*latch.Revocation, error) {
	revs, err := c.RevocationStore.RevocationsSince(ctx, after, now, limit)
	c.rows.Add(int64(len(revs)))
	return revs, err
}
