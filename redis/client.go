package redis

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Timeouts are short on purpose: a Redis that does not answer is noticed
// within half a second, and latch then answers from the database instead
// of making every request wait for a dead server.
const (
	dialTimeout  = 300 * time.Millisecond
	ioTimeout    = 400 * time.Millisecond
	poolTimeout  = 500 * time.Millisecond
	writeTimeout = time.Second // budget of one invalidation, detached from the request

	// healthEvery is how often the health loop pings, so that an outage
	// and a recovery are both noticed without traffic.
	healthEvery = 250 * time.Millisecond
	// recoveryTimeout bounds one run of the recovery tasks (flushing the
	// session copies, refilling the revocation set).
	recoveryTimeout = 30 * time.Second
)

// errUnreachable is returned by the Bus while the health loop considers
// Redis down, instead of waiting for a dial that will time out.
var errUnreachable = errors.New("redis: unreachable")

// Option configures Open.
type Option func(*options)

type options struct {
	prefix string
	logger *slog.Logger
}

// WithPrefix sets the first part of every key and channel name (default
// "latch"), so that test runs and independent latch groups sharing one
// Redis never see each other's data. Letters, digits, '_', '-' and '.'
// only: braces would break the hash tags, ':' the key scheme, and glob
// characters the SCAN that flushes session copies.
func WithPrefix(prefix string) Option { return func(o *options) { o.prefix = prefix } }

// WithLogger sets where outages and recoveries are logged (default: nowhere).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Client is a connection to Redis (single node, Sentinel or Cluster) with a
// health loop. It hands out the decorators and adapters of this package,
// which share its view of whether Redis can be trusted.
//
// Health has two levels. Reachable: the last command or PING succeeded;
// the Bus, LoginThrottle and RateLimiter use Redis then. Trusted, per
// decorator: Redis is reachable and the decorator's recovery task (flushing
// the session copies, refilling the revocation set) has completed since
// the last failure. Every failure, and every write that had to skip Redis,
// bumps an epoch that invalidates completed tasks, so a recovery that raced
// a missed write runs again.
type Client struct {
	rdb    goredis.UniversalClient
	prefix string
	log    *slog.Logger
	// instance tells this client's throttle entries from other instances'.
	instance string

	reachable atomic.Bool
	epoch     atomic.Uint64

	mu    sync.Mutex
	tasks []*recovery

	kick      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// recovery is work that must complete after every failure before a
// decorator trusts Redis again.
type recovery struct {
	name string
	run  func(ctx context.Context) error
	done atomic.Uint64 // epoch+1 at which run last completed; 0: never
}

// Open parses url, connects and starts the health loop. The forms are:
//
//	redis://[user:pass@]host[:port][/N]                      one node, database N
//	redis+sentinel://[user:pass@]h1[:p1],h2[:p2][/N]?master=NAME
//	                                                          Sentinel (user:pass for the master;
//	                                                          sentinel_password=… for the sentinels)
//	redis+cluster://[user:pass@]h1[:p1],h2[:p2],…            Cluster seed nodes; no database index
//
// The rediss schemes (rediss://, rediss+sentinel://, rediss+cluster://)
// connect with TLS. Ports default to 6379 (26379 for sentinels). Reserved
// characters in user or password are percent-encoded.
//
// A malformed URL (ParseURL's errors) or option is an error. An
// unreachable Redis is not: the client starts unhealthy and recovers by
// itself, since latch runs on its database alone meanwhile (check Healthy
// or Ping to decide otherwise).
func Open(ctx context.Context, rawURL string, opts ...Option) (*Client, error) {
	o := options{prefix: "latch", logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if err := validPrefix(o.prefix); err != nil {
		return nil, err
	}
	uo, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	uo.DialTimeout, uo.ReadTimeout, uo.WriteTimeout, uo.PoolTimeout = dialTimeout, ioTimeout, ioTimeout, poolTimeout
	uo.ContextTimeoutEnabled = true
	// No hidden retries: a broken connection must surface as an error, so
	// that a restarted (possibly emptied) Redis is noticed and the recovery
	// tasks run, rather than being papered over by a silent reconnect.
	uo.MaxRetries = -1
	uo.DialerRetries = 1
	uo.DisableIdentity = true

	var id [8]byte
	_, _ = rand.Read(id[:]) // never fails (crypto/rand documents it)
	c := &Client{
		rdb:      goredis.NewUniversalClient(uo),
		prefix:   o.prefix,
		log:      o.logger,
		instance: hex.EncodeToString(id[:]),
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := c.rdb.Ping(pctx).Err(); err != nil {
		c.log.Warn("redis unreachable at start; running on the database alone until it answers", "err", err)
	} else {
		c.reachable.Store(true)
	}
	go c.watch()
	return c, nil
}

func validPrefix(p string) error {
	if p == "" || len(p) > 64 {
		return fmt.Errorf("redis: key prefix must be 1 to 64 characters, got %d", len(p))
	}
	for _, r := range p {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-' || r == '.') {
			return fmt.Errorf("redis: key prefix %q: only letters, digits, '_', '-' and '.'", p)
		}
	}
	return nil
}

// Redis returns the underlying go-redis client, for hooks, metrics and
// tests. Keys under the client's prefix belong to this package.
func (c *Client) Redis() goredis.UniversalClient { return c.rdb }

// Ping sends one PING, whatever the health loop thinks.
func (c *Client) Ping(ctx context.Context) error { return c.rdb.Ping(ctx).Err() }

// Healthy reports whether Redis answers and every decorator trusts it (no
// recovery task pending): what /readyz reports as "redis": "ok". While it
// is false latch runs on its database alone ("degraded").
func (c *Client) Healthy() bool {
	if !c.reachable.Load() {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.tasks {
		if !c.trusted(t) {
			return false
		}
	}
	return true
}

// Close stops the health loop and closes the connections. Stop the
// decorators (SessionStore.Close) first: they write through the client.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		close(c.stop)
		<-c.done
		c.closeErr = c.rdb.Close()
	})
	return c.closeErr
}

// register adds a recovery task; it runs on the next tick (kicked now), and
// until it has, the decorator owning it does not trust Redis.
func (c *Client) register(name string, run func(context.Context) error) *recovery {
	t := &recovery{name: name, run: run}
	c.mu.Lock()
	c.tasks = append(c.tasks, t)
	c.mu.Unlock()
	c.poke()
	return t
}

func (c *Client) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// trusted reports whether Redis answers and t has completed since the last
// failure.
func (c *Client) trusted(t *recovery) bool {
	return c.reachable.Load() && t.done.Load() == c.epoch.Load()+1
}

// fail records that Redis did not do what was asked: it is unreachable
// until the health loop's next successful PING, and every recovery task
// must run again before its decorator trusts Redis.
func (c *Client) fail(err error) {
	c.epoch.Add(1)
	if c.reachable.Swap(false) {
		c.log.Warn("redis failed; serving from the database until it recovers", "err", err)
		c.poke()
	}
}

// missed records a write that skipped Redis because it was unreachable:
// Redis may now hold stale data, so recovery tasks must run (again) before
// it is trusted.
func (c *Client) missed() { c.epoch.Add(1) }

// failRead is fail for reads and other commands whose loss is harmless: a
// cancelled caller says nothing about Redis.
func (c *Client) failRead(ctx context.Context, err error) {
	if ctx.Err() == nil {
		c.fail(err)
	}
}

// watch is the health loop: a PING every healthEvery (or when kicked), and
// the pending recovery tasks once Redis answers.
func (c *Client) watch() {
	defer close(c.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	tick := time.NewTicker(healthEvery)
	defer tick.Stop()
	healthy := c.Healthy()
	for {
		c.check(ctx)
		if now := c.Healthy(); now != healthy {
			healthy = now
			if now {
				c.log.Info("redis healthy again; serving from redis")
			}
		}
		select {
		case <-c.stop:
			return
		case <-tick.C:
		case <-c.kick:
		}
	}
}

func (c *Client) check(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	err := c.rdb.Ping(pctx).Err()
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			c.fail(err)
		}
		return
	}
	c.reachable.Store(true)
	c.mu.Lock()
	tasks := slices.Clone(c.tasks)
	c.mu.Unlock()
	for _, t := range tasks {
		e := c.epoch.Load()
		if t.done.Load() == e+1 {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, recoveryTimeout)
		err := t.run(rctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("redis recovery failed; retrying", "task", t.name, "err", err)
				c.fail(err)
			}
			return
		}
		// Stored against the epoch read before the run: if anything failed
		// or was missed meanwhile, the task stays pending and runs again.
		t.done.Store(e + 1)
	}
}

// Keys. Every key carries a hash tag ({…}), so that each Lua script's keys
// share one Cluster slot; see the package documentation for the scheme.

func (c *Client) sessionKey(hash []byte) string {
	b := make([]byte, 0, len(c.prefix)+6+2*len(hash))
	b = append(b, '{')
	b = append(b, c.prefix...)
	b = append(b, ":s:"...)
	b = hex.AppendEncode(b, hash)
	b = append(b, '}')
	return string(b)
}

func (c *Client) tombKey(hash []byte) string { return c.sessionKey(hash) + ":x" }

func (c *Client) sessionPattern() string { return "{" + c.prefix + ":s:*}" }

func (c *Client) revKeys() []string {
	k := "{" + c.prefix + ":r}"
	return []string{k, k + ":e", k + ":ok"}
}

func (c *Client) channel() string { return c.prefix + ":revocations" }

// hashedKey names per-account and per-IP state by a hash of its subject:
// bounded length, no e-mail address or IP in key names.
func (c *Client) hashedKey(kind, subject string) string {
	h := sha256.Sum256([]byte(subject))
	return "{" + c.prefix + ":" + kind + ":" + hex.EncodeToString(h[:16]) + "}"
}

// scanner is what flushing needs of a node (or of the only node).
type scanner interface {
	Scan(ctx context.Context, cursor uint64, match string, count int64) *goredis.ScanCmd
	Pipeline() goredis.Pipeliner
}

// unlinkMatching deletes every key matching pattern, in batches, on every
// master of a Cluster. Keys are unlinked one command each (pipelined)
// because a multi-key UNLINK would cross slots.
func (c *Client) unlinkMatching(ctx context.Context, pattern string) error {
	one := func(ctx context.Context, n scanner) error {
		var cursor uint64
		for {
			keys, next, err := n.Scan(ctx, cursor, pattern, 1000).Result()
			if err != nil {
				return err
			}
			if len(keys) > 0 {
				pipe := n.Pipeline()
				for _, k := range keys {
					pipe.Unlink(ctx, k)
				}
				if _, err := pipe.Exec(ctx); err != nil {
					return err
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	if cc, ok := c.rdb.(*goredis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error { return one(ctx, n) })
	}
	return one(ctx, c.rdb)
}
