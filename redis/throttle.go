package redis

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latch-dev/latch"
)

var (
	_ latch.LoginThrottle = (*LoginThrottle)(nil)
	_ latch.RateLimiter   = (*RateLimiter)(nil)
)

// keySlack keeps throttle keys a little past their window, so that clock
// differences between instances and Redis never drop a lock early.
const keySlack = time.Second

// LoginThrottle is a latch.LoginThrottle shared by every instance: the
// failures of an account are a sorted set scored by time ({P:t:<hash>},
// a hash of the account, so that no address appears in key names),
// recorded and trimmed to the newest maxFailures by one Lua script, and
// expiring a window after the last failure. The semantics are those of
// memory.LoginThrottle: locked while maxFailures failures lie within the
// window, until the oldest of them leaves it. The guesses in flight are a
// second sorted set ({P:t:<hash>}:g, scored by the end of each lease), so
// the bound of Reserve (failures plus guesses in flight) holds across
// instances.
//
// Times are the callers' (no Redis TIME), to the microsecond. While Redis
// is unreachable, fallback answers (limits per instance); failures and
// resets are always recorded in fallback too, so that it knows this
// instance's recent failures when it takes over. Redis being down is
// never an error to the caller.
type LoginThrottle struct {
	c        *Client
	max      int
	window   time.Duration
	fallback latch.LoginThrottle
	seq      atomic.Uint64
}

// LoginThrottle returns a throttle that locks an account after maxFailures
// failures within window (--login-max-failures, --login-failure-window);
// maxFailures <= 0 turns it off. fallback (a memory.LoginThrottle with the
// same settings) serves while Redis is unreachable.
func (c *Client) LoginThrottle(maxFailures int, window time.Duration, fallback latch.LoginThrottle) *LoginThrottle {
	return &LoginThrottle{c: c, max: maxFailures, window: window, fallback: fallback}
}

// Locked implements latch.LoginThrottle.
func (l *LoginThrottle) Locked(ctx context.Context, account string, now time.Time) (time.Duration, error) {
	if l.max <= 0 {
		return 0, nil
	}
	if l.c.reachable.Load() {
		oldest, err := lockedScript.Run(ctx, l.c.rdb, []string{l.c.hashedKey("t", account)}, l.max).Int64()
		switch {
		case errors.Is(err, goredis.Nil):
			return 0, nil
		case err == nil:
			if wait := time.UnixMicro(oldest).Add(l.window).Sub(now); wait > 0 {
				return wait, nil
			}
			return 0, nil
		default:
			l.c.failRead(ctx, err)
		}
	}
	return l.fallback.Locked(ctx, account, now)
}

// RecordFailure implements latch.LoginThrottle.
func (l *LoginThrottle) RecordFailure(ctx context.Context, account string, now time.Time) error {
	if l.max <= 0 {
		return nil
	}
	if err := l.fallback.RecordFailure(ctx, account, now); err != nil {
		return err
	}
	if !l.c.reachable.Load() {
		return nil
	}
	member := l.c.instance + ":" + strconv.FormatUint(l.seq.Add(1), 10)
	err := recordScript.Run(ctx, l.c.rdb, []string{l.c.hashedKey("t", account)},
		now.UnixMicro(), member, l.max, (l.window + keySlack).Milliseconds()).Err()
	if err != nil {
		l.c.failRead(ctx, err)
	}
	return nil
}

// Reset implements latch.LoginThrottle.
func (l *LoginThrottle) Reset(ctx context.Context, account string) error {
	if err := l.fallback.Reset(ctx, account); err != nil {
		return err
	}
	if l.max <= 0 || !l.c.reachable.Load() {
		return nil
	}
	if err := l.c.rdb.Del(ctx, l.c.hashedKey("t", account)).Err(); err != nil {
		l.c.failRead(ctx, err)
	}
	return nil
}

// Reserve implements latch.LoginThrottle: one script checks the failures
// within the window and the reservations held ({P:t:<hash>}:g, a sorted
// set of ids scored by the end of their lease, in the failures' Cluster
// slot) and takes a slot, so that instances sharing Redis share the
// bound. While Redis is unreachable, fallback reserves (slots per
// instance).
func (l *LoginThrottle) Reserve(ctx context.Context, account string, now time.Time) (string, time.Duration, error) {
	if l.max <= 0 {
		return "unlimited", 0, nil
	}
	if l.c.reachable.Load() {
		key := l.c.hashedKey("t", account)
		id := l.c.instance + ":" + strconv.FormatUint(l.seq.Add(1), 10)
		res, err := reserveScript.Run(ctx, l.c.rdb, []string{key, key + ":g"}, now.UnixMicro(), l.window.Microseconds(),
			l.max, id, now.Add(latch.GuessLease).UnixMicro(), (latch.GuessLease + keySlack).Milliseconds()).Int64Slice()
		if err == nil && len(res) == 2 {
			switch res[0] {
			case 0: // locked until the oldest failure leaves the window
				wait := time.UnixMicro(res[1]).Add(l.window).Sub(now)
				return "", max(wait, time.Microsecond), nil
			case 1: // every slot left is in flight
				return "", 0, nil
			default:
				return "r" + id, 0, nil
			}
		}
		if err == nil {
			err = errors.New("redis: unexpected answer of the reserve script")
		}
		l.c.failRead(ctx, err)
	}
	id, locked, err := l.fallback.Reserve(ctx, account, now)
	if id != "" {
		id = "f" + id
	}
	return id, locked, err
}

// Settle implements latch.LoginThrottle. A failure is also counted in
// fallback, as RecordFailure does.
func (l *LoginThrottle) Settle(ctx context.Context, account, id string, failed bool, now time.Time) error {
	if l.max <= 0 {
		return nil
	}
	where, id := id[:min(len(id), 1)], id[min(len(id), 1):]
	fid := ""
	if where == "f" {
		fid = id
	}
	if err := l.fallback.Settle(ctx, account, fid, failed, now); err != nil {
		return err
	}
	if !l.c.reachable.Load() {
		return nil // a reservation left in Redis ends with its lease
	}
	key := l.c.hashedKey("t", account)
	var err error
	switch {
	case failed:
		member := l.c.instance + ":" + strconv.FormatUint(l.seq.Add(1), 10)
		err = settleScript.Run(ctx, l.c.rdb, []string{key, key + ":g"}, id, now.UnixMicro(), member, l.max,
			(l.window + keySlack).Milliseconds()).Err()
	case where == "r":
		err = l.c.rdb.ZRem(ctx, key+":g", id).Err()
	}
	if err != nil {
		l.c.failRead(ctx, err)
	}
	return nil
}

// reserveScript: KEYS failures, reservations; ARGV now (µs), window (µs),
// max, id, end of the lease (µs), TTL of the reservations' key (ms). It
// returns {0, oldest failure (µs)} when locked, {1, 0} when the slots left
// are all in flight, {2, 0} when it took one.
var reserveScript = goredis.NewScript(`
local now = tonumber(ARGV[1])
local max = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
local recent = redis.call('ZCOUNT', KEYS[1], '(' .. string.format('%.0f', now - tonumber(ARGV[2])), '+inf')
if recent >= max then
  local o = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(o[2])}
end
if recent + redis.call('ZCARD', KEYS[2]) >= max then return {1, 0} end
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return {2, 0}
`)

// settleScript ends reservation ARGV[1] and counts a failure at ARGV[2] µs
// (member ARGV[3]) in one step, keeping the newest ARGV[4] failures.
var settleScript = goredis.NewScript(`
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[4]) + 1))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`)

// recordScript adds a failure at ARGV[1] µs and keeps the newest ARGV[3].
var recordScript = goredis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[3]) + 1))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`)

// lockedScript returns the oldest failure's time (µs) when there are at
// least ARGV[1] of them, else nil.
var lockedScript = goredis.NewScript(`
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then return false end
local o = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tonumber(o[2])
`)

// RateLimiter is a latch.RateLimiter shared by every instance: a token
// bucket per key ({P:l:<hash>}, a hash of the client IP) refilling at the
// rate and holding three seconds' worth (at least one token), kept in its
// time form as memory.RateLimiter does: one number, the time at which the
// bucket is full again, which a Lua script checks and advances. The key
// expires when the bucket is full again, so Redis holds only the keys
// active in the last few seconds.
//
// Times are the callers', to the microsecond. While Redis is unreachable,
// fallback answers (limits per instance); Redis being down is never an
// error to the caller.
type RateLimiter struct {
	c        *Client
	interval time.Duration // refill time of one token; 0: no limit
	depth    time.Duration
	fallback latch.RateLimiter
}

// RateLimiter returns a limiter of perSecond requests a second per key, in
// bursts of up to 3×perSecond (--login-ip-rate); perSecond <= 0 turns it
// off. fallback (a memory.RateLimiter with the same rate) serves while
// Redis is unreachable.
func (c *Client) RateLimiter(perSecond float64, fallback latch.RateLimiter) *RateLimiter {
	l := &RateLimiter{c: c, fallback: fallback}
	if perSecond > 0 {
		l.interval = max(time.Duration(float64(time.Second)/perSecond).Round(time.Microsecond), time.Microsecond)
		l.depth = max(3*time.Second, l.interval)
	}
	return l
}

// Allow implements latch.RateLimiter.
func (l *RateLimiter) Allow(ctx context.Context, key string, now time.Time) (time.Duration, error) {
	if l.interval <= 0 {
		return 0, nil
	}
	if l.c.reachable.Load() {
		wait, err := allowScript.Run(ctx, l.c.rdb, []string{l.c.hashedKey("l", key)},
			now.UnixMicro(), l.interval.Microseconds(), l.depth.Microseconds()).Int64()
		if err == nil {
			return time.Duration(wait) * time.Microsecond, nil
		}
		l.c.failRead(ctx, err)
	}
	return l.fallback.Allow(ctx, key, now)
}

// allowScript: ARGV now, interval, depth (µs). It returns 0 and takes a
// token, or the wait until the next one.
var allowScript = goredis.NewScript(`
local now = tonumber(ARGV[1])
local full = tonumber(redis.call('GET', KEYS[1]) or '0')
if full < now then full = now end
local nxt = full + tonumber(ARGV[2])
local wait = nxt - now - tonumber(ARGV[3])
if wait > 0 then return wait end
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.max(1, math.ceil((nxt - now) / 1000)))
return 0
`)
