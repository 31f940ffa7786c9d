package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latch-dev/latch"
)

var (
	_ latch.PasswordHasher = (*Hasher)(nil)
	_ latch.HashAdmitter   = (*Hasher)(nil)
)

// Config configures a [Hasher]. The zero value means the defaults.
type Config struct {
	// Params are the parameters of new hashes, and the level below which
	// Compare asks for a rehash. Zero means DefaultParams().
	Params Params
	// MaxConcurrent is how many argon2 computations may run at once, each
	// holding Params.Memory KiB. Zero means runtime.GOMAXPROCS(0) − 1 (at
	// least 1): more would not finish sooner, only use more memory, and the
	// core left over keeps every request that needs no hash fast while
	// logins flood in.
	MaxConcurrent int
	// MaxQueue is how many callers may wait for a slot; beyond it Hash and
	// Compare fail at once with ErrRateLimited. Zero means 64 × MaxConcurrent.
	MaxQueue int
	// MaxWait is how long a caller waits for a slot before it gets
	// ErrRateLimited. Zero means 2 s.
	MaxWait time.Duration
	// RetryAfter is the RetryAfter of the RateLimitError returned when no
	// slot is free in time. Zero means 1 s.
	RetryAfter time.Duration
	// Observe, when set, receives the duration of each argon2 computation
	// (not the wait for a slot), for a latency histogram. It must be cheap
	// and safe for concurrent use.
	Observe func(d time.Duration)
	// ObserveWait, when set, receives how long each Hash and Compare waited
	// for a slot (0 when one was free at once) and whether it got one: a
	// false is a caller refused with ErrRateLimited or gone (ctx ended).
	// Same rules as Observe.
	ObserveWait func(d time.Duration, got bool)
	// Rand is the source of salts. Nil means crypto/rand.Reader.
	Rand io.Reader
}

// Hasher hashes and checks passwords with argon2id and implements
// latch.PasswordHasher. Create it with [New]; it is safe for concurrent use.
type Hasher struct {
	params     Params
	slots      chan struct{} // a counting semaphore: one token per running computation
	waiting    atomic.Int64  // callers blocked on slots, bounded by maxQueue
	maxQueue   int64
	maxWait    time.Duration
	retryAfter time.Duration
	observe    func(time.Duration)
	observeW   func(time.Duration, bool)
	rand       io.Reader

	dummyOnce sync.Once
	dummy     string

	// inside, set only by tests, runs while a slot is held, just before argon2.
	inside func()
}

// New returns a Hasher configured by cfg, or an error wrapping
// [ErrInvalidParams] when cfg.Params are out of bounds (see [Params.Validate]).
func New(cfg Config) (*Hasher, error) {
	if cfg.Params == (Params{}) {
		cfg.Params = DefaultParams()
	}
	if err := cfg.Params.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxConcurrent <= 0 {
		// One core is left to everything else: measured on 2 cores under
		// 1,000 simultaneous logins, whoami's p99 was 325 ms with every
		// core hashing and 59 ms with one left free, p50 15 ms → 0.5 ms,
		// for about the same logins answered (docs/decisions.md, Login).
		cfg.MaxConcurrent = max(runtime.GOMAXPROCS(0)-1, 1)
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 64 * cfg.MaxConcurrent
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 2 * time.Second
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Second
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	return &Hasher{
		params:     cfg.Params,
		slots:      make(chan struct{}, cfg.MaxConcurrent),
		maxQueue:   int64(cfg.MaxQueue),
		maxWait:    cfg.MaxWait,
		retryAfter: cfg.RetryAfter,
		observe:    cfg.Observe,
		observeW:   cfg.ObserveWait,
		rand:       cfg.Rand,
	}, nil
}

// Params returns the parameters of new hashes.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the PHC string of password with a fresh random salt. A
// password longer than latch.MaxPasswordBytes bytes is refused with an error wrapping
// latch.ErrWeakPassword before any work. When no slot frees up within
// MaxWait, or the queue is full, the error wraps latch.ErrRateLimited (as a
// *latch.RateLimitError); when ctx ends first, it wraps ctx.Err().
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if len(password) > latch.MaxPasswordBytes {
		return "", fmt.Errorf("%w: longer than %d bytes", latch.ErrWeakPassword, latch.MaxPasswordBytes)
	}
	salt := make([]byte, h.params.SaltLen)
	if _, err := io.ReadFull(h.rand, salt); err != nil {
		return "", fmt.Errorf("password: reading salt: %w", err)
	}
	key, err := h.derive(ctx, password, salt, h.params)
	if err != nil {
		return "", err
	}
	return encodePHC(h.params, salt, key), nil
}

// Compare reports whether password matches phc, recomputing argon2id with
// the parameters phc names, and, when it matches, whether phc should be
// replaced by a new Hash because its parameters are below the current ones.
//
// A malformed phc, or one whose parameters are out of bounds, is an error
// wrapping [ErrMalformedHash], never a mismatch. A password longer than
// latch.MaxPasswordBytes bytes cannot have been hashed by Hash, so it is a mismatch found
// without running argon2: cheap to refuse, and just as cheap for an unknown
// user compared against Dummy. Waiting for a slot fails as in Hash.
func (h *Hasher) Compare(ctx context.Context, phc, password string) (ok, rehash bool, err error) {
	p, salt, want, err := parsePHC(phc)
	if err != nil {
		return false, false, err
	}
	if len(password) > latch.MaxPasswordBytes {
		return false, false, nil
	}
	got, err := h.derive(ctx, password, salt, p)
	if err != nil {
		return false, false, err
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, p.weakerThan(h.params), nil
}

// Dummy returns a PHC string with the current parameters that no password
// matches. Login compares the password of an unknown email against it, so
// that an unknown email costs the same argon2 work, and so the same time, as
// a wrong password (SECURITY.md 35).
//
// Its salt and hash are random bytes rather than the hash of some password:
// Compare does the same work either way, and random bytes are matched by no
// password short of a 2^-256 chance. They are drawn once, on first use.
func (h *Hasher) Dummy() string {
	h.dummyOnce.Do(func() {
		salt := make([]byte, h.params.SaltLen)
		key := make([]byte, h.params.KeyLen)
		// Should a custom Rand fail, zero bytes are as good: the dummy must
		// only be well formed and unmatched, never secret.
		if _, err := io.ReadFull(h.rand, salt); err != nil {
			clear(salt)
		}
		if _, err := io.ReadFull(h.rand, key); err != nil {
			clear(key)
		}
		h.dummy = encodePHC(h.params, salt, key)
	})
	return h.dummy
}

// derive runs argon2id while holding a slot, and reports its duration.
func (h *Hasher) derive(ctx context.Context, password string, salt []byte, p Params) ([]byte, error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	key, d := h.holding(password, salt, p)
	if h.observe != nil {
		h.observe(d)
	}
	return key, nil
}

// holding runs argon2id in an acquired slot and gives the slot back even if
// argon2 panics, so that a bug cannot leak slots until every login blocks.
func (h *Hasher) holding(password string, salt []byte, p Params) ([]byte, time.Duration) {
	defer func() { <-h.slots }()
	if h.inside != nil {
		h.inside()
	}
	start := time.Now()
	key := derive(password, salt, p)
	return key, time.Since(start)
}

// Admit returns nil when a Hash or Compare asked for now could get a slot
// (one is free, or the queue has room), and otherwise the error they would
// return at once: a login asks before it reads the account, so that a
// refusal under a flood costs next to nothing. A refusal is counted as one
// by ObserveWait. It implements latch.HashAdmitter.
func (h *Hasher) Admit() error {
	if len(h.slots) < cap(h.slots) || h.waiting.Load() < h.maxQueue {
		return nil
	}
	if h.observeW != nil {
		h.observeW(0, false)
	}
	return h.queueFull()
}

// queueFull is the error of a caller refused because the queue is full.
func (h *Hasher) queueFull() error {
	return fmt.Errorf("password: hashing queue full: %w", &latch.RateLimitError{RetryAfter: h.retryAfter})
}

// Waiting is how many callers wait for a slot now (the queue depth, at most
// MaxQueue), for a gauge.
func (h *Hasher) Waiting() int { return int(h.waiting.Load()) }

// Busy is how many slots run argon2 now (at most MaxConcurrent), for a gauge.
func (h *Hasher) Busy() int { return len(h.slots) }

// acquire takes a slot, waiting at most maxWait and only while fewer than
// maxQueue others wait: under a burst, a fast 429 is better for everyone than
// a queue that only grows while clients time out.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("password: %w", err)
	}
	select {
	case h.slots <- struct{}{}:
		if h.observeW != nil {
			h.observeW(0, true)
		}
		return nil
	default:
	}
	if h.observeW == nil {
		return h.wait(ctx)
	}
	start := time.Now()
	err := h.wait(ctx)
	h.observeW(time.Since(start), err == nil)
	return err
}

// wait queues for a slot (acquire's slow path).
func (h *Hasher) wait(ctx context.Context) error {
	if h.waiting.Add(1) > h.maxQueue {
		h.waiting.Add(-1)
		return h.queueFull()
	}
	defer h.waiting.Add(-1)
	t := time.NewTimer(h.maxWait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("password: waiting for a hashing slot: %w", ctx.Err())
	case <-t.C:
		return fmt.Errorf("password: no hashing slot within %v: %w", h.maxWait, &latch.RateLimitError{RetryAfter: h.retryAfter})
	}
}
