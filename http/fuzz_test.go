package http_test

import (
	"bufio"
	"bytes"
	"context"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// replayWriter records a revocation stream and ends the request (by
// cancelling its context) once the replay is done.
type replayWriter struct {
	*httptest.ResponseRecorder
	mu     sync.Mutex
	cancel context.CancelFunc
}

func (w *replayWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.ResponseRecorder.Write(b)
	if bytes.Contains(w.Body.Bytes(), []byte(": replay done")) {
		w.cancel()
	}
	return n, err
}

// replayIDs runs GET /v1/revocations in process with the given
// Last-Event-ID (none when lastID is nil) and returns the ids replayed.
func replayIDs(t testing.TB, ts *testServer, lastID *string) []int64 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, "GET", "/v1/revocations", nil)
	req.SetBasicAuth("rs", "rs-secret")
	if lastID != nil {
		req.Header["Last-Event-Id"] = []string{*lastID}
	}
	w := &replayWriter{ResponseRecorder: httptest.NewRecorder(), cancel: cancel}
	ts.Handler.ServeHTTP(w, req)
	if w.Code != 200 {
		t.Fatalf("GET /v1/revocations (Last-Event-ID %q): %d %s", *lastID, w.Code, w.Body)
	}
	var ids []int64
	sc := bufio.NewScanner(w.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("event id %q", v)
			}
			ids = append(ids, id)
		}
	}
	return ids
}

// FuzzLastEventID: whatever a client sends as Last-Event-ID, the replay is
// a gap-free suffix of the revocation log: resuming after an event it
// names exactly gives every later event and nothing else, and a header
// that names no point of the log (junk, negative, beyond the cursor,
// overflowing) replays everything. A follower can lose no revocation by
// sending a strange id.
func FuzzLastEventID(f *testing.F) {
	ts := newTestServer(f, withClient("rs", "rs-secret"))
	addr, pw := ts.newUser(f)
	for range 6 {
		tok := ts.MustTokenLogin(f, addr, pw)
		ts.do(f, "POST", "/oauth2/revoke", "token="+tok.Access, ctype("application/x-www-form-urlencoded")).want(f, 200, "")
	}
	all := replayIDs(f, ts, nil)
	if len(all) < 6 {
		f.Fatalf("the log has %d events, want at least 6", len(all))
	}
	index := map[string]int{}
	for i, id := range all {
		index[strconv.FormatInt(id, 10)] = i
	}
	for _, s := range []string{"", "0", "1", "3", strconv.FormatInt(all[len(all)-1], 10), "-1", "+2", "02", " 2", "2 ", "2\t",
		"9223372036854775807", "9223372036854775808", "-9223372036854775808", "1e3", "0x3", "3_0", "٣", "99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lastID string) {
		if !validHeaderValue(lastID) {
			return // net/http never delivers such a header
		}
		got := replayIDs(t, ts, &lastID)
		// A suffix of the log, in order.
		if len(got) > len(all) || !slices.Equal(got, all[len(all)-len(got):]) {
			t.Fatalf("Last-Event-ID %q replayed %v, not a suffix of the log %v", lastID, got, all)
		}
		if i, ok := index[lastID]; ok {
			if !slices.Equal(got, all[i+1:]) {
				t.Fatalf("Last-Event-ID %q replayed %v, want %v", lastID, got, all[i+1:])
			}
			return
		}
		n, err := strconv.ParseInt(lastID, 10, 64)
		if err != nil || n <= 0 || n > all[len(all)-1] {
			if !slices.Equal(got, all) {
				t.Fatalf("Last-Event-ID %q names no point of the log, yet the replay is %v of %v", lastID, got, all)
			}
			return
		}
		// A spelling of a point in the log ("+2", "02"): nothing at or
		// below it is replayed, nothing above it is skipped.
		for _, id := range all {
			if (id > n) != slices.Contains(got, id) {
				t.Fatalf("Last-Event-ID %q (read as %d) replayed %v of %v", lastID, n, got, all)
			}
		}
	})
}

// validHeaderValue reports whether net/http would carry v as a header
// value: no CR, LF or NUL (it trims surrounding spaces on the wire; in
// process the value arrives as is).
func validHeaderValue(v string) bool {
	return !strings.ContainsAny(v, "\r\n\x00")
}
