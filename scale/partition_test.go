package scale_test

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// linkProxy forwards TCP connections to target until Cut: then it closes
// every connection it carries and refuses new ones, as a network partition
// between one instance and Redis would; Heal lets connections through again.
type linkProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

func newLinkProxy(t testing.TB, target string) *linkProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &linkProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { _ = ln.Close(); p.Cut() })
	go p.serve()
	return p
}

func (p *linkProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut := p.cut
		p.mu.Unlock()
		if cut {
			_ = c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, time.Second)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
		go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
	}
}

// Cut drops every carried connection and refuses new ones.
func (p *linkProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// Heal lets new connections through again.
func (p *linkProxy) Heal() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// redisVia is redisURL with its host replaced by addr.
func redisVia(t testing.TB, redisURL, addr string) string {
	t.Helper()
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}

// TestPartition_PasswordChangeWhileCutOffFromRedis: instance A loses its
// link to Redis (B keeps it); a password change on A gives A's session a
// new secret, but A cannot remove the Redis copy of the session under the
// old one. The old secret is revoked in the durable log, so B refuses the
// old cookie all the same (it polls the log every 250 ms), while the new
// cookie works.
func TestPartition_PasswordChangeWhileCutOffFromRedis(t *testing.T) {
	redisURL := sharedRedis()
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	host := u.Host
	db := freshDatabase(t, redisURL)
	link := newLinkProxy(t, host)
	pA := startLatch(t, "latch A", latchArgs(db, redisVia(t, redisURL, link.ln.Addr().String()))...)
	pB := startLatch(t, "latch B", latchArgs(db, redisURL)...)
	A := &instance{name: "A", url: "http://" + pA.Addr, p: pA}
	B := &instance{name: "B", url: "http://" + pB.Addr, p: pB}
	for _, in := range []*instance{A, B} {
		waitReady(t, in, 200, "ok", "ok", 10*time.Second)
	}
	email := newEmail("partition")
	signup(t, A.url, email)
	sess := loginSession(t, A.url, email, "session")
	for _, in := range []*instance{A, B} {
		expectWhoami(t, in, sess, 200, "before the partition") // the Redis copy exists
	}

	link.Cut()
	waitReady(t, A, 200, "degraded", "down", 10*time.Second)
	r := call(t, "POST", A.url+"/v1/password", sess.a, map[string]string{"current_password": password, "new_password": "a new horse battery staple"})
	if r.status != 204 {
		t.Fatalf("password change on A cut off from Redis: %s", r)
	}
	fresh := &cred{name: "session after the change", email: email, a: sess.a}
	for _, k := range r.resp.Cookies() {
		if k.Name == sessionCookie {
			fresh.a.cookie = k.Value
		}
	}
	if fresh.a.cookie == sess.a.cookie {
		t.Fatal("the password change gave the session no new secret")
	}
	took := pollStatus(t, "the old cookie on B", "GET", B.url+"/v1/whoami", sess.a, 401, time.Second)
	t.Logf("B refused the replaced secret %v after the change", took)
	expectWhoami(t, A, sess, 401, "the old cookie on A")
	expectWhoami(t, A, fresh, 200, "the new cookie on A")

	link.Heal()
	waitReady(t, A, 200, "ok", "ok", 15*time.Second)
	expectWhoami(t, B, sess, 401, "the old cookie on B after the partition heals")
	expectWhoami(t, B, fresh, 200, "the new cookie on B")
}
