package instrumented_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/instrumented"
	"github.com/latch-dev/latch/memory"
	"github.com/latch-dev/latch/storetest"
)

// calls records what the wrappers report: calls and faults by store.method.
type calls struct {
	mu     sync.Mutex
	n      map[string]int
	faults map[string][]error
}

func newCalls() *calls { return &calls{n: map[string]int{}, faults: map[string][]error{}} }

func (c *calls) observer(store, method string) func(time.Duration, error) {
	key := store + "." + method
	return func(d time.Duration, fault error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if d <= 0 {
			panic(key + ": a call reported without its duration")
		}
		c.n[key]++
		if fault != nil {
			c.faults[key] = append(c.faults[key], fault)
		}
	}
}

func (c *calls) count(key string) (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key], len(c.faults[key])
}

// A wrapped store is a store: it passes the conformance suite, alone and
// under the session cache (which looks for SessionCounter behind it).
func TestConformance(t *testing.T) {
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("session cache %v", cached), func(t *testing.T) {
			c := newCalls()
			storetest.Run(t, func(t *testing.T) storetest.Stores {
				var sessions latch.SessionStore = instrumented.Sessions(new(memory.SessionStore), "db", c.observer)
				if cached {
					sc := memory.NewSessionCache(sessions)
					t.Cleanup(func() { _ = sc.Close() })
					sessions = sc
				}
				return storetest.Stores{
					Users:       instrumented.Users(new(memory.UserStore), "db", c.observer),
					Sessions:    sessions,
					Revocations: instrumented.Revocations(new(memory.RevocationStore), "db", c.observer),
					Keys:        new(memory.KeyStore),
				}
			})
			for _, m := range []string{"CreateUser", "UserByEmail", "CreateSession", "RotateRefresh", "AddRevocations", "RevocationsSince", "CountLiveSessions"} {
				if n, _ := c.count("db." + m); n == 0 {
					t.Errorf("db.%s: no call reported through a whole suite", m)
				}
			}
		})
	}
}

// capabilities lists the optional interfaces s implements.
func capabilities(s latch.SessionStore) string {
	_, u := s.(latch.SessionUser)
	_, c := s.(latch.SessionCounter)
	_, e := s.(latch.SessionEvictor)
	return fmt.Sprintf("user=%v counter=%v evictor=%v", u, c, e)
}

// Every combination of the optional capabilities, made of the real memory
// stores, comes out of the wrapper exactly as it went in, and the wrapper's
// UseSession and CountLiveSessions reach the wrapped store and are timed.
func TestSessions_capabilities(t *testing.T) {
	ctx := context.Background()
	type plain struct{ latch.SessionStore } // hides every capability
	for _, user := range []bool{false, true} {
		for _, counter := range []bool{false, true} {
			for _, evictor := range []bool{false, true} {
				cache := memory.NewSessionCache(new(memory.SessionStore)) // has all three
				t.Cleanup(func() { _ = cache.Close() })
				var s latch.SessionStore = plain{cache}
				switch {
				case user && counter && evictor:
					s = cache
				case user && counter:
					s = struct {
						plain
						latch.SessionUser
						latch.SessionCounter
					}{plain{cache}, cache, cache}
				case user && evictor:
					s = struct {
						plain
						latch.SessionUser
						latch.SessionEvictor
					}{plain{cache}, cache, cache}
				case counter && evictor:
					s = struct {
						plain
						latch.SessionCounter
						latch.SessionEvictor
					}{plain{cache}, cache, cache}
				case user:
					s = struct {
						plain
						latch.SessionUser
					}{plain{cache}, cache}
				case counter:
					s = struct {
						plain
						latch.SessionCounter
					}{plain{cache}, cache}
				case evictor:
					s = struct {
						plain
						latch.SessionEvictor
					}{plain{cache}, cache}
				}
				want := capabilities(s)
				t.Run(want, func(t *testing.T) {
					c := newCalls()
					w := instrumented.Sessions(s, "cache", c.observer)
					if got := capabilities(w); got != want {
						t.Fatalf("wrapped: %s, want %s", got, want)
					}
					now := time.Now()
					x := &latch.Session{ID: "s1", UserID: "u1", Kind: latch.KindSession, TokenHash: []byte("h1"),
						CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(time.Hour)}
					if err := w.CreateSession(ctx, x); err != nil {
						t.Fatal(err)
					}
					if u, ok := w.(latch.SessionUser); ok {
						got, err := u.UseSession(ctx, []byte("h1"), now, time.Hour)
						if err != nil || got.ID != "s1" {
							t.Fatalf("UseSession = %v, %v; want s1", got, err)
						}
						if n, _ := c.count("cache.UseSession"); n != 1 {
							t.Errorf("UseSession reported %d times, want 1", n)
						}
					}
					if k, ok := w.(latch.SessionCounter); ok {
						if n, err := k.CountLiveSessions(ctx, now); err != nil || n != 1 {
							t.Fatalf("CountLiveSessions = %d, %v; want 1", n, err)
						}
						if n, _ := c.count("cache.CountLiveSessions"); n != 1 {
							t.Errorf("CountLiveSessions reported %d times, want 1", n)
						}
					}
					if e, ok := w.(latch.SessionEvictor); ok {
						e.EvictSession("s1") // the copy goes; the store still has it
						if got, err := w.SessionByID(ctx, "s1"); err != nil || got.ID != "s1" {
							t.Fatalf("after EvictSession: %v, %v", got, err)
						}
					}
				})
			}
		}
	}
}

// broken is a user store whose UserByID fails with err.
type broken struct {
	latch.UserStore
	err error
}

func (b broken) UserByID(context.Context, string) (*latch.User, error) { return nil, b.err }

// The answers a contract calls normal are not faults; everything else is.
func TestFaults(t *testing.T) {
	ctx := context.Background()
	c := newCalls()
	mem := new(memory.UserStore)
	u := instrumented.Users(mem, "db", c.observer)
	if err := u.CreateUser(ctx, &latch.User{ID: "u1", Email: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		call       func() error
		key        string
		wantFaults int
	}{
		{"ErrEmailTaken is an answer", func() error { return u.CreateUser(ctx, &latch.User{ID: "u2", Email: "a@example.com"}) }, "db.CreateUser", 0},
		{"ErrNotFound is an answer", func() error { _, err := u.UserByEmail(ctx, "b@example.com"); return err }, "db.UserByEmail", 0},
		{"an outage is a fault", func() error {
			_, err := instrumented.Users(broken{mem, errors.New("connection refused")}, "db", c.observer).UserByID(ctx, "u1")
			return err
		}, "db.UserByID", 1},
		{"a caller gone is not a fault", func() error {
			_, err := instrumented.Users(broken{mem, fmt.Errorf("querying: %w", context.Canceled)}, "db", c.observer).UserByID(ctx, "u1")
			return err
		}, "db.UserByID", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err == nil {
				t.Fatal("no error")
			}
			if _, f := c.count(tc.key); f != tc.wantFaults {
				t.Errorf("%s: %d faults, want %d", tc.key, f, tc.wantFaults)
			}
		})
	}
}
