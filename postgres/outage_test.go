package postgres_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/postgres"
)

// outageBound is how long an operation may take to fail in an outage: the
// one-second operation timeout and some slack for a loaded test machine.
const outageBound = 1500 * time.Millisecond

// The ways a proxy fails.
const (
	up        int32 = iota // forwards both ways
	blackhole              // keeps connections open, forwards nothing: a hung server or a partition
	down                   // resets every connection: a stopped server
)

// proxy stands between latch and PostgreSQL, so that a test can take the
// database away from one pool and give it back, without touching the server
// that other tests use.
type proxy struct {
	ln     net.Listener
	target string
	mode   atomic.Int32

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// startProxy listens on a free port of 127.0.0.1 and forwards to target
// (host:port), until the test ends.
func startProxy(tb testing.TB, target string) *proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.serve)
	tb.Cleanup(func() {
		_ = ln.Close()
		p.closeAll()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// set switches the proxy to mode; down also resets every open connection.
func (p *proxy) set(mode int32) {
	p.mode.Store(mode)
	if mode == down {
		p.closeAll()
	}
}

func (p *proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *proxy) track(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns[c] = struct{}{}
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		switch p.mode.Load() {
		case down:
			_ = c.Close()
			continue
		case blackhole:
			p.track(c)
			p.wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.track(c)
		p.track(u)
		p.wg.Go(func() { p.pipe(u, c) })
		p.wg.Go(func() { p.pipe(c, u) })
	}
}

// pipe copies from src to dst while the proxy is up, drops what arrives
// while it is a black hole, and closes both ends when either fails.
func (p *proxy) pipe(dst, src net.Conn) {
	defer func() { _ = dst.Close(); _ = src.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && p.mode.Load() == up {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// viaProxy returns the test URL with its host replaced by a proxy's, and the
// proxy's target.
func viaProxy(tb testing.TB) (string, *proxy) {
	tb.Helper()
	raw := needPostgres(tb)
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		tb.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || strings.HasPrefix(cfg.Host, "/") {
		tb.Skip("the outage tests need LATCH_TEST_POSTGRES as a postgres:// URL over TCP")
	}
	p := startProxy(tb, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	u.Host = p.addr()
	return u.String(), p
}

// wantUnavailableSoon runs every kind of operation at once and fails t
// unless each fails with latch.ErrUnavailable within outageBound.
func wantUnavailableSoon(t *testing.T, db *postgres.DB, what string) {
	t.Helper()
	cs := calls(t.Context(), db)
	var wg sync.WaitGroup
	errs := make([]error, len(cs))
	took := make([]time.Duration, len(cs))
	for i, c := range cs {
		wg.Go(func() {
			start := time.Now()
			errs[i] = c.call()
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	for i, c := range cs {
		if !errors.Is(errs[i], latch.ErrUnavailable) {
			t.Errorf("%s: %s: error = %v, want one matching latch.ErrUnavailable", what, c.name, errs[i])
		}
		if took[i] > outageBound {
			t.Errorf("%s: %s took %v to fail, want at most %v", what, c.name, took[i], outageBound)
		}
	}
}

// wantBack fails t unless db serves again within a few seconds.
func wantBack(t *testing.T, db *postgres.DB, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := db.UserByID(t.Context(), "u0")
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: UserByID still fails: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDB_outage takes the database away from a working DB, in the two ways
// it can go: it stops (connections reset, new ones refused), or it hangs
// (a partition, a frozen server: nothing answers, nothing fails). Either
// way every operation must fail as unavailable within about a second, so
// that latch answers 503 in time; and the DB must recover when the
// database is back.
func TestDB_outage(t *testing.T) {
	u, p := viaProxy(t)
	db, err := postgres.Open(t.Context(), u, postgres.WithSchema(newSchema(t)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.CreateUser(t.Context(), newUser("u0")); err != nil {
		t.Fatal(err)
	}
	// Fill the pool with open connections, so that the outage finds some
	// in use and some idle.
	for _, c := range calls(t.Context(), db) {
		_ = c.call()
	}

	p.set(blackhole)
	wantUnavailableSoon(t, db, "server hung")
	p.set(up)
	wantBack(t, db, "after the hang")

	p.set(down)
	wantUnavailableSoon(t, db, "server stopped")
	p.set(up)
	wantBack(t, db, "after the stop")
}

// Open against a database that is not there fails within the connect
// timeout, as unavailable, and without showing the password of the URL.
func TestOpen_unreachable(t *testing.T) {
	const password = "s3cret-Passw0rd"
	hung := startProxy(t, "127.0.0.1:1")
	hung.set(blackhole)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	for _, c := range []struct{ name, addr string }{{"refused", closed}, {"hung", hung.addr()}} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			db, err := postgres.Open(context.Background(), "postgres://latch:"+password+"@"+c.addr+"/test?sslmode=disable")
			took := time.Since(start)
			if err == nil {
				_ = db.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, latch.ErrUnavailable) {
				t.Errorf("Open error = %v, want one matching latch.ErrUnavailable", err)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("Open error %q shows the password", err)
			}
			if took > outageBound {
				t.Errorf("Open took %v to fail, want at most %v", took, outageBound)
			}
		})
	}
}
