package http

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Connection deadlines, coarse-grained: an opt-in (ListenerOptions).
//
// net/http moves a keep-alive connection's deadlines several times per
// request when its timeouts are set (header, whole request, write, idle),
// and each move re-arms a runtime timer: together with the clock reads
// that is about 0.6 µs of a 15 µs request, the largest single cost latch's
// timeouts add over a server without any. NewListener's connections keep
// a deadline that lies at least a second ahead in an atomic and leave it
// to one sweeper, which enforces it within deadlineTick; nearer deadlines,
// past ones (net/http's way of interrupting a read) and clearing one that
// took effect go to the connection at once, so behaviour is the same as
// with exact deadlines, at most deadlineTick late for the long ones.

// deadlineTick is how often the sweeper looks for expired deadlines: the
// most a deferred deadline can be late.
const deadlineTick = 100 * time.Millisecond

// deferAfter: deadlines nearer than this are applied to the connection at
// once; later ones are deferred to the sweeper.
const deferAfter = time.Second

// ListenerOptions choose how NewListenerWith wraps a listener. The zero
// value leaves it as it is.
type ListenerOptions struct {
	// CoarseDeadlines keeps connection deadlines a second or more ahead in
	// an atomic, enforced by one sweeper every 100 ms, instead of re-arming
	// a runtime timer each time net/http moves one (above). It saves about
	// 3 % of the instructions of a keep-alive request; the server's
	// timeouts then act up to 100 ms late. Off by default
	// (docs/decisions.md, "Coarse connection deadlines").
	CoarseDeadlines bool
}

// NewListener returns the listener latch serves on: ln with the default
// ListenerOptions, that is ln itself, on which net/http keeps its timeouts
// exactly.
func NewListener(ln net.Listener) net.Listener {
	return NewListenerWith(ln, ListenerOptions{})
}

// NewListenerWith returns ln wrapped as o asks. With CoarseDeadlines, the
// sweeper stops once the listener and all its connections are closed.
func NewListenerWith(ln net.Listener, o ListenerOptions) net.Listener {
	if !o.CoarseDeadlines {
		return ln
	}
	return newDeadlineListener(ln, deadlineTick, deferAfter)
}

func newDeadlineListener(ln net.Listener, tick, near time.Duration) *deadlineListener {
	l := &deadlineListener{Listener: ln, tick: tick, deferAfter: int64(near),
		conns: map[*deadlineConn]struct{}{}, done: make(chan struct{}), swept: make(chan struct{})}
	l.now.Store(time.Now().UnixNano())
	go l.sweep()
	return l
}

type deadlineListener struct {
	net.Listener
	tick       time.Duration
	deferAfter int64        // ns
	now        atomic.Int64 // the sweeper's clock, Unix ns, at most tick old

	mu    sync.Mutex
	conns map[*deadlineConn]struct{}

	done      chan struct{}
	closeOnce sync.Once
	swept     chan struct{} // closed when the sweeper has stopped
}

func (l *deadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	dc := &deadlineConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[dc] = struct{}{}
	l.mu.Unlock()
	return dc, nil
}

func (l *deadlineListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// sweep enforces deferred deadlines until the listener is closed and its
// last connection too: connections still draining after Close keep their
// timeouts.
func (l *deadlineListener) sweep() {
	defer close(l.swept)
	t := time.NewTicker(l.tick)
	defer t.Stop()
	done := l.done
	var batch []*deadlineConn
	for {
		select {
		case <-done:
			done = nil // closed: sweep on until no connection is left
		case now := <-t.C:
			n := now.UnixNano()
			l.now.Store(n)
			l.mu.Lock()
			for c := range l.conns {
				batch = append(batch, c)
			}
			l.mu.Unlock()
			if done == nil && len(batch) == 0 {
				return
			}
			for _, c := range batch {
				c.expire(&c.read, n)
				c.expire(&c.write, n)
			}
			clear(batch)
			batch = batch[:0]
		}
	}
}

// deadlineConn is a connection whose far deadlines are kept by the sweeper.
type deadlineConn struct {
	net.Conn
	l           *deadlineListener
	read, write deadline
	closeOnce   sync.Once
}

// deadline is one direction's state.
type deadline struct {
	// at is the deferred deadline in Unix ns; 0 when none is deferred.
	at atomic.Int64
	// set is true while a deadline is set on the connection itself (a near
	// or past one, or the sweeper's): a new deferred one must clear it.
	set atomic.Bool
	// mu orders changes to the connection's own deadline.
	mu sync.Mutex
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error { return c.setDeadline(&c.read, t) }

func (c *deadlineConn) SetWriteDeadline(t time.Time) error { return c.setDeadline(&c.write, t) }

func (c *deadlineConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *deadlineConn) setDeadline(d *deadline, t time.Time) error {
	var at int64
	if !t.IsZero() {
		at = t.UnixNano()
		if at < c.l.now.Load()+c.l.deferAfter {
			// Near or past: exact, now.
			d.mu.Lock()
			defer d.mu.Unlock()
			d.at.Store(0)
			d.set.Store(true)
			return c.apply(d, t)
		}
	}
	// Far or none: deferred. The store comes before the check of set (see
	// expire for the other half); it is skipped when it would change
	// nothing (clearing a deadline that is not there, most often).
	if d.at.Load() != at {
		d.at.Store(at)
	}
	if d.set.Load() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.set.Load() {
			d.set.Store(false)
			return c.apply(d, time.Time{})
		}
	}
	return nil
}

// expire interrupts the connection if d's deferred deadline has passed.
func (c *deadlineConn) expire(d *deadline, now int64) {
	at := d.at.Load()
	if at == 0 || at > now {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// set goes up before the swap: a deferral that stores its deadline
	// before the swap makes it fail; one that stores after it sees set
	// and clears what is applied here.
	prev := d.set.Load()
	d.set.Store(true)
	if !d.at.CompareAndSwap(at, 0) {
		d.set.Store(prev) // moved meanwhile
		return
	}
	_ = c.apply(d, time.Unix(1, 0)) // long past: the blocked call returns at once
}

// apply sets d's deadline on the connection itself.
func (c *deadlineConn) apply(d *deadline, t time.Time) error {
	if d == &c.read {
		return c.Conn.SetReadDeadline(t)
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *deadlineConn) Close() error {
	c.closeOnce.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// CloseWrite half-closes a TCP connection (net/http uses it when it ends a
// connection whose request body it did not read).
func (c *deadlineConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
