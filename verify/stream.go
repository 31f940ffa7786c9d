package verify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/latch-dev/latch"
)

// The reconnect backoff: fast after a healthy stream broke (a restart or a
// load balancer recycling connections), doubling while attempts fail, never
// slower than maxBackoff so recovery follows the issuer's within seconds.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// maxLine bounds one line of the stream; an event is a few hundred bytes. A
// longer line breaks the connection (and the reconnect gets it again, so
// the verifier stays stale: closed, not open).
const maxLine = 64 << 10

// forever is the expiry of a revocation whose event has no usable exp: it
// is kept rather than dropped, which is the safe side.
var forever = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// statusError is a revocation stream request the issuer answered with
// something other than 200.
type statusError struct{ code int }

func (e *statusError) Error() string {
	if e.code == http.StatusUnauthorized || e.code == http.StatusForbidden {
		return fmt.Sprintf("the issuer refused the client credentials (%d %s)", e.code, http.StatusText(e.code))
	}
	return fmt.Sprintf("unexpected status %d %s", e.code, http.StatusText(e.code))
}

// permanent reports whether a failure of the first connection is a
// configuration error to report from New rather than an outage to ride out.
func permanent(err error) bool {
	var se *statusError
	if !errors.As(err, &se) {
		return false
	}
	return se.code >= 400 && se.code < 500 && se.code != http.StatusRequestTimeout && se.code != http.StatusTooManyRequests
}

// errIdle is a connection dropped by the watchdog.
var errIdle = errors.New("no line received within the idle timeout")

// follower keeps one connection to the revocation stream open at a time
// and applies what it says to the verifier's revocation set.
type follower struct {
	v *Verifier
	// lastID is the id of the last event seen, sent as Last-Event-ID on
	// reconnect. Only the follower's goroutine touches it.
	lastID    string
	ready     chan error // the outcome of the first attempt, for New
	readyOnce sync.Once
}

func (f *follower) signal(err error) {
	f.readyOnce.Do(func() { f.ready <- err })
}

// run connects, follows, and reconnects until Close.
func (f *follower) run() {
	v := f.v
	defer v.wg.Done()
	delay := minBackoff
	failures := 0
	for {
		healthy, err := f.session()
		v.markDown()
		if v.ctx.Err() != nil {
			return
		}
		f.signal(err)
		if healthy {
			delay, failures = minBackoff, 0
		}
		failures++
		wait := delay/2 + rand.N(delay/2+1) // jitter: followers of one issuer do not reconnect in step
		if failures == 1 {
			// Credentials the issuer refuses are an operator's problem;
			// an outage is a warning. Later attempts are not news.
			lvl := slog.LevelWarn
			if permanent(err) {
				lvl = slog.LevelError
			}
			v.log.Log(v.ctx, lvl, "revocation stream lost; reconnecting (tokens are refused after the staleness bound)",
				"err", err, "retry_in", wait, "staleness", v.staleness)
		} else {
			v.log.Debug("revocation stream still down", "err", err, "attempt", failures, "retry_in", wait)
		}
		select {
		case <-v.ctx.Done():
			return
		case <-time.After(wait):
		}
		if !healthy {
			delay = min(delay*2, maxBackoff)
		}
	}
}

// session runs one connection: it returns whether the stream got healthy
// (replay done) on it, and why it ended.
func (f *follower) session() (healthy bool, err error) {
	v := f.v
	ctx, cancel := context.WithCancel(v.ctx)
	defer cancel()
	// The watchdog covers the whole connection, headers included: a server
	// or proxy that holds it open without a word is as good as down.
	var idled bool
	var idleMu sync.Mutex
	watchdog := time.AfterFunc(v.idle, func() {
		idleMu.Lock()
		idled = true
		idleMu.Unlock()
		cancel()
	})
	defer watchdog.Stop()
	wrap := func(err error) error {
		idleMu.Lock()
		defer idleMu.Unlock()
		if idled {
			return errIdle
		}
		return err
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.issuer+"/v1/revocations", nil)
	if err != nil {
		return false, err
	}
	req.SetBasicAuth(v.clientID, v.secret)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-store")
	if f.lastID != "" {
		req.Header.Set("Last-Event-ID", f.lastID)
	}
	resp, err := v.sc.Do(req)
	if err != nil {
		return false, wrap(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, &statusError{resp.StatusCode}
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return false, fmt.Errorf("content type %q, want text/event-stream", resp.Header.Get("Content-Type"))
	}

	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	sc.Split(splitLines())
	var p eventParser
	for sc.Scan() {
		watchdog.Reset(v.idle)
		if ev, ok := p.line(sc.Bytes()); ok {
			if ev.comment {
				if !healthy {
					// Latch writes its first comment (": replay done")
					// right after the replay: from here we are current.
					healthy = true
					v.log.Info("following revocations", "last_event_id", f.lastID, "revocations", v.revoked.Len())
					v.markHealthy()
					f.signal(nil)
				}
			} else {
				if ev.typ == "revoke" {
					v.apply(ev.data, ev.id)
				}
				// Committed only once applied, so a reconnect never skips
				// an event we had not taken in.
				f.lastID = ev.id
			}
		}
		if healthy {
			v.markHealthy()
		}
	}
	if err := sc.Err(); err != nil {
		return healthy, wrap(err)
	}
	return healthy, wrap(errors.New("the issuer closed the stream"))
}

// markHealthy records a line on a replayed connection: the stream is known
// healthy until the watchdog would give up on it.
func (v *Verifier) markHealthy() {
	v.healthyUntil.Store(v.now().Add(v.idle).UnixNano())
}

// markDown records that the connection is gone: the stream was healthy at
// most until now. Only the follower and Close write healthyUntil.
func (v *Verifier) markDown() {
	if now := v.now().UnixNano(); v.healthyUntil.Load() > now {
		v.healthyUntil.Store(now)
	}
}

// revokeEvent is the data of an `event: revoke` (API.md §4): one of
// {"jti","exp"}, {"sid","exp"}, {"sub","not_before","exp"}. Times are
// NumericDates.
type revokeEvent struct {
	JTI       string   `json:"jti"`
	SID       string   `json:"sid"`
	Sub       string   `json:"sub"`
	Exp       *float64 `json:"exp"`
	NotBefore *float64 `json:"not_before"`
}

// apply adds one event to the revocation set. An event it cannot read is
// logged loudly and skipped: stopping the stream over it would refuse every
// token forever, for the sake of one.
func (v *Verifier) apply(data []byte, id string) {
	var ev revokeEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		v.log.Error("unreadable revocation event skipped", "id", id, "err", err)
		return
	}
	seq, _ := strconv.ParseInt(id, 10, 64)
	expires := forever
	if t, ok := numericDate(ev.Exp); ok {
		expires = t
	}
	var revs []*latch.Revocation
	if ev.JTI != "" {
		revs = append(revs, &latch.Revocation{Seq: seq, Kind: latch.RevokeJTI, Value: ev.JTI, Expires: expires})
	}
	if ev.SID != "" {
		revs = append(revs, &latch.Revocation{Seq: seq, Kind: latch.RevokeSID, Value: ev.SID, Expires: expires})
	}
	if ev.Sub != "" {
		if nb, ok := numericDate(ev.NotBefore); ok {
			revs = append(revs, &latch.Revocation{Seq: seq, Kind: latch.RevokeSub, Value: ev.Sub, NotBefore: nb, Expires: expires})
		} else {
			v.log.Error("revocation of a subject without a usable not_before skipped", "id", id)
		}
	}
	if len(revs) == 0 {
		v.log.Warn("revocation event names no jti, sid or sub", "id", id)
		return
	}
	v.revoked.Add(revs...)
}

// numericDate converts a JSON NumericDate, refusing what no real date is.
func numericDate(f *float64) (time.Time, bool) {
	if f == nil || math.IsNaN(*f) || *f < 0 || *f > 253402300799 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(*f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}

// sseEvent is what eventParser hands back: a dispatched event or a comment.
type sseEvent struct {
	comment bool
	typ     string
	data    []byte
	id      string
}

// eventParser reads the text/event-stream format (WHATWG HTML §9.2.6) one
// line at a time: fields "event", "data" (lines joined with \n), "id" (kept
// across events until changed, as the spec says), "retry" and unknown
// fields ignored, comments reported so the caller can count them as signs
// of life.
type eventParser struct {
	typ  string
	data []byte
	has  bool   // some data line was seen
	id   string // the last event ID buffer
}

// line takes one line without its terminator. It returns an event on a
// blank line that ends one with data, or a comment.
func (p *eventParser) line(b []byte) (sseEvent, bool) {
	if len(b) == 0 {
		defer func() { p.typ, p.data, p.has = "", p.data[:0], false }()
		if !p.has {
			return sseEvent{}, false
		}
		typ := p.typ
		if typ == "" {
			typ = "message"
		}
		return sseEvent{typ: typ, data: bytes.Clone(p.data), id: p.id}, true
	}
	if b[0] == ':' {
		return sseEvent{comment: true}, true
	}
	field, value, found := bytes.Cut(b, []byte(":"))
	if found && len(value) > 0 && value[0] == ' ' {
		value = value[1:]
	}
	switch string(field) {
	case "event":
		p.typ = string(value)
	case "data":
		if p.has {
			p.data = append(p.data, '\n')
		}
		p.data = append(p.data, value...)
		p.has = true
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.id = string(value)
		}
	}
	return sseEvent{}, false
}

// splitLines is a bufio.SplitFunc for event streams, whose lines end in
// CRLF, LF or a lone CR. A CR is a line end on its own, so a server using
// bare CRs is not delayed until its next byte; an LF right after it is then
// skipped rather than read as an empty line. An unterminated last line is
// dropped: the connection broke in the middle of it.
func splitLines() bufio.SplitFunc {
	skipLF := false
	return func(data []byte, atEOF bool) (int, []byte, error) {
		if skipLF && len(data) > 0 {
			skipLF = false
			if data[0] == '\n' {
				return 1, nil, nil
			}
		}
		if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
			if data[i] == '\r' {
				if i+1 < len(data) {
					if data[i+1] == '\n' {
						return i + 2, data[:i], nil
					}
				} else {
					skipLF = true
				}
			}
			return i + 1, data[:i], nil
		}
		if atEOF {
			return len(data), nil, nil
		}
		return 0, nil, nil
	}
}
