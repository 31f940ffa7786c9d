package latch_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

// The lockout is one rule for the login and for the current password of a
// password change: failures of either count for both.
func TestService_Lockout(t *testing.T) {
	ctx := context.Background()
	const addr, pw = "lock@example.com", "lockout-passphrase-1"
	cases := []struct {
		name string
		fail func(d *domain, p *latch.Principal) error
	}{
		{"login", func(d *domain, _ *latch.Principal) error {
			_, err := d.Login(ctx, latch.LoginRequest{Email: addr, Password: "wrong-passphrase", Mode: latch.KindSession})
			return err
		}},
		{"password change", func(d *domain, p *latch.Principal) error {
			_, err := d.ChangePassword(ctx, p, "wrong-passphrase", "another-passphrase-2")
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newDomain(t)
			d.signup(t, addr, pw)
			res := d.login(t, addr, pw, latch.KindSession)
			p, err := d.AuthenticateSession(ctx, res.Secret)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				err := c.fail(d, p)
				if errors.Is(err, latch.ErrRateLimited) {
					t.Fatalf("locked after %d failures, want 5", i)
				}
				if err == nil {
					t.Fatal("a wrong password was accepted")
				}
			}
			_, err = d.Login(ctx, latch.LoginRequest{Email: addr, Password: pw, Mode: latch.KindSession})
			var rl *latch.RateLimitError
			if !errors.As(err, &rl) || rl.RetryAfter <= 0 {
				t.Fatalf("the right password after 5 failures = %v, want a RateLimitError", err)
			}
			if _, err := d.ChangePassword(ctx, p, pw, "another-passphrase-2"); !errors.Is(err, latch.ErrRateLimited) {
				t.Fatalf("a password change on a locked account = %v, want ErrRateLimited", err)
			}
			d.Clock.Advance(15*time.Minute + time.Second)
			if _, err := d.Login(ctx, latch.LoginRequest{Email: addr, Password: pw, Mode: latch.KindSession}); err != nil {
				t.Fatalf("login after the window = %v, want it to succeed", err)
			}
		})
	}

	t.Run("unknown addresses lock too, telling nothing", func(t *testing.T) {
		d := newDomain(t)
		for range 5 {
			_, err := d.Login(ctx, latch.LoginRequest{Email: "nobody@example.com", Password: "whatever-pass-1", Mode: latch.KindSession})
			if !errors.Is(err, latch.ErrInvalidCredentials) {
				t.Fatalf("unknown address = %v, want ErrInvalidCredentials", err)
			}
		}
		_, err := d.Login(ctx, latch.LoginRequest{Email: "nobody@example.com", Password: "whatever-pass-1", Mode: latch.KindSession})
		if !errors.Is(err, latch.ErrRateLimited) {
			t.Fatalf("sixth attempt on an unknown address = %v, want ErrRateLimited", err)
		}
	})

	t.Run("a success clears the count", func(t *testing.T) {
		d := newDomain(t)
		d.signup(t, addr, pw)
		for range 4 {
			_, _ = d.Login(ctx, latch.LoginRequest{Email: addr, Password: "wrong-passphrase", Mode: latch.KindSession})
		}
		d.login(t, addr, pw, latch.KindSession)
		for range 4 {
			_, _ = d.Login(ctx, latch.LoginRequest{Email: addr, Password: "wrong-passphrase", Mode: latch.KindSession})
		}
		d.login(t, addr, pw, latch.KindSession) // 8 failures, never 5 in a row
	})
}

// gatedHasher counts the comparisons that reach the hasher and holds each
// at gate (when set) first.
type gatedHasher struct {
	latch.PasswordHasher
	compares atomic.Int64
	gate     func()
}

func (h *gatedHasher) Compare(ctx context.Context, phc, password string) (bool, bool, error) {
	h.compares.Add(1)
	if h.gate != nil {
		h.gate()
	}
	return h.PasswordHasher.Compare(ctx, phc, password)
}

// holdUntil returns a gate that holds every comparison until n have
// arrived, or until none has arrived for quiet: so that concurrent guesses
// that can reach the hasher together do, whatever the scheduler does.
func holdUntil(n int64, quiet time.Duration) (gate func(), release func()) {
	var arrived atomic.Int64
	all := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(all) }) }
	kick := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-all:
				return
			case <-kick:
			case <-time.After(quiet):
				if arrived.Load() > 0 {
					open()
					return
				}
			}
		}
	}()
	return func() {
		if arrived.Add(1) >= n {
			open()
		}
		select {
		case kick <- struct{}{}:
		default:
		}
		<-all
	}, open
}

// Concurrent guesses at one account: the failures plus the guesses in
// flight never exceed --login-max-failures (5 here), so a flood of wrong
// passwords gets exactly 5 hashed before the lock, while right passwords
// that arrive together all get in.
func TestService_LockoutConcurrent(t *testing.T) {
	ctx := context.Background()
	const addr, pw = "flood@example.com", "flood-passphrase-1"
	gated := func(t *testing.T) (*domain, *gatedHasher) {
		h := &gatedHasher{PasswordHasher: cheapHasher(t)}
		d := newDomain(t, withDeps(func(d *latch.Deps) { d.Hasher = h }))
		d.signup(t, addr, pw)
		return d, h
	}
	login := func(d *domain, password string) error {
		_, err := d.Login(ctx, latch.LoginRequest{Email: addr, Password: password, Mode: latch.KindSession})
		return err
	}

	t.Run("a flood of wrong passwords hashes at most max-failures", func(t *testing.T) {
		const k = 100
		d, h := gated(t)
		gate, release := holdUntil(k, 200*time.Millisecond)
		defer release()
		h.gate = gate
		before := h.compares.Load()
		var invalid, limited atomic.Int64
		var wg sync.WaitGroup
		for range k {
			wg.Go(func() {
				switch err := login(d, "wrong-passphrase"); {
				case errors.Is(err, latch.ErrInvalidCredentials):
					invalid.Add(1)
				case errors.Is(err, latch.ErrRateLimited):
					limited.Add(1)
				default:
					t.Errorf("a wrong password in the flood = %v, want invalid credentials or rate limited", err)
				}
			})
		}
		wg.Wait()
		if got := h.compares.Load() - before; got != 5 {
			t.Errorf("%d concurrent wrong passwords reached the hasher %d times, want 5 (--login-max-failures)", k, got)
		}
		if invalid.Load() != 5 || limited.Load() != k-5 {
			t.Errorf("%d invalid credentials and %d rate limited, want 5 and %d", invalid.Load(), limited.Load(), k-5)
		}
		if wait, err := d.Throttle.Locked(ctx, addr, d.Clock.Now()); err != nil || wait != 15*time.Minute {
			t.Errorf("Locked after the flood = %v, %v; want 15m", wait, err)
		}
		h.gate = nil
		var rl *latch.RateLimitError
		if err := login(d, pw); !errors.As(err, &rl) || rl.RetryAfter != 15*time.Minute {
			t.Errorf("the right password after the flood = %v, want locked for 15m", err)
		}
	})

	t.Run("concurrent right passwords all get in", func(t *testing.T) {
		const k = 20
		d, h := gated(t)
		before := h.compares.Load()
		var wg sync.WaitGroup
		for range k {
			wg.Go(func() {
				if err := login(d, pw); err != nil {
					t.Errorf("a right password among %d concurrent = %v, want a session", k, err)
				}
			})
		}
		wg.Wait()
		if got := h.compares.Load() - before; got != k {
			t.Errorf("%d logins hashed %d times, want %d", k, got, k)
		}
	})

	// Failures recorded before, wrong guesses held at the hasher, then the
	// right password: it gets a slot when one is left, and waits for the
	// guesses in flight when none is, refused only if they lock the account.
	for _, c := range []struct {
		name               string
		recorded, inFlight int
		advance            time.Duration // the clock moves while the guesses are held
		wantLocked         bool
	}{
		{"a slot left: the right password gets in at once", 2, 2, 0, false},
		{"no slot left: it waits, and is refused because they lock", 3, 2, 0, true},
		{"no slot left: it waits, and gets in when they fail short of the lock", 2, 3, 15 * time.Minute, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, h := gated(t)
			for range c.recorded {
				if err := d.Throttle.RecordFailure(ctx, addr, d.Clock.Now()); err != nil {
					t.Fatal(err)
				}
			}
			held := make(chan struct{}, c.inFlight)
			release := make(chan struct{})
			h.gate = func() { held <- struct{}{}; <-release }
			var wg sync.WaitGroup
			for range c.inFlight {
				wg.Go(func() {
					if err := login(d, "wrong-passphrase"); !errors.Is(err, latch.ErrInvalidCredentials) {
						t.Errorf("a wrong password in flight = %v, want invalid credentials", err)
					}
				})
			}
			for range c.inFlight {
				<-held
			}
			right := make(chan error, 1)
			go func() { right <- login(d, pw) }()
			if c.recorded+c.inFlight < 5 {
				<-held // it reached the hasher while the others are held
				close(release)
			} else {
				select {
				case err := <-right:
					t.Fatalf("the right password with every slot in flight answered at once: %v", err)
				case <-held:
					t.Fatal("the right password reached the hasher with every slot in flight")
				case <-time.After(100 * time.Millisecond):
				}
				h.gate = func() {} // what comes after runs freely
				d.Clock.Advance(c.advance)
				close(release)
			}
			err := <-right
			wg.Wait()
			switch {
			case c.wantLocked && !errors.Is(err, latch.ErrRateLimited):
				t.Errorf("the right password after the guesses in flight locked the account = %v, want rate limited", err)
			case !c.wantLocked && err != nil:
				t.Errorf("the right password = %v, want a session", err)
			}
			if wait, _ := d.Throttle.Locked(ctx, addr, d.Clock.Now()); (wait > 0) != c.wantLocked {
				t.Errorf("Locked afterwards = %v, want locked %v", wait, c.wantLocked)
			}
		})
	}
}

// admittingHasher is a hasher whose admission check (latch.HashAdmitter)
// the test shuts and opens, counting the comparisons that reach it.
type admittingHasher struct {
	latch.PasswordHasher
	shut     atomic.Bool
	compares atomic.Int64
}

func (h *admittingHasher) Admit() error {
	if h.shut.Load() {
		return &latch.RateLimitError{RetryAfter: 3 * time.Second}
	}
	return nil
}

func (h *admittingHasher) Compare(ctx context.Context, phc, password string) (bool, bool, error) {
	h.compares.Add(1)
	return h.PasswordHasher.Compare(ctx, phc, password)
}

// refusingHasher admits every login but refuses its comparison, as the
// hasher does when its queue filled after admission or a slot did not come
// within its wait, while refuse is set.
type refusingHasher struct {
	latch.PasswordHasher
	refuse atomic.Bool
}

func (h *refusingHasher) Admit() error { return nil }

func (h *refusingHasher) Compare(ctx context.Context, phc, password string) (bool, bool, error) {
	if h.refuse.Load() {
		return false, false, fmt.Errorf("no hashing slot: %w", &latch.RateLimitError{RetryAfter: time.Second})
	}
	return h.PasswordHasher.Compare(ctx, phc, password)
}

// The audit trail tells a refused login's two reasons apart, though both
// answer 429 with Retry-After: the account locked by its failures is
// "locked"; latch too busy hashing (the hasher refusing, at admission or
// at the comparison) is "rate_limited", and counts no failure.
func TestService_LoginRefusalOutcomes(t *testing.T) {
	ctx := context.Background()
	h := &refusingHasher{PasswordHasher: cheapHasher(t)}
	var mu sync.Mutex
	var last latch.Event
	d := newDomain(t, withDeps(func(dp *latch.Deps) {
		dp.Hasher = h
		dp.OnEvent = func(_ context.Context, e latch.Event) {
			if e.Kind == latch.EventLogin {
				mu.Lock()
				last = e
				mu.Unlock()
			}
		}
	}))
	for _, c := range []struct {
		name, addr string
		before     func(addr string) // what happened to the account first
		refuse     bool
		want       string
	}{
		{"the hasher refuses the comparison", "busy@example.com", func(string) {}, true, latch.OutcomeRateLimited},
		{"the hasher refuses after four failures", "busy4@example.com", func(addr string) {
			for range 4 {
				_, _ = d.Login(ctx, latch.LoginRequest{Email: addr, Password: "wrong-passphrase", Mode: latch.KindSession})
			}
		}, true, latch.OutcomeRateLimited},
		{"the account is locked by its failures", "locked@example.com", func(addr string) {
			for range 5 {
				_, _ = d.Login(ctx, latch.LoginRequest{Email: addr, Password: "wrong-passphrase", Mode: latch.KindSession})
			}
		}, false, latch.OutcomeLocked},
	} {
		t.Run(c.name, func(t *testing.T) {
			const pw = "refusal-passphrase-1"
			d.signup(t, c.addr, pw)
			c.before(c.addr)
			h.refuse.Store(c.refuse)
			_, err := d.Login(ctx, latch.LoginRequest{Email: c.addr, Password: pw, Mode: latch.KindSession})
			h.refuse.Store(false)
			var rl *latch.RateLimitError
			if !errors.As(err, &rl) || rl.RetryAfter <= 0 {
				t.Fatalf("login = %v, want a RateLimitError with a Retry-After", err)
			}
			mu.Lock()
			got := last
			mu.Unlock()
			if got.Outcome != c.want || got.UserID == "" {
				t.Errorf("login event %+v, want outcome %q with the account named", got, c.want)
			}
			if !c.refuse {
				return
			}
			// The hasher's refusal counted no failure: the right password
			// logs in once it admits again, even after four wrong ones.
			if _, err := d.Login(ctx, latch.LoginRequest{Email: c.addr, Password: pw, Mode: latch.KindSession}); err != nil {
				t.Errorf("login once the hasher admits again = %v", err)
			}
		})
	}
}

// countingUsers counts the lookups of an account by address.
type countingUsers struct {
	latch.UserStore
	byEmail atomic.Int64
}

func (u *countingUsers) UserByEmail(ctx context.Context, email string) (*latch.User, error) {
	u.byEmail.Add(1)
	return u.UserStore.UserByEmail(ctx, email)
}

// A login that the hasher would refuse at once (a flood: every slot busy,
// the queue full) is refused before the account is read or a slot of its
// lockout taken, with the hasher's own error, alike for a known and an
// unknown address; once the hasher admits again, logins go on as before,
// with no failure counted meanwhile.
func TestService_LoginRefusedBeforeTheAccount(t *testing.T) {
	ctx := context.Background()
	const addr, pw = "admit@example.com", "admit-passphrase-1"
	h := &admittingHasher{PasswordHasher: cheapHasher(t)}
	users := &countingUsers{}
	var mu sync.Mutex
	var events []latch.Event
	d := newDomain(t, withDeps(func(dp *latch.Deps) {
		dp.Hasher = h
		users.UserStore = dp.Users
		dp.Users = users
		dp.OnEvent = func(_ context.Context, e latch.Event) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, e)
		}
	}))
	d.signup(t, addr, pw)

	h.shut.Store(true)
	lookups, compares := users.byEmail.Load(), h.compares.Load()
	mu.Lock()
	events = nil
	mu.Unlock()
	for i, c := range []struct{ email, password string }{
		{addr, pw}, {addr, "wrong-passphrase"}, {"nobody@example.com", "wrong-passphrase"}, {"not an address", pw},
	} {
		for range 6 { // more than the lockout's 5 failures
			_, err := d.Login(ctx, latch.LoginRequest{Email: c.email, Password: c.password, Mode: latch.KindSession})
			var rl *latch.RateLimitError
			if !errors.As(err, &rl) || rl.RetryAfter != 3*time.Second {
				t.Fatalf("case %d: login while the hasher refuses = %v, want its RateLimitError (Retry-After 3 s)", i, err)
			}
		}
	}
	if n := users.byEmail.Load() - lookups; n != 0 {
		t.Errorf("%d account lookups while the hasher refused, want 0", n)
	}
	if n := h.compares.Load() - compares; n != 0 {
		t.Errorf("%d comparisons while the hasher refused, want 0", n)
	}
	mu.Lock()
	for _, e := range events {
		if e.Kind != latch.EventLogin || e.Outcome != latch.OutcomeRateLimited || e.UserID != "" {
			t.Errorf("event %+v, want a login refused as rate limited (the hasher's refusal, not a lockout) with no account named", e)
		}
	}
	if len(events) != 24 {
		t.Errorf("%d events for 24 refused logins", len(events))
	}
	mu.Unlock()

	h.shut.Store(false)
	if _, err := d.Login(ctx, latch.LoginRequest{Email: addr, Password: "wrong-passphrase", Mode: latch.KindSession}); !errors.Is(err, latch.ErrInvalidCredentials) {
		t.Fatalf("a wrong password once admitted = %v, want invalid credentials", err)
	}
	d.login(t, addr, pw, latch.KindSession) // no lockout was spent by the refusals
}
