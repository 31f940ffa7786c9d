package verify_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/jose"
	"github.com/latch-dev/latch/verify"
)

// The credentials of the resource server the fake issuer knows.
const (
	clientID     = "rs1"
	clientSecret = "rs1-secret-for-tests"
)

// fakeIssuer is the part of latch a verifier talks to: the JWKS and the
// revocation stream, written the way http/oauth.go writes it, plus knobs
// the tests turn (outage, silence, key rotation) and counters of every
// request it gets.
type fakeIssuer struct {
	URL string
	srv *httptest.Server

	mu          sync.Mutex
	alg         string
	stored      []*latch.SigningKey
	keys        *jose.KeySet
	frames      []frame
	nextID      int
	down        bool          // answer the stream with 503
	silent      bool          // send nothing after the replay, not even keep-alives
	mute        bool          // send nothing at all, not even the end of the replay
	jwksStatus  int           // non-zero: answer the JWKS with it
	changed     chan struct{} // closed when frames are added
	kill        chan struct{} // closed to end every live stream
	lastEventID []string      // the Last-Event-ID of each stream request
	live        int           // streams being served

	jwksHits, streamHits, otherHits atomic.Int64
}

// frame is one event of the log, as written on the wire.
type frame struct {
	id   int
	text string
}

// newIssuer starts a fake issuer signing with a fresh key of alg.
func newIssuer(t testing.TB, alg string) *fakeIssuer {
	t.Helper()
	is := &fakeIssuer{alg: alg, changed: make(chan struct{}), kill: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/jwks.json", is.serveJWKS)
	mux.HandleFunc("GET /v1/revocations", is.serveStream)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		is.otherHits.Add(1)
		http.NotFound(w, r)
	})
	is.srv = httptest.NewServer(mux)
	is.URL = is.srv.URL
	t.Cleanup(func() {
		is.drop()
		is.srv.Close()
	})
	is.rotate(t, false)
	return is
}

// rotate adds a new signing key; keepOld false drops the previous ones
// from the JWKS.
func (is *fakeIssuer) rotate(t testing.TB, keepOld bool) {
	t.Helper()
	is.mu.Lock()
	defer is.mu.Unlock()
	k, err := jose.GenerateKey(is.alg, time.Now().Add(time.Duration(len(is.stored))*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !keepOld {
		is.stored = nil
	}
	is.stored = append(is.stored, k)
	ks, err := jose.NewKeySet(jose.KeySetConfig{Alg: is.alg, AccessTTL: 15 * time.Minute}, is.stored)
	if err != nil {
		t.Fatal(err)
	}
	is.keys = ks
}

func (is *fakeIssuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	is.jwksHits.Add(1)
	is.mu.Lock()
	status, doc := is.jwksStatus, is.keys.JWKS()
	is.mu.Unlock()
	if status != 0 {
		http.Error(w, "nope", status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(doc)
}

func (is *fakeIssuer) serveStream(w http.ResponseWriter, r *http.Request) {
	is.streamHits.Add(1)
	if id, secret, ok := r.BasicAuth(); !ok || id != clientID || secret != clientSecret {
		w.Header().Set("WWW-Authenticate", `Basic realm="latch"`)
		http.Error(w, "unauthenticated", http.StatusUnauthorized)
		return
	}
	is.mu.Lock()
	is.lastEventID = append(is.lastEventID, r.Header.Get("Last-Event-ID"))
	if is.down {
		is.mu.Unlock()
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	after, _ := strconv.Atoi(r.Header.Get("Last-Event-ID"))
	replay := is.framesAfter(after)
	changed, kill, silent, mute := is.changed, is.kill, is.silent, is.mute
	is.live++
	is.mu.Unlock()
	defer func() {
		is.mu.Lock()
		is.live--
		is.mu.Unlock()
	}()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	if mute {
		select {
		case <-r.Context().Done():
		case <-kill:
		}
		return
	}
	last := after
	write := func(fs []frame) bool {
		for _, f := range fs {
			if _, err := fmt.Fprint(w, f.text); err != nil {
				return false
			}
			last = max(last, f.id)
		}
		return rc.Flush() == nil
	}
	if !write(replay) {
		return
	}
	if _, err := fmt.Fprint(w, ": replay done\n\n"); err != nil || rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-kill:
			return
		case <-tick.C:
			if silent {
				continue
			}
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-changed:
			is.mu.Lock()
			fs := is.framesAfter(last)
			changed = is.changed
			is.mu.Unlock()
			if !write(fs) {
				return
			}
		}
	}
}

func (is *fakeIssuer) framesAfter(after int) []frame {
	var out []frame
	for _, f := range is.frames {
		if f.id > after {
			out = append(out, f)
		}
	}
	return out
}

// publish appends an `event: revoke` with this data to the log and sends it
// to every live stream. It returns the event's id.
func (is *fakeIssuer) publish(data string) int {
	is.mu.Lock()
	id := is.nextID + 1
	is.mu.Unlock()
	return is.publishRaw(id, fmt.Sprintf("id: %d\nevent: revoke\ndata: %s\n\n", id, data))
}

// publishRaw appends a frame written verbatim, with the id the fake uses to
// replay it.
func (is *fakeIssuer) publishRaw(id int, text string) int {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.nextID = max(is.nextID, id)
	is.frames = append(is.frames, frame{id: id, text: text})
	close(is.changed)
	is.changed = make(chan struct{})
	return id
}

// drop ends every live stream, as a restart or a network cut would.
func (is *fakeIssuer) drop() {
	is.mu.Lock()
	defer is.mu.Unlock()
	close(is.kill)
	is.kill = make(chan struct{})
}

// set changes knobs under the lock.
func (is *fakeIssuer) set(fn func(is *fakeIssuer)) {
	is.mu.Lock()
	defer is.mu.Unlock()
	fn(is)
}

func (is *fakeIssuer) lastEventIDs() []string {
	is.mu.Lock()
	defer is.mu.Unlock()
	return append([]string(nil), is.lastEventID...)
}

func (is *fakeIssuer) liveStreams() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.live
}

// hits is every request the issuer got.
func (is *fakeIssuer) hits() int64 {
	return is.jwksHits.Load() + is.streamHits.Load() + is.otherHits.Load()
}

// claims are the claims of a fresh access token of user-1, issued now.
func (is *fakeIssuer) claims() *latch.AccessClaims {
	now := time.Now().Truncate(time.Second)
	return &latch.AccessClaims{
		Issuer: is.URL, Subject: "user-1", Audience: []string{is.URL},
		IssuedAt: now, ExpiresAt: now.Add(15 * time.Minute),
		ID: randomID(), SessionID: "sid-" + randomID(), Role: "editor",
	}
}

// MustToken signs claims with the issuer's current key; edit, when given,
// changes the claims first.
func (is *fakeIssuer) MustToken(t testing.TB, edit func(c *latch.AccessClaims)) string {
	t.Helper()
	c := is.claims()
	if edit != nil {
		edit(c)
	}
	is.mu.Lock()
	ks := is.keys
	is.mu.Unlock()
	tok, err := jose.NewSigner(ks).Sign(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// MustVerifier returns a verifier following is with test defaults (a
// 300 ms staleness bound), closed when the test ends.
func MustVerifier(t testing.TB, is *fakeIssuer, opts ...verify.Option) *verify.Verifier {
	t.Helper()
	base := []verify.Option{
		verify.WithClient(clientID, clientSecret),
		verify.WithStaleness(300 * time.Millisecond),
		verify.WithLogger(testLogger(t)),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := verify.New(ctx, is.URL, append(base, opts...)...)
	if err != nil {
		t.Fatalf("verify.New: %v", err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

// testLogger logs into the test's output; Close waits for every goroutine
// that logs, so nothing logs after the test.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// eventually polls cond every 5 ms until it holds or within has passed,
// and reports how long it took.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
