package password_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/password"
)

// fast are parameters small enough to keep tests quick; only the tests that
// say so use the defaults.
var fast = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func MustNew(t testing.TB, cfg password.Config) *password.Hasher {
	t.Helper()
	h, err := password.New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return h
}

func MustHash(t testing.TB, h *password.Hasher, pw string) string {
	t.Helper()
	phc, err := h.Hash(context.Background(), pw)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	return phc
}

// waitFor polls cond until it holds, failing the test after 10 s. It only
// yields between polls: the conditions it waits for are a few goroutine
// switches away.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// gate is an inside hook that blocks every computation until opened and
// records how many run at once.
type gate struct {
	open     chan struct{}
	entered  atomic.Int64
	inFlight atomic.Int64
	high     atomic.Int64
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

func (g *gate) inside() {
	n := g.inFlight.Add(1)
	for {
		m := g.high.Load()
		if n <= m || g.high.CompareAndSwap(m, n) {
			break
		}
	}
	g.entered.Add(1)
	<-g.open
	g.inFlight.Add(-1)
}

func TestHasher_HashCompare(t *testing.T) {
	h := MustNew(t, password.Config{Params: fast})
	ctx := context.Background()
	for _, pw := range []string{
		"correct horse battery staple",
		"pässwörd-ünïcode-🔑",
		"  spaces kept  ",
		strings.Repeat("x", latch.MaxPasswordBytes),
		"", // policy is Policy's job; Hash hashes whatever it is given
	} {
		t.Run(fmt.Sprintf("len%d", len(pw)), func(t *testing.T) {
			phc := MustHash(t, h, pw)
			if want := "$argon2id$v=19$m=64,t=1,p=1$"; !strings.HasPrefix(phc, want) {
				t.Fatalf("Hash = %q, want prefix %q", phc, want)
			}
			ok, rehash, err := h.Compare(ctx, phc, pw)
			if err != nil || !ok || rehash {
				t.Fatalf("Compare(right) = %v, %v, %v; want true, false, nil", ok, rehash, err)
			}
			// Exactly as received: no trimming, no truncation, no case folding.
			for _, wrong := range []string{pw + "x", strings.TrimSpace(pw), strings.ToUpper(pw), pw[:len(pw)/2]} {
				if wrong == pw {
					continue
				}
				ok, rehash, err := h.Compare(ctx, phc, wrong)
				if err != nil || ok || rehash {
					t.Errorf("Compare(%.20q) = %v, %v, %v; want false, false, nil", wrong, ok, rehash, err)
				}
			}
		})
	}
	t.Run("fresh salt", func(t *testing.T) {
		if a, b := MustHash(t, h, "same password"), MustHash(t, h, "same password"); a == b {
			t.Fatalf("two hashes of one password are equal: %q", a)
		}
	})
}

func TestHasher_overlong(t *testing.T) {
	var observed atomic.Int64
	h := MustNew(t, password.Config{Params: fast, Observe: func(time.Duration) { observed.Add(1) }})
	long := strings.Repeat("a", latch.MaxPasswordBytes+1)

	_, err := h.Hash(context.Background(), long)
	if !errors.Is(err, latch.ErrWeakPassword) {
		t.Fatalf("Hash(1025 bytes) err = %v, want ErrWeakPassword", err)
	}
	if strings.Contains(err.Error(), long[:16]) {
		t.Fatalf("error echoes the password: %v", err)
	}
	phc := MustHash(t, h, long[:latch.MaxPasswordBytes])
	observed.Store(0)
	ok, rehash, err := h.Compare(context.Background(), phc, long)
	if err != nil || ok || rehash {
		t.Fatalf("Compare(1025 bytes) = %v, %v, %v; want false, false, nil", ok, rehash, err)
	}
	if n := observed.Load(); n != 0 {
		t.Fatalf("Compare(1025 bytes) ran argon2 %d times, want 0", n)
	}
}

func TestHasher_Compare_malformed(t *testing.T) {
	h := MustNew(t, password.Config{Params: fast})
	good := MustHash(t, h, "a good password")
	f := strings.Split(good, "$") // "", "argon2id", "v=19", "m=64,t=1,p=1", salt, hash
	salt, hash := f[4], f[5]
	b := func(n int) string { return base64.RawStdEncoding.EncodeToString(make([]byte, n)) }
	with := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + hash }

	tests := []struct{ name, phc string }{
		{"empty", ""},
		{"plain text", "a good password"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + hash},
		{"argon2d", "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + hash},
		{"variant case", "$Argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + hash},
		{"version 16", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + hash},
		{"no version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + hash},
		{"no leading $", good[1:]},
		{"trailing $", good + "$"},
		{"extra field", good + "$AAAA"},
		{"trailing newline", good + "\n"},
		{"newline inside the hash", good[:len(good)-10] + "\r\n" + good[len(good)-10:]},
		{"newline inside the salt", "$argon2id$v=19$m=64,t=1,p=1$" + salt[:4] + "\n" + salt[4:] + "$" + hash},
		{"parameters reordered", with("t=1,m=64,p=1")},
		{"parameter missing", with("m=64,t=1")},
		{"parameter extra", with("m=64,t=1,p=1,keyid=abc")},
		{"parameter empty", with("m=,t=1,p=1")},
		{"parameter spaces", with("m=64, t=1, p=1")},
		{"leading zero", with("m=064,t=1,p=1")},
		{"sign", with("m=+64,t=1,p=1")},
		{"negative", with("m=64,t=-1,p=1")},
		{"hex", with("m=0x40,t=1,p=1")},
		{"underscore", with("m=6_4,t=1,p=1")},
		{"memory wraps uint32", with("m=4294967360,t=1,p=1")},
		{"memory over 1 GiB", with("m=1048577,t=1,p=1")},
		{"memory huge", with("m=99999999999999999999,t=1,p=1")},
		{"memory below 8p", with("m=7,t=1,p=1")},
		{"memory below 8p, p=4", with("m=31,t=1,p=4")},
		{"time 0", with("m=64,t=0,p=1")},
		{"time over 100", with("m=64,t=101,p=1")},
		{"time huge", with("m=64,t=1000000,p=1")},
		{"threads 0", with("m=64,t=1,p=0")},
		{"threads over 64", with("m=1024,t=1,p=65")},
		{"threads wraps uint8", with("m=64,t=1,p=257")},
		{"salt empty", "$argon2id$v=19$m=64,t=1,p=1$$" + hash},
		{"salt 7 bytes", "$argon2id$v=19$m=64,t=1,p=1$" + b(7) + "$" + hash},
		{"salt 65 bytes", "$argon2id$v=19$m=64,t=1,p=1$" + b(65) + "$" + hash},
		{"salt padded", "$argon2id$v=19$m=64,t=1,p=1$" + base64.StdEncoding.EncodeToString(make([]byte, 16)) + "$" + hash},
		{"salt url alphabet", "$argon2id$v=19$m=64,t=1,p=1$" + strings.Repeat("_", 22) + "$" + hash},
		{"salt not canonical", "$argon2id$v=19$m=64,t=1,p=1$" + strings.Repeat("A", 21) + "B" + "$" + hash},
		{"hash empty", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$"},
		{"hash 15 bytes", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + b(15)},
		{"hash 65 bytes", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + b(65)},
		{"hash not base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("*", 43)},
		{"too long", good + strings.Repeat("A", 300)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Compare(context.Background(), tt.phc, "a good password")
			if !errors.Is(err, password.ErrMalformedHash) || ok || rehash {
				t.Fatalf("Compare = %v, %v, %v; want false, false, ErrMalformedHash", ok, rehash, err)
			}
			if _, err := password.ParseParams(tt.phc); !errors.Is(err, password.ErrMalformedHash) {
				t.Fatalf("ParseParams err = %v, want ErrMalformedHash", err)
			}
		})
	}
}

func TestHasher_Compare_rehash(t *testing.T) {
	ctx := context.Background()
	stored := MustHash(t, MustNew(t, password.Config{Params: fast}), "a good password")
	with := func(f func(*password.Params)) password.Params {
		p := fast
		f(&p)
		return p
	}
	tests := []struct {
		name    string
		current password.Params
		want    bool
	}{
		{"same", fast, false},
		{"memory up", with(func(p *password.Params) { p.Memory = 128 }), true},
		{"time up", with(func(p *password.Params) { p.Time = 2 }), true},
		{"key longer", with(func(p *password.Params) { p.KeyLen = 64 }), true},
		{"salt longer", with(func(p *password.Params) { p.SaltLen = 32 }), true},
		{"threads up", with(func(p *password.Params) { p.Threads = 2 }), false},
		{"memory down", with(func(p *password.Params) { p.Memory = 32 }), false},
		{"key shorter", with(func(p *password.Params) { p.KeyLen = 16 }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := MustNew(t, password.Config{Params: tt.current})
			ok, rehash, err := h.Compare(ctx, stored, "a good password")
			if err != nil || !ok || rehash != tt.want {
				t.Fatalf("Compare = %v, %v, %v; want true, %v, nil", ok, rehash, err, tt.want)
			}
			// A wrong password never asks for a rehash: there is nothing to rehash.
			ok, rehash, err = h.Compare(ctx, stored, "a wrong password")
			if err != nil || ok || rehash {
				t.Fatalf("Compare(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
		})
	}
}

// TestHasher_defaults runs the production parameters once.
func TestHasher_defaults(t *testing.T) {
	h := MustNew(t, password.Config{})
	if got, want := h.Params(), password.DefaultParams(); got != want {
		t.Fatalf("Params() = %+v, want %+v", got, want)
	}
	if p := h.Params(); p.Memory < 19*1024 || p.Time < 2 || p.Threads != 1 {
		t.Fatalf("defaults %+v below SECURITY.md 39 (m ≥ 19 MiB, t ≥ 2, p = 1)", p)
	}
	phc := MustHash(t, h, "a good password")
	if want := "$argon2id$v=19$m=19456,t=2,p=1$"; !strings.HasPrefix(phc, want) {
		t.Fatalf("Hash = %q, want prefix %q", phc, want)
	}
	if p, err := password.ParseParams(phc); err != nil || p != password.DefaultParams() {
		t.Fatalf("ParseParams(Hash) = %+v, %v; want %+v", p, err, password.DefaultParams())
	}
	ok, rehash, err := h.Compare(context.Background(), phc, "a good password")
	if err != nil || !ok || rehash {
		t.Fatalf("Compare = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	ok, _, err = h.Compare(context.Background(), h.Dummy(), "a good password")
	if err != nil || ok {
		t.Fatalf("Compare(Dummy) = %v, %v; want false, nil", ok, err)
	}
}

// TestHasher_reference checks a test vector of the reference implementation
// (echo -n password | argon2 somesalt -id -t 2 -m 16 -p 1 -e), so latch reads
// PHC strings as others write them.
func TestHasher_reference(t *testing.T) {
	const phc = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	h := MustNew(t, password.Config{Params: fast})
	// Its 8-byte salt is shorter than the current 16, hence the rehash.
	ok, rehash, err := h.Compare(context.Background(), phc, "password")
	if err != nil || !ok || !rehash {
		t.Fatalf("Compare(reference) = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
	ok, _, err = h.Compare(context.Background(), phc, "Password")
	if err != nil || ok {
		t.Fatalf("Compare(reference, wrong) = %v, %v; want false, nil", ok, err)
	}
}

func TestHasher_Dummy(t *testing.T) {
	var observed atomic.Int64
	h := MustNew(t, password.Config{Params: fast, Observe: func(d time.Duration) {
		if d <= 0 {
			t.Errorf("Observe(%v), want a positive duration", d)
		}
		observed.Add(1)
	}})
	d := h.Dummy()
	if h.Dummy() != d {
		t.Fatal("Dummy changes between calls")
	}
	// Same parameters as a real hash, so Compare does the same work.
	if p, err := password.ParseParams(d); err != nil || p != h.Params() {
		t.Fatalf("ParseParams(Dummy) = %+v, %v; want %+v", p, err, h.Params())
	}
	for _, pw := range []string{"", "password", "a good password", d} {
		observed.Store(0)
		ok, rehash, err := h.Compare(context.Background(), d, pw)
		if err != nil || ok || rehash {
			t.Fatalf("Compare(Dummy, %q) = %v, %v, %v; want false, false, nil", pw, ok, rehash, err)
		}
		if n := observed.Load(); n != 1 {
			t.Fatalf("Compare(Dummy) ran argon2 %d times, want 1", n)
		}
	}
	if other := MustNew(t, password.Config{Params: fast}).Dummy(); other == d {
		t.Fatal("two Hashers share a dummy; its salt should be random")
	}
}

func TestHasher_concurrencyCap(t *testing.T) {
	for _, limit := range []int{1, 2} {
		t.Run(fmt.Sprintf("cap %d", limit), func(t *testing.T) {
			const n = 8
			g := newGate()
			h := MustNew(t, password.Config{Params: fast, MaxConcurrent: limit, MaxWait: time.Minute})
			password.SetInside(h, g.inside)

			errs := make(chan error, n)
			for i := range n {
				go func() {
					var err error
					if i%2 == 0 {
						_, err = h.Hash(context.Background(), "a good password")
					} else {
						// Compare shares the slots with Hash.
						_, _, err = h.Compare(context.Background(), h.Dummy(), "a good password")
					}
					errs <- err
				}()
			}
			// Once all n callers are either computing or queued, exactly
			// limit of them must be computing.
			waitFor(t, "callers to fill the slots and the queue", func() bool {
				return g.entered.Load() == int64(limit) && h.Waiting() == n-limit
			})
			if got := g.inFlight.Load(); got != int64(limit) {
				t.Fatalf("%d computations at once, want %d", got, limit)
			}
			close(g.open)
			for range n {
				if err := <-errs; err != nil {
					t.Fatalf("Hash/Compare: %v", err)
				}
			}
			if got := g.high.Load(); got != int64(limit) {
				t.Fatalf("high-water mark %d, want %d", got, limit)
			}
		})
	}
}

// holdSlot starts a Hash that holds h's only slot until the returned release
// is called, and waits until it does hold it.
func holdSlot(t *testing.T, h *password.Hasher) (g *gate, release func()) {
	t.Helper()
	g = newGate()
	password.SetInside(h, g.inside)
	done := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), "the holder")
		done <- err
	}()
	waitFor(t, "the holder to take the slot", func() bool { return g.entered.Load() == 1 })
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(g.open)
			if err := <-done; err != nil {
				t.Errorf("holder: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return g, release
}

func wantRateLimited(t *testing.T, err error, retryAfter time.Duration) {
	t.Helper()
	if !errors.Is(err, latch.ErrRateLimited) {
		t.Fatalf("err = %v, want ErrRateLimited", err)
	}
	var rl *latch.RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter != retryAfter {
		t.Fatalf("err = %#v, want a *latch.RateLimitError with RetryAfter %v", err, retryAfter)
	}
}

func TestHasher_queueFull(t *testing.T) {
	h := MustNew(t, password.Config{Params: fast, MaxConcurrent: 1, MaxQueue: 1, MaxWait: time.Minute})
	_, release := holdSlot(t, h)

	waiter := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), "the waiter")
		waiter <- err
	}()
	waitFor(t, "the waiter to queue", func() bool { return h.Waiting() == 1 })

	// The queue is full: both fail at once rather than after MaxWait.
	_, err := h.Hash(context.Background(), "one too many")
	wantRateLimited(t, err, time.Second)
	_, _, err = h.Compare(context.Background(), h.Dummy(), "one too many")
	wantRateLimited(t, err, time.Second)

	release()
	if err := <-waiter; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	if n := h.Waiting(); n != 0 {
		t.Fatalf("Waiting = %d after everyone left, want 0", n)
	}
}

// TestHasher_Admit: Admit refuses exactly when a Hash would be refused at
// once (every slot busy and the queue full), with the same error, counts
// that refusal, and takes nothing.
func TestHasher_Admit(t *testing.T) {
	var w waits
	h := MustNew(t, password.Config{Params: fast, MaxConcurrent: 1, MaxQueue: 1, MaxWait: time.Minute,
		RetryAfter: 3 * time.Second, ObserveWait: w.observe})
	if err := h.Admit(); err != nil {
		t.Fatalf("Admit with a free slot = %v, want nil", err)
	}
	_, release := holdSlot(t, h)
	if err := h.Admit(); err != nil {
		t.Fatalf("Admit with the slot busy and the queue empty = %v, want nil", err)
	}
	waiter := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), "the waiter")
		waiter <- err
	}()
	waitFor(t, "the waiter to queue", func() bool { return h.Waiting() == 1 })
	w.mu.Lock()
	before := w.refused
	w.mu.Unlock()
	wantRateLimited(t, h.Admit(), 3*time.Second)
	w.mu.Lock()
	if w.refused != before+1 {
		t.Errorf("refusals observed %d → %d, want one more", before, w.refused)
	}
	w.mu.Unlock()
	if h.Busy() != 1 || h.Waiting() != 1 {
		t.Fatalf("Busy %d, Waiting %d after a refused Admit; want 1, 1 (it takes nothing)", h.Busy(), h.Waiting())
	}
	release()
	if err := <-waiter; err != nil {
		t.Fatal(err)
	}
	if err := h.Admit(); err != nil {
		t.Fatalf("Admit after everyone left = %v, want nil", err)
	}
}

func TestHasher_maxWait(t *testing.T) {
	const maxWait = 20 * time.Millisecond
	h := MustNew(t, password.Config{Params: fast, MaxConcurrent: 1, MaxWait: maxWait, RetryAfter: 3 * time.Second})
	holdSlot(t, h)

	start := time.Now()
	_, err := h.Hash(context.Background(), "a good password")
	wantRateLimited(t, err, 3*time.Second)
	if d := time.Since(start); d < maxWait {
		t.Fatalf("gave up after %v, before MaxWait %v", d, maxWait)
	}
	if n := h.Waiting(); n != 0 {
		t.Fatalf("Waiting = %d after the timeout, want 0", n)
	}
}

func TestHasher_contextCanceled(t *testing.T) {
	t.Run("while waiting", func(t *testing.T) {
		h := MustNew(t, password.Config{Params: fast, MaxConcurrent: 1, MaxWait: time.Minute})
		holdSlot(t, h)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, _, err := h.Compare(ctx, h.Dummy(), "a good password")
			done <- err
		}()
		waitFor(t, "the waiter to queue", func() bool { return h.Waiting() == 1 })
		cancel()
		err := <-done
		if !errors.Is(err, context.Canceled) || errors.Is(err, latch.ErrRateLimited) {
			t.Fatalf("err = %v, want context.Canceled only", err)
		}
	})
	t.Run("before starting", func(t *testing.T) {
		var observed atomic.Int64
		h := MustNew(t, password.Config{Params: fast, Observe: func(time.Duration) { observed.Add(1) }})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := h.Hash(ctx, "a good password"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Hash err = %v, want context.Canceled", err)
		}
		if n := observed.Load(); n != 0 {
			t.Fatalf("argon2 ran %d times for a canceled context, want 0", n)
		}
	})
}

func TestNew_invalidParams(t *testing.T) {
	tests := []struct {
		name string
		p    password.Params
	}{
		{"time 0", password.Params{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"threads 0", password.Params{Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32}},
		{"memory over 1 GiB", password.Params{Memory: password.MaxMemory + 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"memory below 8p", password.Params{Memory: 15, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}},
		{"short salt", password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32}},
		{"short key", password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := password.New(password.Config{Params: tt.p}); !errors.Is(err, password.ErrInvalidParams) {
				t.Fatalf("New err = %v, want ErrInvalidParams", err)
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestHasher_randFails(t *testing.T) {
	h := MustNew(t, password.Config{Params: fast, Rand: failingReader{}})
	if phc, err := h.Hash(context.Background(), "a good password"); err == nil {
		t.Fatalf("Hash = %q with a failing Rand, want an error", phc)
	}
	// The dummy needs no secrecy, only to be well formed and unmatched.
	ok, _, err := h.Compare(context.Background(), h.Dummy(), "a good password")
	if err != nil || ok {
		t.Fatalf("Compare(Dummy) = %v, %v; want false, nil", ok, err)
	}
}

// waits records what ObserveWait receives.
type waits struct {
	mu      sync.Mutex
	got     []time.Duration // waits that ended with a slot
	refused int
}

func (w *waits) observe(d time.Duration, got bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if got {
		w.got = append(w.got, d)
	} else {
		w.refused++
	}
}

func TestHasher_ObserveWait(t *testing.T) {
	var w waits
	h := MustNew(t, password.Config{Params: fast, MaxConcurrent: 1, MaxQueue: 1, MaxWait: time.Minute, ObserveWait: w.observe})
	if _, err := h.Hash(context.Background(), "a free slot"); err != nil {
		t.Fatal(err)
	}
	_, release := holdSlot(t, h)
	if h.Busy() != 1 {
		t.Fatalf("Busy = %d while a slot is held, want 1", h.Busy())
	}
	waiter := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), "the waiter")
		waiter <- err
	}()
	waitFor(t, "the waiter to queue", func() bool { return h.Waiting() == 1 })
	_, err := h.Hash(context.Background(), "one too many") // the queue is full
	wantRateLimited(t, err, time.Second)
	release()
	if err := <-waiter; err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	// The free slot and the holder waited 0; the waiter waited; the one
	// over the queue was refused.
	if len(w.got) != 3 || w.refused != 1 {
		t.Fatalf("waits %v, refused %d; want 3 waits and 1 refusal", w.got, w.refused)
	}
	if w.got[0] != 0 || w.got[1] != 0 || w.got[2] <= 0 {
		t.Fatalf("waits %v; want 0, 0 and a measured wait", w.got)
	}
	if h.Busy() != 0 || h.Waiting() != 0 {
		t.Fatalf("Busy %d, Waiting %d after everyone left; want 0, 0", h.Busy(), h.Waiting())
	}
}
