package http_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/latch-dev/latch/password"
)

// The handler benchmarks run requests through the complete handler chain
// (recovery, CSRF layer one, metrics, routing, authentication, JSON) in
// process, so they measure latch's own CPU per request without the network.
// BENCHMARKS.md puts them beside wrk runs of the real binary.

// BenchmarkWhoami is GET /v1/whoami per credential kind; the baseline is a
// handler that writes the same kind of JSON reply with no authentication.
func BenchmarkWhoami(b *testing.B) {
	ts := newTestServer(b)
	addr, pw := ts.newUser(b)
	sess := ts.MustLogin(b, addr, pw)
	tok := ts.MustTokenLogin(b, addr, pw)
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"user":{"id":"u1","email":"a@example.com","role":"user"}}` + "\n"))
	})
	for _, c := range []struct {
		name string
		h    http.Handler
		auth func(*http.Request)
	}{
		{"bare", hello, func(*http.Request) {}},
		{"session", ts.Handler, func(r *http.Request) { r.AddCookie(&http.Cookie{Name: sessionCookie, Value: sess.Secret}) }},
		{"token", ts.Handler, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.Access) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/v1/whoami", nil)
			c.auth(req)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				c.h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkLogin is a session login at the default argon2id parameters,
// beside the bare argon2id hash it is bound by (target: ≥ 0.9× its rate).
func BenchmarkLogin(b *testing.B) {
	p := password.DefaultParams()
	b.Run("bare-argon2id", func(b *testing.B) {
		salt := make([]byte, p.SaltLen)
		b.ReportAllocs()
		for b.Loop() {
			argon2.IDKey([]byte("horse-battery-staple"), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
		}
	})
	b.Run("session", func(b *testing.B) {
		ts := newTestServer(b, withDefaultParams())
		addr, pw := ts.newUser(b)
		body := `{"email":"` + addr + `","password":"` + pw + `"}`
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest("POST", "/v1/login", strings.NewReader(body)).WithContext(context.Background())
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			ts.Handler.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}

// BenchmarkRefresh is one refresh-token rotation through the handler on the
// memory store (the SQLite and PostgreSQL stores have their own).
func BenchmarkRefresh(b *testing.B) {
	ts := newTestServer(b)
	addr, pw := ts.newUser(b)
	refresh := ts.MustTokenLogin(b, addr, pw).Refresh
	b.ReportAllocs()
	for b.Loop() {
		refresh = ts.MustRefresh(b, refresh).Refresh
	}
}
