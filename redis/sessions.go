package redis

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latch-dev/latch"
)

var (
	_ latch.SessionStore   = (*SessionStore)(nil)
	_ latch.SessionUser    = (*SessionStore)(nil)
	_ latch.SessionCounter = (*SessionStore)(nil)
)

const (
	// tombTTL is how long an invalidated token hash refuses to be cached
	// again. It must outlast any fill in flight: fills whose database read
	// began more than fillWindow ago are dropped.
	tombTTL    = time.Minute
	fillWindow = 10 * time.Second
	// slideStep is how far the idle deadline must move before UseSession
	// rewrites it: a busy session costs Redis a write four times a second
	// at most, and the deadline seen stays well within the 1 s API.md allows.
	slideStep = 250 * time.Millisecond
	// flushEvery is how often idle deadlines are written back to next.
	flushEvery = time.Second
	flushBatch = 1000
)

// SessionStore is a latch.SessionStore and latch.SessionUser that keeps a
// hot copy of sessions in Redis in front of next, the source of truth.
//
// Reads come from Redis; a miss loads from next and fills Redis. UseSession
// is one round trip: a Lua script reads the copy, checks it is live, slides
// its idle deadline and re-arms its expiry. Idle deadlines live in Redis and
// in this process; a background flusher (Start) writes them to next in
// batches every second, so losing Redis (or this process) loses at most
// about a second of sliding.
//
// Writes go to next first, then to Redis. Invalidating a token hash (delete,
// token replacement, refresh rotation) deletes its copy and leaves a
// tombstone for a minute, so that a lookup that read next before the write
// cannot cache the stale session after it.
//
// Any Redis failure sends reads to next. While Redis is unreachable, writes
// skip it; so once it answers again, no session copy is trusted until this
// store has deleted every copy under the prefix, on every Cluster master:
// a deletion or token replacement that never reached Redis must not come
// back as a live session.
type SessionStore struct {
	c    *Client
	next latch.SessionStore
	task *recovery

	touches *latch.TouchWriter // idle deadlines not yet in next
	hints   slideHints         // what UseSession last saw of recent sessions

	mu      sync.Mutex
	expired time.Time // last DeleteExpiredSessions: copies dead by then may be gone from next
}

// Sessions returns a SessionStore over next. Call Start to write idle
// deadlines back to next, and Close when done. It trusts Redis only after
// its first flush of the session copies under the prefix (within
// milliseconds when Redis answers): copies left by an earlier process may
// be stale.
func (c *Client) Sessions(next latch.SessionStore) *SessionStore {
	s := &SessionStore{c: c, next: next, touches: latch.NewTouchWriter(next, flushEvery, flushBatch)}
	s.task = c.register("flush session copies", func(ctx context.Context) error {
		return c.unlinkMatching(ctx, c.sessionPattern())
	})
	return s
}

// Start runs the flusher until Close or until ctx ends.
func (s *SessionStore) Start(ctx context.Context) {
	s.touches.Start(ctx, func(err error) {
		s.c.log.Warn("writing idle deadlines to the database; retrying", "err", err)
	})
}

// Close stops the flusher and writes the pending idle deadlines.
func (s *SessionStore) Close() error { return s.touches.Close() }

// Flush writes the pending idle deadlines to next now. Those it could not
// write stay pending.
func (s *SessionStore) Flush(ctx context.Context) error { return s.touches.Flush(ctx) }

// touched records a use for the flusher; deadlines never move backwards.
func (s *SessionStore) touched(t latch.SessionTouch) { s.touches.Add(t) }

// overlay applies this process's pending touches to a session read from
// next, which lags by up to a flush.
func (s *SessionStore) overlay(sess *latch.Session) { s.touches.Overlay(sess) }

func (s *SessionStore) trusted() bool { return s.c.trusted(s.task) }

// CreateSession implements latch.SessionStore.
func (s *SessionStore) CreateSession(ctx context.Context, sess *latch.Session) error {
	start := time.Now()
	if err := s.next.CreateSession(ctx, sess); err != nil {
		return err
	}
	s.fill(ctx, sess, start)
	return nil
}

// SessionByID implements latch.SessionStore; it reads next (Redis keeps
// sessions by token hash only).
func (s *SessionStore) SessionByID(ctx context.Context, id string) (*latch.Session, error) {
	sess, err := s.next.SessionByID(ctx, id)
	if err != nil {
		return nil, err
	}
	s.overlay(sess)
	return sess, nil
}

// SessionsByUser implements latch.SessionStore; it reads next.
func (s *SessionStore) SessionsByUser(ctx context.Context, userID string) ([]*latch.Session, error) {
	list, err := s.next.SessionsByUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	for _, sess := range list {
		s.overlay(sess)
	}
	return list, nil
}

// SessionByTokenHash implements latch.SessionStore: from Redis, else from
// next, filling Redis.
func (s *SessionStore) SessionByTokenHash(ctx context.Context, hash []byte) (*latch.Session, error) {
	if s.trusted() {
		v, err := s.c.rdb.Get(ctx, s.c.sessionKey(hash)).Result()
		switch {
		case err == nil:
			if sess, err := decodeSession(v); err == nil && s.current(sess) {
				return sess, nil
			}
		case errors.Is(err, goredis.Nil):
		default:
			s.c.failRead(ctx, err)
		}
	}
	start := time.Now()
	sess, err := s.next.SessionByTokenHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	s.overlay(sess)
	s.fill(ctx, sess, start)
	return sess, nil
}

// current reports whether a copy may be served: one that was already dead
// when DeleteExpiredSessions last ran may be gone from next.
func (s *SessionStore) current(sess *latch.Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sess.Deadline().After(s.expired)
}

// UseSession implements latch.SessionUser in one round trip when the
// session is in Redis: a GET when this process saw the copy recently enough
// to know its deadline has nothing to slide (a session used again within
// slideStep), and otherwise the script that slides it atomically (another
// instance may too) and returns it. A session this process has not seen
// lately, or whose deadline has a step to move, takes the script at once,
// not a GET first: a GET costs Redis a tenth of the script, but a second
// round trip costs both sides more. Only cookie sessions slide: a refresh
// family's deadline moves only when it rotates (as with the Service's own
// fallback path). Deadlines never move backwards, as with TouchSessions,
// so that instances whose clocks differ slightly cannot shorten each
// other's sessions.
func (s *SessionStore) UseSession(ctx context.Context, hash []byte, now time.Time, idle time.Duration) (*latch.Session, error) {
	if s.trusted() {
		key := s.c.sessionKey(hash)
		var v string
		var err error
		if s.hints.known(hash, now, idle) {
			v, err = s.c.rdb.Get(ctx, key).Result()
			if err == nil {
				sess, derr := decodeSession(v)
				switch {
				case derr == nil && !sess.Live(now):
					err = goredis.Nil // dead at now: next decides
				case derr == nil && (sess.Kind != latch.KindSession || !mustSlide(sess, now, idle)):
					return sess, nil
				default: // the hint was wrong (another session's, or an old copy): the script
					v, err = s.slide(ctx, key, now, idle)
				}
			}
		} else {
			v, err = s.slide(ctx, key, now, idle)
		}
		switch {
		case err == nil:
			if sess, err := decodeSession(v); err == nil {
				// The script sets the last use to now exactly when it moves
				// the deadline; only then is there something to write back.
				if sess.Kind == latch.KindSession && headerMicros(sess.LastSeenAt) == now.UnixMicro() {
					s.touched(latch.SessionTouch{ID: sess.ID, LastSeenAt: sess.LastSeenAt, IdleExpiresAt: sess.IdleExpiresAt})
				}
				s.hints.saw(hash, sess)
				return sess, nil
			}
		case errors.Is(err, goredis.Nil): // not there, or dead at now: next decides
		default:
			s.c.failRead(ctx, err)
		}
	}
	start := time.Now()
	sess, err := s.next.SessionByTokenHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	s.overlay(sess)
	if sess.Kind != latch.KindSession || !sess.Live(now) {
		return sess, nil
	}
	d := now.Add(idle)
	if sess.ExpiresAt.Before(d) {
		d = sess.ExpiresAt
	}
	sess.IdleExpiresAt = later(sess.IdleExpiresAt, d)
	sess.LastSeenAt = later(sess.LastSeenAt, now)
	s.touched(latch.SessionTouch{ID: sess.ID, LastSeenAt: sess.LastSeenAt, IdleExpiresAt: sess.IdleExpiresAt})
	s.fill(ctx, sess, start)
	s.hints.saw(hash, sess)
	return sess, nil
}

// slide runs useScript on key: the copy, slid when that moves its deadline
// by slideStep or more; goredis.Nil when there is none or it is dead.
func (s *SessionStore) slide(ctx context.Context, key string, now time.Time, idle time.Duration) (string, error) {
	return useScript.Run(ctx, s.c.rdb, []string{key}, now.UnixMicro(), idle.Microseconds(), slideStep.Microseconds()).Text()
}

// mustSlide reports whether using sess at now moves its idle deadline by
// slideStep or more.
func mustSlide(sess *latch.Session, now time.Time, idle time.Duration) bool {
	d := now.Add(idle)
	if sess.ExpiresAt.Before(d) {
		d = sess.ExpiresAt
	}
	return d.Sub(sess.IdleExpiresAt) >= slideStep
}

// CountLiveSessions implements latch.SessionCounter when next does, for
// the active sessions gauge: next's count, whose idle deadlines lag Redis's
// by up to a flush (a session slid within the last second just before its
// stored deadline may be missed).
func (s *SessionStore) CountLiveSessions(ctx context.Context, now time.Time) (int, error) {
	if c, ok := s.next.(latch.SessionCounter); ok {
		return c.CountLiveSessions(ctx, now)
	}
	return 0, errCannotCount
}

// errCannotCount is CountLiveSessions over a store that cannot count.
var errCannotCount = errors.New("redis: the store behind the session copies cannot count sessions")

// TouchSessions implements latch.SessionStore by writing through to next.
// Redis copies are slid only by UseSession; a copy that lags a touch made
// here looks dead earlier than it is, which sends UseSession to next,
// which then refreshes the copy.
func (s *SessionStore) TouchSessions(ctx context.Context, touches []latch.SessionTouch) error {
	return s.next.TouchSessions(ctx, touches)
}

// ReplaceSessionToken implements latch.SessionStore. The replaced hash is
// read from next first, since its copy must go; the new copy is installed,
// then dropped again if next no longer holds it (a concurrent replacement
// won).
func (s *SessionStore) ReplaceSessionToken(ctx context.Context, id string, tokenHash, csrfHash []byte) error {
	start := time.Now()
	old, err := s.next.SessionByID(ctx, id)
	if err != nil && !errors.Is(err, latch.ErrNotFound) {
		return err
	}
	if err := s.next.ReplaceSessionToken(ctx, id, tokenHash, csrfHash); err != nil {
		return err
	}
	if old == nil { // created between the two calls: nothing of it is cached
		return nil
	}
	s.invalidate(ctx, old.TokenHash)
	n := *old
	n.TokenHash, n.CSRFHash = bytes.Clone(tokenHash), bytes.Clone(csrfHash)
	s.overlay(&n)
	if s.fill(ctx, &n, start) {
		if cur, err := s.next.SessionByID(ctx, id); err != nil || !bytes.Equal(cur.TokenHash, tokenHash) {
			s.invalidate(ctx, tokenHash)
		}
	}
	return nil
}

// RotateRefresh implements latch.SessionStore: next rotates atomically;
// the copies of the spent and displaced tokens then go. Families are not
// cached again here: the Service never looks them up by hash on a hot path.
func (s *SessionStore) RotateRefresh(ctx context.Context, r latch.RefreshRotation) (*latch.Session, error) {
	fam, err := s.next.RotateRefresh(ctx, r)
	if err == nil && fam != nil {
		stale := [][]byte{r.Presented}
		if len(fam.PrevHash) > 0 && !bytes.Equal(fam.PrevHash, r.Presented) {
			stale = append(stale, fam.PrevHash)
		}
		s.invalidate(ctx, stale...)
	}
	return fam, err
}

// DeleteSession implements latch.SessionStore.
func (s *SessionStore) DeleteSession(ctx context.Context, id string) error {
	old, err := s.next.SessionByID(ctx, id)
	if errors.Is(err, latch.ErrNotFound) {
		return s.next.DeleteSession(ctx, id) // next has the last word
	}
	if err != nil {
		return err
	}
	if err := s.next.DeleteSession(ctx, id); err != nil {
		return err
	}
	s.invalidate(ctx, old.TokenHash)
	s.touches.Drop(id)
	return nil
}

// DeleteExpiredSessions implements latch.SessionStore. It writes this
// process's pending idle deadlines first, so that a session used in its
// last second is not deleted for a deadline next had not seen yet. Redis
// copies expire by themselves at their deadlines; until then, copies dead
// at now are no longer served.
func (s *SessionStore) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	if err := s.Flush(ctx); err != nil {
		s.c.log.Warn("writing idle deadlines before deleting expired sessions", "err", err)
	}
	s.mu.Lock()
	s.expired = later(s.expired, now)
	s.mu.Unlock()
	return s.next.DeleteExpiredSessions(ctx, now)
}

// fill caches sess unless Redis is not trusted, the read of next began too
// long ago for the tombstones to cover it, or a tombstone says its hash was
// invalidated since. It reports whether it wrote.
func (s *SessionStore) fill(ctx context.Context, sess *latch.Session, start time.Time) bool {
	if !s.trusted() || time.Since(start) > fillWindow {
		return false
	}
	n, err := fillScript.Run(ctx, s.c.rdb, []string{s.c.sessionKey(sess.TokenHash), s.c.tombKey(sess.TokenHash)},
		encodeSession(sess)).Int()
	if err != nil {
		s.c.failRead(ctx, err)
		return false
	}
	return n == 1
}

// invalidate deletes the copies of hashes and leaves tombstones. The
// tombstone is written first, so a fill racing the deletion either lands
// before it (and is deleted) or is refused. It runs detached from ctx: an
// invalidation abandoned halfway would leave Redis unknown. When it cannot
// reach Redis, the recovery flush must run before Redis is trusted again.
func (s *SessionStore) invalidate(ctx context.Context, hashes ...[]byte) {
	if !s.c.reachable.Load() {
		s.c.missed()
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	pipe := s.c.rdb.Pipeline()
	for _, h := range hashes {
		pipe.Set(ctx, s.c.tombKey(h), "1", tombTTL)
		pipe.Del(ctx, s.c.sessionKey(h))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		s.c.fail(err)
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// A session copy is a fixed-width header, "IIIII LLLLL EEEEE K ", followed
// by a binary record of the whole session. The header holds what the Lua
// scripts read and rewrite: the idle deadline, last use and absolute
// deadline as microseconds since the Unix epoch, each right-aligned in 17
// characters (exact in Lua's doubles; fixed offsets spare the scripts a
// pattern match, a third of their cost), and the kind (s: cookie session).
// The record keeps every time to the nanosecond; decoding takes the
// header's idle and last-use times only where a script moved them.
const (
	hdrWidth = 17
	hdrLen   = 3*(hdrWidth+1) + 2 // the kind byte and its space
)

// The fields of the header, in order: field i starts at byte i*(hdrWidth+1).
const (
	hdrIdle = iota
	hdrLastSeen
	hdrExpires
	hdrKind // one byte
)

// luaLayout writes the header's layout into a Lua script, so that the
// scripts cannot drift from the Go that encodes and decodes copies. In
// script, $IDLE, $LAST and $EXPIRES become the arguments of string.sub that
// cut that field out of a copy (Lua counts from 1, both ends included),
// $KIND the position of the kind byte, $SESSION the kind byte of a cookie
// session, $PAIR the string.format pattern of the first two fields, and
// $REST the position of what follows them.
func luaLayout(script string) string {
	field := func(i int) string {
		start := i*(hdrWidth+1) + 1
		return strconv.Itoa(start) + ", " + strconv.Itoa(start+hdrWidth-1)
	}
	pattern := "%" + strconv.Itoa(hdrWidth) + ".0f"
	return strings.NewReplacer(
		"$IDLE", field(hdrIdle),
		"$LAST", field(hdrLastSeen),
		"$EXPIRES", field(hdrExpires),
		"$KIND", strconv.Itoa(hdrKind*(hdrWidth+1)+1),
		"$SESSION", strconv.Itoa(int(kindByte(latch.KindSession))),
		"$PAIR", "'"+pattern+" "+pattern+"'",
		"$REST", strconv.Itoa(hdrExpires*(hdrWidth+1)),
	).Replace(script)
}

// useSource slides a live cookie session's copy (KEYS[1]) used at ARGV[1]
// µs by an idle timeout of ARGV[2] µs, when that moves its deadline by
// ARGV[3] µs or more, and returns the copy; false when there is none, or
// it is dead at ARGV[1].
var useSource = luaLayout(`
local v = redis.call('GET', KEYS[1])
if not v then return false end
local i, e = tonumber(string.sub(v, $IDLE)), tonumber(string.sub(v, $EXPIRES))
local now = tonumber(ARGV[1])
if not i or not e or now >= i or now >= e then return false end
if string.byte(v, $KIND) ~= $SESSION then return v end
local ni = math.min(now + tonumber(ARGV[2]), e)
if ni < i + tonumber(ARGV[3]) then return v end
local l = tonumber(string.sub(v, $LAST))
if now > l then l = now end
v = string.format($PAIR, ni, l) .. string.sub(v, $REST)
redis.call('SET', KEYS[1], v, 'PXAT', string.format('%.0f', math.max(1, math.ceil(math.min(ni, e) / 1000))))
return v
`)

var useScript = goredis.NewScript(useSource)

// fillSource caches a session unless its hash has a tombstone. A copy
// already there may have slid further (on any instance): the later idle
// deadline and last use win.
var fillSource = luaLayout(`
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local v = ARGV[1]
local i, l, e = tonumber(string.sub(v, $IDLE)), tonumber(string.sub(v, $LAST)), tonumber(string.sub(v, $EXPIRES))
local old = redis.call('GET', KEYS[1])
if old then
	local oi, ol = tonumber(string.sub(old, $IDLE)), tonumber(string.sub(old, $LAST))
	if oi and ol and (oi > i or ol > l) then
		i, l = math.max(i, oi), math.max(l, ol)
		v = string.format($PAIR, i, l) .. string.sub(v, $REST)
	end
end
redis.call('SET', KEYS[1], v, 'PXAT', string.format('%.0f', math.max(1, math.ceil(math.min(i, e) / 1000))))
return 1
`)

var fillScript = goredis.NewScript(fillSource)

// recordVersion is the layout of a session copy after its header. A copy
// of another version is not read (the database answers, and the copy is
// replaced): version 2 added the amr.
const recordVersion = 2

func kindByte(k latch.SessionKind) byte {
	switch k {
	case latch.KindSession:
		return 's'
	case latch.KindToken:
		return 't'
	}
	return 'o'
}

// encodeSession returns the Redis form of a session (see useScript).
func encodeSession(s *latch.Session) string {
	b := make([]byte, 0, 96+len(s.ID)+len(s.UserID)+len(s.Kind)+len(s.TokenHash)+len(s.CSRFHash)+len(s.PrevHash)+len(s.UserAgent)+len(s.IP)+16)
	for _, t := range []time.Time{s.IdleExpiresAt, s.LastSeenAt, s.ExpiresAt} {
		b = appendHeaderField(b, t)
	}
	b = append(b, kindByte(s.Kind), ' ', recordVersion)
	for _, f := range [][]byte{[]byte(s.ID), []byte(s.UserID), []byte(s.Kind), s.TokenHash, s.CSRFHash, s.PrevHash,
		[]byte(s.UserAgent), []byte(s.IP)} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	for _, t := range []time.Time{s.RotatedAt, s.CreatedAt, s.LastSeenAt, s.IdleExpiresAt, s.ExpiresAt} {
		b = appendTime(b, t)
	}
	if s.GraceUsed {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	amr := strings.Join(s.AMR, " ")
	b = binary.AppendUvarint(b, uint64(len(amr)))
	b = append(b, amr...)
	return string(b)
}

// maxHeader is the largest value that fits a header field: year 5138.
const maxHeader = 99_999_999_999_999_999

// headerMicros is a time as a header field holds it: zero for the zero
// time and anything before 1970 (dead long ago), capped at maxHeader.
func headerMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return min(max(t.UnixMicro(), 0), maxHeader)
}

func appendHeaderField(b []byte, t time.Time) []byte {
	var digits [hdrWidth]byte
	d := strconv.AppendInt(digits[:0], headerMicros(t), 10)
	for range hdrWidth - len(d) {
		b = append(b, ' ')
	}
	b = append(b, d...)
	return append(b, ' ')
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

var errRecord = errors.New("redis: malformed session copy")

// decodeSession parses encodeSession's form. The result shares no memory
// with v.
func decodeSession(v string) (*latch.Session, error) {
	if len(v) < hdrLen+1 || v[hdrLen] != recordVersion {
		return nil, errRecord
	}
	var head [3]int64
	for i := range head {
		f := v[i*(hdrWidth+1) : i*(hdrWidth+1)+hdrWidth]
		n, err := strconv.ParseInt(strings.TrimLeft(f, " "), 10, 64)
		if err != nil {
			return nil, errRecord
		}
		head[i] = n
	}
	r := reader{s: v[hdrLen+1:]}
	s := &latch.Session{}
	s.ID, s.UserID, s.Kind = r.str(), r.str(), latch.SessionKind(r.str())
	s.TokenHash, s.CSRFHash, s.PrevHash = r.hashes()
	s.UserAgent, s.IP = r.str(), r.str()
	s.RotatedAt, s.CreatedAt = r.time(), r.time()
	s.LastSeenAt, s.IdleExpiresAt, s.ExpiresAt = r.time(), r.time(), r.time()
	s.GraceUsed = r.byte() == 1
	if amr := r.str(); amr != "" {
		s.AMR = strings.Fields(amr)
	}
	if r.err != nil || r.s != "" {
		return nil, errRecord
	}
	// The header wins where a script moved it past the record.
	if head[0] != headerMicros(s.IdleExpiresAt) {
		s.IdleExpiresAt = fromMicros(head[0])
	}
	if head[1] != headerMicros(s.LastSeenAt) {
		s.LastSeenAt = fromMicros(head[1])
	}
	return s, nil
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// reader consumes a session record; the first error sticks.
type reader struct {
	s   string
	err error
}

// uvarint is binary.Uvarint on a string, without copying it to a slice.
func (r *reader) uvarint() uint64 {
	var n uint64
	for i := 0; r.err == nil && i < len(r.s) && i < binary.MaxVarintLen64; i++ {
		b := r.s[i]
		n |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			r.s = r.s[i+1:]
			return n
		}
	}
	r.err = errRecord
	return 0
}

func (r *reader) str() string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.s)) {
		r.err = errRecord
		return ""
	}
	v := r.s[:n]
	r.s = r.s[n:]
	return v
}

// hashes reads the three hashes into one allocation; each gets its own
// capacity, so appending to one never writes into the next.
func (r *reader) hashes() (a, b, c []byte) {
	x, y, z := r.str(), r.str(), r.str()
	buf := make([]byte, 0, len(x)+len(y)+len(z))
	buf = append(append(append(buf, x...), y...), z...)
	cut := func(s string) []byte {
		if s == "" {
			return nil
		}
		p := buf[:len(s):len(s)]
		buf = buf[len(s):]
		return p
	}
	return cut(x), cut(y), cut(z)
}

func (r *reader) byte() byte {
	if r.err != nil || r.s == "" {
		r.err = errRecord
		return 0
	}
	b := r.s[0]
	r.s = r.s[1:]
	return b
}

func (r *reader) time() time.Time {
	if r.byte() == 0 || r.err != nil {
		return time.Time{}
	}
	sec := r.varint()
	nsec := r.uvarint()
	if r.err != nil || nsec >= 1e9 {
		r.err = errRecord
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// varint undoes binary.AppendVarint's zig-zag encoding.
func (r *reader) varint() int64 {
	u := r.uvarint()
	n := int64(u >> 1)
	if u&1 != 0 {
		n = ^n
	}
	return n
}

// hintSlots is how many sessions slideHints remembers. Only a session
// used again within slideStep is served by a GET, so the sessions worth
// remembering are those of the last quarter second: 4,096 slots hold them
// at 16,000 requests a second, in 96 KB without pointers.
const hintSlots = 1 << 12

// slideHints is a direct-mapped table, by token hash, of the deadlines of
// the session copies UseSession last saw, which tells it whether a use
// will have nothing to slide before it asks Redis. A hint is only a guess
// at which of two reads to make (a GET or the script), both of which Redis
// answers from the copy itself, so a stale or torn hint costs a round trip
// at worst, never a wrong answer.
type slideHints [hintSlots]hintSlot

// hintSlot is one remembered copy.
type hintSlot struct {
	key       atomic.Uint64 // the token hash's first 8 bytes, lowest bit set; 0: empty
	idle, exp atomic.Int64  // the copy's idle and absolute deadlines (µs); exp 0: never slides
}

// slot is where key k is kept: its bits above the lowest, which hintKey
// sets.
func (h *slideHints) slot(k uint64) *hintSlot { return &h[(k>>1)%hintSlots] }

// hintKey is hash's key in the table: its first 8 bytes with the lowest
// bit set, as 0 marks an empty slot; 0 for a hash too short to have one.
func hintKey(hash []byte) uint64 {
	if len(hash) < 8 {
		return 0
	}
	return binary.LittleEndian.Uint64(hash) | 1
}

// known reports whether a use of hash at now is known to have nothing to
// slide: its copy was seen here, and its deadline is within slideStep of
// where this use would move it.
func (h *slideHints) known(hash []byte, now time.Time, idle time.Duration) bool {
	k := hintKey(hash)
	e := h.slot(k)
	if k == 0 || e.key.Load() != k {
		return false
	}
	i, x := e.idle.Load(), e.exp.Load()
	if x == 0 {
		return true // a refresh family: never slides
	}
	return min(now.Add(idle).UnixMicro(), x)-i < slideStep.Microseconds()
}

// saw records the deadlines of sess, the session of hash, as just read.
func (h *slideHints) saw(hash []byte, sess *latch.Session) {
	k := hintKey(hash)
	if k == 0 {
		return
	}
	e := h.slot(k)
	var x int64
	if sess.Kind == latch.KindSession {
		x = sess.ExpiresAt.UnixMicro()
	}
	e.idle.Store(sess.IdleExpiresAt.UnixMicro())
	e.exp.Store(x)
	e.key.Store(k)
}
