package redis

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latch-dev/latch"
)

var _ latch.RevocationStore = (*RevocationStore)(nil)

// refillPage is how many entries one refill step copies from next.
const refillPage = 1000

// RevocationStore is a latch.RevocationStore that keeps the live
// revocation set in Redis, in front of next, the durable log.
//
// Entries live in a sorted set scored by Seq ({P:r}); a second sorted set
// ({P:r}:e) scores each Seq by its Expires, for pruning. Both share one
// hash tag, so every script touches one Cluster slot. A marker key
// ({P:r}:ok) is written when a refill from next completes: a Redis that
// restarted empty has lost it, so reads notice even a restart no command
// failed on, and go to next while the set is refilled.
//
// Redis is written by every instance, each after its own commit to next,
// so it can briefly hold entry 6 without entry 5 (two writers racing), or
// miss an entry for good (its writer lost Redis halfway, maybe alone, and
// could not tell anyone). A reader trusting such a set with a cursor would
// skip the entry for ever. So RevocationsSince serves from Redis only the
// verified prefix: entries up to a Seq below which this store has checked
// Redis against next, which hands out entries in Seq order without gaps
// (the postgres store commits in Seq order; memory and sqlite have one
// writer). The tail after it always comes from next, read from the end of
// the verified prefix, and is copied into Redis, which extends the prefix.
// A poll therefore costs next one indexed read that usually finds nothing,
// as it would without Redis; a replay from an old cursor (a stream that
// connects, an instance that starts) comes from Redis.
//
// Writes go to next first (it assigns Seq), then to Redis. The verified
// prefix is rebuilt by a refill from next at start and after every
// failure or write that skipped Redis; until then every read goes to next.
type RevocationStore struct {
	c    *Client
	next latch.RevocationStore
	task *recovery

	mu       sync.Mutex
	verified int64  // next's entries up to this Seq are all in Redis ...
	epoch    uint64 // ... as of this Client epoch + 1 (0: never)
}

// Revocations returns a RevocationStore over next. Until its first refill
// from next has completed (within milliseconds when Redis answers), reads
// go to next.
func (c *Client) Revocations(next latch.RevocationStore) *RevocationStore {
	s := &RevocationStore{c: c, next: next}
	s.task = c.register("refill revocations", s.refill)
	return s
}

// refill copies every entry next still holds, expired or not (so that a
// caller's "now" decides, as with next), marks the set complete, and makes
// all of it the verified prefix.
func (s *RevocationStore) refill(ctx context.Context) error {
	e := s.c.epoch.Load()
	var after int64
	for {
		revs, err := s.next.RevocationsSince(ctx, after, time.Time{}, refillPage)
		if err != nil {
			return err
		}
		if err := s.add(ctx, revs, false); err != nil {
			return err
		}
		if len(revs) > 0 {
			after = revs[len(revs)-1].Seq
		}
		if len(revs) < refillPage {
			break
		}
	}
	if err := s.c.rdb.Set(ctx, s.c.revKeys()[2], "1", 0).Err(); err != nil {
		return err
	}
	s.mu.Lock()
	s.verified, s.epoch = after, e+1
	s.mu.Unlock()
	return nil
}

// prefix returns the verified prefix and the epoch it holds for, if it
// holds now.
func (s *RevocationStore) prefix() (seq int64, epoch uint64, ok bool) {
	s.mu.Lock()
	seq, epoch = s.verified, s.epoch
	s.mu.Unlock()
	return seq, epoch - 1, epoch == s.c.epoch.Load()+1 && s.c.trusted(s.task)
}

// extend records that next's entries in (from, to] are in Redis, read
// while epoch held; it extends the prefix when that range joins it.
func (s *RevocationStore) extend(epoch uint64, from, to int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch == epoch+1 && from <= s.verified && to > s.verified {
		s.verified = to
	}
}

// add writes entries to the two sorted sets, replacing any entry with the
// same Seq (a refill may bring an entry again, as next stored it). Outside
// a refill (checked), it writes nothing and returns goredis.Nil when the
// refill marker is gone: Redis lost the set, which must be refilled first.
func (s *RevocationStore) add(ctx context.Context, revs []*latch.Revocation, checked bool) error {
	if len(revs) == 0 {
		return nil
	}
	args := make([]any, 0, 3*len(revs))
	for _, r := range revs {
		m, err := json.Marshal(toWire(r))
		if err != nil {
			return err
		}
		args = append(args, r.Seq, m, micros(r.Expires))
	}
	keys := s.c.revKeys()
	if !checked {
		keys = keys[:2]
	}
	return addRevScript.Run(ctx, s.c.rdb, keys, args...).Err()
}

// AddRevocations implements latch.RevocationStore.
func (s *RevocationStore) AddRevocations(ctx context.Context, revs []*latch.Revocation) error {
	if err := s.next.AddRevocations(ctx, revs); err != nil {
		return err
	}
	if len(revs) == 0 {
		return nil
	}
	if !s.c.reachable.Load() {
		s.c.missed() // Redis lacks these now: refill before reading it again
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	if err := s.add(ctx, revs, true); err != nil {
		s.failed(ctx, err)
	}
	return nil
}

// failed handles a Redis error of this store: a lost set (goredis.Nil from
// a script that found no marker) is refilled; anything else is a failure.
func (s *RevocationStore) failed(ctx context.Context, err error) {
	if errors.Is(err, goredis.Nil) {
		s.c.log.Warn("redis lost the revocation set; refilling it from the database")
		s.c.missed()
		s.c.poke()
		return
	}
	s.c.failRead(ctx, err)
}

// RevocationsSince implements latch.RevocationStore: the verified prefix
// from Redis, the rest from next.
func (s *RevocationStore) RevocationsSince(ctx context.Context, after int64, now time.Time, limit int) ([]*latch.Revocation, error) {
	verified, epoch, ok := s.prefix()
	if !ok {
		return s.next.RevocationsSince(ctx, after, now, limit)
	}
	var out []*latch.Revocation
	if after < verified {
		revs, err := s.since(ctx, after, verified, now, limit)
		if err != nil {
			s.failed(ctx, err)
			return s.next.RevocationsSince(ctx, after, now, limit)
		}
		if out = revs; limit > 0 && len(out) == limit {
			return out, nil
		}
	}
	// The tail, read from the end of the verified prefix even when the
	// caller's cursor is past it, so that every entry is copied and
	// verified once; expired entries are read too (next would skip them,
	// leaving a gap the prefix could not cross) and filtered here.
	from, skip := verified, max(after, verified)
	for {
		page, err := s.next.RevocationsSince(ctx, from, time.Time{}, refillPage)
		if err != nil {
			return nil, err
		}
		if len(page) > 0 && s.c.reachable.Load() {
			if err := s.add(ctx, page, true); err != nil {
				s.failed(ctx, err)
			} else {
				s.extend(epoch, from, page[len(page)-1].Seq)
			}
		}
		for _, r := range page {
			if r.Seq > skip && r.Expires.After(now) {
				out = append(out, r)
				if limit > 0 && len(out) == limit {
					return out, nil
				}
			}
		}
		if len(page) < refillPage {
			return out, nil
		}
		from = page[len(page)-1].Seq
	}
}

// since reads Redis's entries in (after, upto] in pages until limit live
// ones are found; entries that expired but were not pruned yet are
// skipped. It returns goredis.Nil when the refill marker is missing.
func (s *RevocationStore) since(ctx context.Context, after, upto int64, now time.Time, limit int) ([]*latch.Revocation, error) {
	keys := s.c.revKeys()
	var out []*latch.Revocation
	for {
		page, err := sinceScript.Run(ctx, s.c.rdb, []string{keys[0], keys[2]}, after, upto, max(limit, 0)).StringSlice()
		if err != nil {
			return nil, err
		}
		for _, m := range page {
			var w wireRevocation
			if err := json.Unmarshal([]byte(m), &w); err != nil {
				return nil, err
			}
			r := w.revocation()
			after = r.Seq
			if r.Expires.After(now) {
				out = append(out, r)
				if limit > 0 && len(out) == limit {
					return out, nil
				}
			}
		}
		if limit <= 0 || len(page) < limit {
			return out, nil
		}
	}
}

// DeleteExpiredRevocations implements latch.RevocationStore; Redis is
// pruned of the same entries (to the microsecond).
func (s *RevocationStore) DeleteExpiredRevocations(ctx context.Context, now time.Time) (int, error) {
	n, err := s.next.DeleteExpiredRevocations(ctx, now)
	if err != nil || !s.c.reachable.Load() {
		return n, err
	}
	for {
		pruned, perr := pruneScript.Run(ctx, s.c.rdb, s.c.revKeys()[:2], now.UnixMicro(), 1000).Int()
		if perr != nil {
			s.c.failRead(ctx, perr) // left over entries are filtered by their Expires anyway
			break
		}
		if pruned < 1000 {
			break
		}
	}
	return n, nil
}

// wireRevocation is the JSON form of an entry, in Redis and on the bus.
type wireRevocation struct {
	Seq       int64                `json:"seq"`
	Kind      latch.RevocationKind `json:"kind"`
	Value     string               `json:"value"`
	NotBefore time.Time            `json:"not_before,omitzero"`
	Expires   time.Time            `json:"expires"`
	CreatedAt time.Time            `json:"created_at,omitzero"`
}

func toWire(r *latch.Revocation) wireRevocation {
	return wireRevocation{Seq: r.Seq, Kind: r.Kind, Value: r.Value, NotBefore: r.NotBefore, Expires: r.Expires, CreatedAt: r.CreatedAt}
}

func (w *wireRevocation) revocation() *latch.Revocation {
	return &latch.Revocation{Seq: w.Seq, Kind: w.Kind, Value: w.Value, NotBefore: w.NotBefore, Expires: w.Expires, CreatedAt: w.CreatedAt}
}

// micros is t in microseconds since the Unix epoch, 0 for the zero time.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// addRevScript: ARGV holds (seq, entry, expires µs) triples. Given a third
// key, the refill marker, it writes nothing and returns nil when it is gone.
var addRevScript = goredis.NewScript(`
if KEYS[3] and redis.call('EXISTS', KEYS[3]) == 0 then return false end
for j = 1, #ARGV, 3 do
	redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[j], ARGV[j])
	redis.call('ZADD', KEYS[1], ARGV[j], ARGV[j+1])
	redis.call('ZADD', KEYS[2], ARGV[j+2], ARGV[j])
end
return #ARGV / 3
`)

// sinceScript returns up to ARGV[3] entries (0: all) with ARGV[1] < Seq <=
// ARGV[2], or nil when the refill marker is missing.
var sinceScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 0 then return false end
if tonumber(ARGV[3]) > 0 then
	return redis.call('ZRANGE', KEYS[1], '(' .. ARGV[1], ARGV[2], 'BYSCORE', 'LIMIT', 0, ARGV[3])
end
return redis.call('ZRANGE', KEYS[1], '(' .. ARGV[1], ARGV[2], 'BYSCORE')
`)

// pruneScript removes up to ARGV[2] entries that expired before ARGV[1] µs.
var pruneScript = goredis.NewScript(`
local seqs = redis.call('ZRANGE', KEYS[2], '-inf', '(' .. ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[2])
for _, s in ipairs(seqs) do
	redis.call('ZREMRANGEBYSCORE', KEYS[1], s, s)
end
if #seqs > 0 then redis.call('ZREM', KEYS[2], unpack(seqs)) end
return #seqs
`)
