package http

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"
)

// Test timing: deadlines from 50 ms on are deferred to a sweeper that runs
// every 10 ms, so that the tests below exercise the deferred path in well
// under a second. Production uses 1 s and 100 ms.
const (
	testTick       = 10 * time.Millisecond
	testDeferAfter = 50 * time.Millisecond
)

// connPair returns a server-side connection accepted by a deadline
// listener and the client side.
func connPair(t *testing.T, tick, deferAfter time.Duration) (*deadlineListener, *deadlineConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newDeadlineListener(ln, tick, deferAfter)
	t.Cleanup(func() { _ = l.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	c, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = c.Close() })
	return l, c.(*deadlineConn), client
}

// readResult reads one byte from c in the background.
func readResult(c net.Conn) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	return done
}

// result waits (boundedly) for a background operation's error.
func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("still blocked after 5 s")
		return nil
	}
}

func wantTimeout(t *testing.T, err error) {
	t.Helper()
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("got %v, want a deadline-exceeded timeout", err)
	}
}

func TestDeadlineListener_DeferredDeadlinesFire(t *testing.T) {
	for _, dir := range []string{"read", "write"} {
		t.Run(dir, func(t *testing.T) {
			_, c, _ := connPair(t, testTick, testDeferAfter)
			const after = 300 * time.Millisecond
			start := time.Now()
			d, set := &c.read, c.SetReadDeadline
			if dir == "write" {
				d, set = &c.write, c.SetWriteDeadline
			}
			if err := set(start.Add(after)); err != nil {
				t.Fatal(err)
			}
			if d.at.Load() == 0 || d.set.Load() {
				t.Fatal("a deadline 300 ms ahead was not deferred")
			}
			var done <-chan error
			if dir == "read" {
				done = readResult(c)
			} else {
				// The client never reads: writes block once the socket
				// buffers are full.
				werr := make(chan error, 1)
				go func() {
					buf := make([]byte, 64<<10)
					for {
						if _, err := c.Write(buf); err != nil {
							werr <- err
							return
						}
					}
				}()
				done = werr
			}
			select {
			case err := <-done:
				wantTimeout(t, err)
				if d := time.Since(start); d < after || d > after+time.Second {
					t.Fatalf("%s timed out after %v, want %v (late by at most a few ticks)", dir, d, after)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("blocked %s still running 5 s after a %v deadline", dir, after)
			}
		})
	}
}

// net/http interrupts its background read with a deadline in the past and
// then clears it: both must act at once.
func TestDeadlineListener_PastDeadlineInterruptsAndClears(t *testing.T) {
	_, c, client := connPair(t, time.Hour, time.Second) // the sweeper never runs
	done := readResult(c)
	time.Sleep(20 * time.Millisecond) // let the read block
	if err := c.SetReadDeadline(time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		wantTimeout(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("a past deadline did not interrupt the blocked read")
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	done = readResult(c)
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("read after clearing the deadline: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read after clearing the deadline never returned")
	}
}

func TestDeadlineListener_ExtendedDeadlineDoesNotFire(t *testing.T) {
	_, c, client := connPair(t, testTick, testDeferAfter)
	if err := c.SetReadDeadline(time.Now().Add(150 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	done := readResult(c)
	time.Sleep(50 * time.Millisecond)
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // well past the first deadline
	select {
	case err := <-done:
		t.Fatalf("read ended (%v) at a deadline that had been moved", err)
	default:
	}
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := result(t, done); err != nil {
		t.Fatalf("read: %v", err)
	}
}

// After the sweeper fired, a new deadline (far or none) makes the
// connection usable again, as with exact deadlines.
func TestDeadlineListener_NewDeadlineAfterExpiry(t *testing.T) {
	for _, next := range []time.Duration{0, 10 * time.Second, 20 * time.Millisecond} {
		t.Run(fmt.Sprint(next), func(t *testing.T) {
			_, c, client := connPair(t, testTick, testDeferAfter)
			if err := c.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			wantTimeout(t, result(t, readResult(c)))
			var dl time.Time
			if next > 0 {
				dl = time.Now().Add(next)
			}
			if err := c.SetReadDeadline(dl); err != nil {
				t.Fatal(err)
			}
			if next > 0 && next < testDeferAfter {
				wantTimeout(t, result(t, readResult(c))) // a near one applies exactly
				return
			}
			done := readResult(c)
			if _, err := client.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			if err := result(t, done); err != nil {
				t.Fatalf("read after a new deadline: %v", err)
			}
		})
	}
}

// Deadlines set while the sweeper fires must never leave the connection
// stuck in an expired state once a far deadline or none is set.
func TestDeadlineListener_ConcurrentSetAndSweep(t *testing.T) {
	_, c, client := connPair(t, time.Millisecond, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				var err error
				switch (g + i) % 3 {
				case 0:
					err = c.SetReadDeadline(time.Now()) // expires at once or at the next sweep
				case 1:
					err = c.SetReadDeadline(time.Now().Add(time.Hour))
				default:
					err = c.SetReadDeadline(time.Time{})
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := c.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	done := readResult(c)
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("read after the last (far) deadline: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read never returned")
	}
}

// A server draining after its listener closed still times its
// connections out.
func TestDeadlineListener_DeadlinesOutliveListener(t *testing.T) {
	l, c, _ := connPair(t, testTick, testDeferAfter)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	wantTimeout(t, result(t, readResult(c)))
	select {
	case <-l.swept:
		t.Fatal("the sweeper stopped with a connection still open")
	default:
	}
	_ = c.Close()
	select {
	case <-l.swept:
	case <-time.After(5 * time.Second):
		t.Fatal("the sweeper still runs after the listener and its last connection closed")
	}
}

func TestDeadlineListener_ForgetsClosedConnections(t *testing.T) {
	l, c, _ := connPair(t, testTick, testDeferAfter)
	l.mu.Lock()
	n := len(l.conns)
	l.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d connections tracked, want 1", n)
	}
	_ = c.Close()
	_ = c.Close()
	l.mu.Lock()
	n = len(l.conns)
	l.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d connections tracked after Close, want 0", n)
	}
}

// The timeouts of an http.Server hold through the listener when they are
// deferred: headers trickled in are cut off, and a keep-alive connection
// serves request after request while its deadlines move.
func TestDeadlineListener_HTTPServerTimeouts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newDeadlineListener(ln, testTick, testDeferAfter)
	hs := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }),
		ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 400 * time.Millisecond,
		WriteTimeout: time.Second, IdleTimeout: 2 * time.Second,
	}
	go func() { _ = hs.Serve(l) }()
	t.Cleanup(func() { _ = hs.Close() })

	// Keep-alive: 20 requests on one connection, over more than the
	// header and read timeouts in total.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for i := range 20 {
		if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		time.Sleep(40 * time.Millisecond)
	}

	// Slowloris: a header line every 50 ms never completes the header.
	slow, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	start := time.Now()
	closed := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, slow); close(closed) }()
	_, _ = io.WriteString(slow, "GET / HTTP/1.1\r\nHost: x\r\n")
	for i := 0; ; i++ {
		select {
		case <-closed:
			if d := time.Since(start); d < 300*time.Millisecond || d > 2*time.Second {
				t.Fatalf("cut off after %v, want about 300 ms", d)
			}
			return
		case <-time.After(50 * time.Millisecond):
			if time.Since(start) > 5*time.Second {
				t.Fatal("a client trickling its headers is still connected after 5 s")
			}
			_, _ = fmt.Fprintf(slow, "X-Trickle-%d: x\r\n", i)
		}
	}
}

// NewListener leaves the listener as it is; the coarse deadlines are an
// opt-in of NewListenerWith.
func TestNewListener_CoarseDeadlinesOptIn(t *testing.T) {
	for _, tt := range []struct {
		name   string
		wrap   func(net.Listener) net.Listener
		coarse bool
	}{
		{"NewListener", NewListener, false},
		{"zero options", func(ln net.Listener) net.Listener { return NewListenerWith(ln, ListenerOptions{}) }, false},
		{"CoarseDeadlines", func(ln net.Listener) net.Listener {
			return NewListenerWith(ln, ListenerOptions{CoarseDeadlines: true})
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			l := tt.wrap(ln)
			t.Cleanup(func() { _ = l.Close() })
			dl, isCoarse := l.(*deadlineListener)
			if isCoarse != tt.coarse {
				t.Fatalf("got %T, want coarse deadlines %v", l, tt.coarse)
			}
			if !isCoarse && l != ln {
				t.Fatalf("got %T, want the listener itself", l)
			}
			if isCoarse && (dl.tick != deadlineTick || dl.deferAfter != int64(deferAfter)) {
				t.Fatalf("tick %v, defer after %v: want the production %v and %v",
					dl.tick, time.Duration(dl.deferAfter), deadlineTick, deferAfter)
			}
		})
	}
}
