// Command soak runs latch (built from this module, on a SQLite file of its
// own) under a steady mixed load for a while — logins, whoami by cookie and
// by token, refreshes, logouts, a revocation stream follower — and reports
// every unexpected answer, and latch's RSS, goroutines and open files over
// time (from /metrics), with an SVG plot. It exits 1 on any unexpected
// answer. `make soak SOAK=10m`; the last results are in BENCHMARKS.md.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latch-dev/latch/internal/proctest"
)

const (
	clientID, clientSecret = "soak", "soak-client-secret-0123456789abcdef"
	password               = "correct horse battery staple"
)

func main() {
	duration := flag.Duration("duration", 10*time.Minute, "how long the load runs")
	every := flag.Duration("every", 5*time.Second, "how often /metrics is sampled")
	svg := flag.String("svg", "", "write the plot here")
	flag.Parse()
	if err := run(context.Background(), *duration, *every, *svg); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

type sample struct {
	at                 time.Duration
	rss, gor, fds, req float64
}

type soak struct {
	base string
	c    *http.Client

	mu    sync.Mutex
	pool  []*cred
	bad   []string
	nBad  atomic.Int64
	count sync.Map // kind → *atomic.Int64
}

type cred struct {
	cookie, csrf, access, refresh string
}

func (s *soak) inc(kind string) {
	v, _ := s.count.LoadOrStore(kind, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (s *soak) unexpected(format string, args ...any) {
	s.nBad.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bad) < 20 {
		s.bad = append(s.bad, time.Now().Format(time.TimeOnly)+" "+fmt.Sprintf(format, args...))
	}
}

func (s *soak) do(method, path string, c *cred, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c != nil && c.access != "" {
		req.Header.Set("Authorization", "Bearer "+c.access)
	} else if c != nil {
		req.AddCookie(&http.Cookie{Name: "__Host-latch_session", Value: c.cookie})
		req.AddCookie(&http.Cookie{Name: "__Host-latch_csrf", Value: c.csrf})
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	resp, err := s.c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// take removes a random credential from the pool (a family if family).
func (s *soak) take(family bool) *cred {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range 8 {
		if len(s.pool) == 0 {
			return nil
		}
		i := rand.IntN(len(s.pool))
		if c := s.pool[i]; (c.access != "") == family {
			s.pool = append(s.pool[:i], s.pool[i+1:]...)
			return c
		}
	}
	return nil
}

func (s *soak) put(c *cred) {
	s.mu.Lock()
	s.pool = append(s.pool, c)
	s.mu.Unlock()
}

func run(ctx context.Context, duration, every time.Duration, svg string) error {
	dir, err := os.MkdirTemp("", "latch-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bins, err := proctest.Build(".", dir, "./cmd/latch")
	if err != nil {
		return err
	}
	p, err := proctest.Launch(ctx, "latch", bins["./cmd/latch"], "serve", "--addr", "127.0.0.1:0",
		"--db", "sqlite:"+filepath.Join(dir, "latch.db"), "--login-ip-rate", "0", "--log-level", "warn",
		"--audit-log", "off", "--client", clientID+":"+clientSecret)
	if err != nil {
		return err
	}
	defer p.Kill()
	s := &soak{base: "http://" + p.Addr, c: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 32}}}
	var emails []string
	for i := range 10 {
		e := fmt.Sprintf("soak%d@example.com", i)
		if st, b, err := s.do("POST", "/v1/signup", nil, map[string]string{"email": e, "password": password}); err != nil || st != 201 {
			return fmt.Errorf("signup: %d %s %v", st, b, err)
		}
		emails = append(emails, e)
	}

	lctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	var wg sync.WaitGroup
	loop := func(pause time.Duration, fn func()) {
		wg.Go(func() {
			for lctx.Err() == nil {
				fn()
				select {
				case <-lctx.Done():
				case <-time.After(pause):
				}
			}
		})
	}
	login := func(token bool) {
		body := map[string]string{"email": emails[rand.IntN(len(emails))], "password": password}
		if token {
			body["mode"], body["refresh_delivery"] = "token", "body"
		}
		c, err := loginAs(s, body)
		if err != nil {
			s.unexpected("login: %v", err)
			return
		}
		s.inc("login")
		s.put(c)
	}
	loop(150*time.Millisecond, func() { login(rand.IntN(2) == 0) })
	for range 3 {
		loop(2*time.Millisecond, func() {
			c := s.take(rand.IntN(2) == 0)
			if c == nil {
				return
			}
			defer s.put(c)
			if st, b, err := s.do("GET", "/v1/whoami", c, nil); err != nil || st != 200 {
				s.unexpected("whoami: %d %s %v", st, b, err)
				return
			}
			s.inc("whoami")
		})
	}
	loop(20*time.Millisecond, func() {
		c := s.take(true)
		if c == nil {
			return
		}
		st, b, err := s.do("POST", "/v1/token/refresh", nil, map[string]string{"refresh_token": c.refresh})
		if err != nil || st != 200 {
			s.unexpected("refresh: %d %s %v", st, b, err)
			return // the family is dropped
		}
		var r map[string]any
		_ = json.Unmarshal(b, &r)
		c.access, _ = r["access_token"].(string)
		c.refresh, _ = r["refresh_token"].(string)
		s.inc("refresh")
		s.put(c)
	})
	loop(150*time.Millisecond, func() {
		s.mu.Lock()
		n := len(s.pool)
		s.mu.Unlock()
		if n < 50 {
			return
		}
		c := s.take(rand.IntN(2) == 0)
		if c == nil {
			return
		}
		if st, b, err := s.do("POST", "/v1/logout", c, nil); err != nil || st != 204 {
			s.unexpected("logout: %d %s %v", st, b, err)
			return
		}
		if st, _, err := s.do("GET", "/v1/whoami", c, nil); err != nil || st != 401 {
			s.unexpected("whoami after logout: %d %v", st, err)
		}
		s.inc("logout")
	})
	var events atomic.Int64
	wg.Go(func() { follow(lctx, s, &events) })

	var samples []sample
	start := time.Now()
	tick := time.NewTicker(every)
	defer tick.Stop()
	take := func() {
		m, err := scrape(s)
		if err != nil {
			s.unexpected("/metrics: %v", err)
			return
		}
		sm := sample{at: time.Since(start), rss: m["process_resident_memory_bytes"], gor: m["go_goroutines"],
			fds: m["process_open_fds"], req: m["requests"]}
		samples = append(samples, sm)
		fmt.Printf("%8s  RSS %6.1f MiB  goroutines %4.0f  open files %4.0f  requests %8.0f  unexpected %d\n",
			sm.at.Round(time.Second), sm.rss/(1<<20), sm.gor, sm.fds, sm.req, s.nBad.Load())
	}
	take()
	for lctx.Err() == nil {
		select {
		case <-lctx.Done():
		case <-tick.C:
			take()
		}
	}
	wg.Wait()
	take()

	fmt.Printf("\nsoak of %v:", duration)
	s.count.Range(func(k, v any) bool {
		fmt.Printf(" %s %d,", k, v.(*atomic.Int64).Load())
		return true
	})
	fmt.Printf(" stream events %d; unexpected answers %d\n", events.Load(), s.nBad.Load())
	if len(samples) > 2 {
		first, last := samples[1], samples[len(samples)-1] // the first after warm-up
		maxRSS, maxG := 0.0, 0.0
		for _, sm := range samples {
			maxRSS, maxG = max(maxRSS, sm.rss), max(maxG, sm.gor)
		}
		fmt.Printf("RSS %.1f → %.1f MiB (max %.1f); goroutines %.0f → %.0f (max %.0f)\n",
			first.rss/(1<<20), last.rss/(1<<20), maxRSS/(1<<20), first.gor, last.gor, maxG)
	}
	for _, b := range s.bad {
		fmt.Println("  unexpected:", b)
	}
	if svg != "" {
		if err := os.WriteFile(svg, plot(samples, duration), 0o644); err != nil {
			return err
		}
		fmt.Println("plot:", svg)
	}
	if n := s.nBad.Load(); n > 0 {
		return fmt.Errorf("%d unexpected answers", n)
	}
	return nil
}

// loginAs logs in with body and returns the credential: the session
// cookie and CSRF token, or the access and refresh tokens.
func loginAs(s *soak, body map[string]string) (*cred, error) {
	b, _ := json.Marshal(body)
	resp, err := s.c.Post(s.base+"/v1/login", "application/json", strings.NewReader(string(b)))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		return nil, fmt.Errorf("%d %s %v", resp.StatusCode, rb, err)
	}
	var r struct {
		CSRF    string `json:"csrf_token"`
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	if err := json.Unmarshal(rb, &r); err != nil {
		return nil, err
	}
	c := &cred{csrf: r.CSRF, access: r.Access, refresh: r.Refresh}
	for _, k := range resp.Cookies() {
		if k.Name == "__Host-latch_session" {
			c.cookie = k.Value
		}
	}
	if c.access == "" && (c.cookie == "" || c.csrf == "") {
		return nil, fmt.Errorf("no credential in %s", rb)
	}
	return c, nil
}

// follow reads the revocation stream for as long as ctx lasts, resuming
// with Last-Event-ID; ids must only grow.
func follow(ctx context.Context, s *soak, events *atomic.Int64) {
	var last int64
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, "GET", s.base+"/v1/revocations", nil)
		req.SetBasicAuth(clientID, clientSecret)
		if last > 0 {
			req.Header.Set("Last-Event-ID", strconv.FormatInt(last, 10))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				s.unexpected("stream: %v", err)
				time.Sleep(time.Second)
			}
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				id, err := strconv.ParseInt(v, 10, 64)
				if err != nil || id <= last {
					s.unexpected("stream: id %q after %d", v, last)
				}
				last = id
				events.Add(1)
			}
		}
		resp.Body.Close()
	}
}

// scrape reads the unlabelled metrics it plots, and the request total.
func scrape(s *soak) (map[string]float64, error) {
	resp, err := s.c.Get(s.base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		if strings.HasPrefix(name, "latch_http_requests_total{") {
			m["requests"] += v
			continue
		}
		m[name] = v
	}
	return m, sc.Err()
}

// plot draws RSS (MiB) and goroutines over time, each on its own scale.
func plot(samples []sample, duration time.Duration) []byte {
	const w, h, pad = 800.0, 300.0, 50.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%.0f" y="20">latch soak, %v: RSS (MiB, blue, left) and goroutines (red, right)</text>`+"\n", pad, duration)
	maxT, maxR, maxG := 1.0, 1.0, 1.0
	for _, s := range samples {
		maxT, maxR, maxG = max(maxT, s.at.Seconds()), max(maxR, s.rss/(1<<20)), max(maxG, s.gor)
	}
	maxR, maxG = maxR*1.2, maxG*1.2
	line := func(color string, y func(sample) float64, top float64) {
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="`, color)
		for _, s := range samples {
			fmt.Fprintf(&b, "%.1f,%.1f ", pad+s.at.Seconds()/maxT*(w-2*pad), h-pad-y(s)/top*(h-2*pad))
		}
		b.WriteString("\"/>\n")
	}
	line("blue", func(s sample) float64 { return s.rss / (1 << 20) }, maxR)
	line("red", func(s sample) float64 { return s.gor }, maxG)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", pad, h-pad, w-pad, h-pad)
	fmt.Fprintf(&b, `<text x="5" y="%.0f">%.0f</text><text x="5" y="%.0f">0</text>`+"\n", pad, maxR, h-pad)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%.0f</text>`+"\n", w-pad+5, pad, maxG)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">0 s</text><text x="%.0f" y="%.0f">%.0f s</text>`+"\n", pad, h-pad+15, w-pad-30, h-pad+15, maxT)
	b.WriteString("</svg>\n")
	return []byte(b.String())
}
