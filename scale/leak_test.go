package scale_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLeak_AfterLoad runs a mixed load against latch for a couple of
// seconds (logins, whoami by cookie and by token, refreshes, logouts,
// revocation stream followers that come and go), stops it, closes the
// clients' connections, and checks that latch's goroutines (go_goroutines)
// and open files (process_open_fds) come back to their baseline within
// 5 s: nothing a request or a stream starts outlives it.
func TestLeak_AfterLoad(t *testing.T) {
	inst := floodLatch(t)
	email := newEmail("leak")
	signup(t, inst.url, email)
	sess := loginSession(t, inst.url, email, "cookie")
	tok := loginToken(t, inst.url, email, "token")
	// One warm-up round of everything, so that lazily started machinery
	// (pools, the SQLite connections, the touch batcher) is in the baseline.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	get := func(path string, a auth) int {
		req, _ := http.NewRequest("GET", inst.url+path, nil)
		if a.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+a.bearer)
		}
		if a.cookie != "" {
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: a.cookie})
		}
		resp, err := c.Do(req)
		if err != nil {
			return -1
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	get("/v1/whoami", sess.a)
	get("/v1/whoami", tok.a)
	c.CloseIdleConnections()
	httpc.CloseIdleConnections()
	time.Sleep(time.Second)
	base := func() (g, f float64) {
		g, _ = metricFloat(inst.url, "go_goroutines")
		f, _ = metricFloat(inst.url, "process_open_fds")
		httpc.CloseIdleConnections()
		return g, f
	}
	g0, f0 := base()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, fmt.Sprintf(format, args...))
	}
	for range 3 { // whoami by cookie and by token
		wg.Go(func() {
			for ctx.Err() == nil {
				if st := get("/v1/whoami", sess.a); st != 200 {
					fail("whoami by cookie: %d", st)
				}
				if st := get("/v1/whoami", tok.a); st != 200 {
					fail("whoami by token: %d", st)
				}
			}
		})
	}
	wg.Go(func() { // logins, refreshes, logouts
		for ctx.Err() == nil {
			body := map[string]string{"email": email, "password": password, "mode": "token", "refresh_delivery": "body"}
			st, _, b, err := postJSON(c, inst.url+"/v1/login", body)
			if err != nil || st != 200 {
				fail("login: %d %v", st, err)
				continue
			}
			refresh := strings.Split(strings.Split(string(b), `"refresh_token":"`)[1], `"`)[0]
			if st, _, _, err := postJSON(c, inst.url+"/v1/token/refresh", map[string]string{"refresh_token": refresh}); err != nil || st != 200 {
				fail("refresh: %d %v", st, err)
			}
			access := strings.Split(strings.Split(string(b), `"access_token":"`)[1], `"`)[0]
			if r, err := send("POST", inst.url+"/v1/logout", auth{bearer: access}, nil); err != nil || r.status != 204 {
				fail("logout: %v %v", r, err)
			}
		}
	})
	wg.Go(func() { // revocation stream followers that come and go
		for ctx.Err() == nil {
			sctx, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
			req, _ := http.NewRequestWithContext(sctx, "GET", inst.url+"/v1/revocations", nil)
			req.SetBasicAuth(clientID, clientSecret)
			resp, err := c.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			scancel()
		}
	})
	time.Sleep(time.Second)
	g1, _ := metricFloat(inst.url, "go_goroutines")
	f1, _ := metricFloat(inst.url, "process_open_fds")
	wg.Wait()
	c.CloseIdleConnections()
	httpc.CloseIdleConnections()
	if len(errs) > 0 {
		t.Errorf("%d unexpected answers under load, first: %s", len(errs), errs[0])
	}
	const slack = 3
	var g, f float64
	took, _, ok := waitFor(5*time.Second, func() (bool, string) {
		g, f = base()
		return g <= g0+slack && f <= f0+slack, fmt.Sprintf("goroutines %v, fds %v", g, f)
	})
	t.Logf("baseline %v goroutines, %v fds; under load %v, %v; after %v: %v, %v", g0, f0, g1, f1, took.Round(time.Millisecond), g, f)
	if !ok {
		t.Errorf("5 s after the load: %v goroutines (baseline %v), %v open files (baseline %v)", g, g0, f, f0)
	}
	if g1 <= g0 {
		t.Errorf("under load %v goroutines, baseline %v: the load showed nothing", g1, g0)
	}
}
