package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/email"
	"github.com/latch-dev/latch/internal/proctest"
	"github.com/latch-dev/latch/password"
	"github.com/latch-dev/latch/sqlite"
)

// loginAccounts makes n accounts in the SQLite database at path through
// the sqlite store (CreateUser, as signup would write them) and returns
// their login bodies. Every account stores the PHC string of one password,
// hashed once by the password package at the default parameters: a login
// costs the same argon2id whatever salt it reads, and a thousand signups
// through latch would cost a thousand hashes before the measurement.
func loginAccounts(ctx context.Context, path string, n int) ([][]byte, error) {
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	h, err := password.New(password.Config{})
	if err != nil {
		return nil, err
	}
	pw := "scalerows " + rand.Text()
	phc, err := h.Hash(ctx, pw)
	if err != nil {
		return nil, err
	}
	run := strings.ToLower(rand.Text()[:6])
	now := time.Now().UTC()
	bodies := make([][]byte, n)
	for i := range n {
		addr, err := email.Normalize(fmt.Sprintf("logins-%s-%04d@example.com", run, i))
		if err != nil {
			return nil, err
		}
		id := make([]byte, 16)
		_, _ = rand.Read(id)
		u := &latch.User{ID: base64.RawURLEncoding.EncodeToString(id), Email: addr, PasswordHash: phc,
			Role: latch.DefaultRole, CreatedAt: now, UpdatedAt: now}
		if err := db.CreateUser(ctx, u); err != nil {
			return nil, err
		}
		bodies[i], _ = json.Marshal(map[string]string{"email": addr, "password": pw})
	}
	return bodies, nil
}

// loginTally is what the clients of one latch run saw within the measured
// window.
type loginTally struct {
	mu       sync.Mutex
	ok       []time.Duration // the answer of each 200
	toLogin  []time.Duration // first attempt → 200, the waits of Retry-After included
	refused  []time.Duration // the answer of each 429 or 503
	other    map[string]int
	requests int
}

func (t *loginTally) add(status int, took, since time.Duration, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests++
	switch {
	case err != nil:
		t.other[err.Error()]++
	case status == http.StatusOK:
		t.ok = append(t.ok, took)
		t.toLogin = append(t.toLogin, since)
	case status == http.StatusTooManyRequests, status == http.StatusServiceUnavailable:
		t.refused = append(t.refused, took)
	default:
		t.other[strconv.Itoa(status)]++
	}
}

// retryAfter reads a Retry-After of whole seconds; a refusal without one
// (or with an HTTP date, which latch never sends) waits a second.
func retryAfter(res *http.Response) time.Duration {
	if n, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	return time.Second
}

// politeLogins drives POST /v1/login on base with one closed-loop client
// per body, each on a connection of its own, the way real clients behave:
// a 200 is followed by the next login at once; a 429 or 503 by a wait of
// its Retry-After, then the same login again. The clients run for warm + d;
// what is answered within the last d is counted.
func politeLogins(ctx context.Context, base string, bodies [][]byte, warm, d time.Duration) *loginTally {
	tr := &http.Transport{MaxIdleConnsPerHost: len(bodies), DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: time.Minute}
	start := time.Now()
	from, until := start.Add(warm), start.Add(warm+d)
	lctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	t := &loginTally{other: map[string]int{}}
	var wg sync.WaitGroup
	for i, body := range bodies {
		wg.Go(func() {
			// Spread the first requests over 100 ms, as a thousand clients
			// arriving would be, not one instant.
			if !sleepCtx(lctx, time.Duration(i)*100*time.Millisecond/time.Duration(len(bodies))) {
				return
			}
			first := time.Now()
			for lctx.Err() == nil {
				req, _ := http.NewRequestWithContext(lctx, "POST", base+"/v1/login", strings.NewReader(string(body)))
				req.Header.Set("Content-Type", "application/json")
				sent := time.Now()
				res, err := c.Do(req)
				done := time.Now()
				if lctx.Err() != nil || done.After(until) {
					if res != nil {
						res.Body.Close()
					}
					return
				}
				status, wait := 0, time.Duration(0)
				if err == nil {
					status = res.StatusCode
					if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
						wait = retryAfter(res)
					}
					_ = drain(res)
				}
				if !done.Before(from) {
					t.add(status, done.Sub(sent), done.Sub(first), err)
				}
				if status == http.StatusOK || err != nil {
					first = done
				}
				if err != nil {
					wait = 100 * time.Millisecond // a refused connection is not retried in a tight loop
				}
				if wait > 0 && !sleepCtx(lctx, wait) {
					return
				}
			}
		})
	}
	wg.Wait()
	return t
}

func drain(res *http.Response) error {
	defer res.Body.Close()
	_, err := io.Copy(io.Discard, res.Body)
	return err
}

// sleepCtx waits d, or less if ctx ends first (then false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// bareArgon2 runs argon2id at latch's default parameters on g goroutines
// for d and returns hashes per second.
func bareArgon2(g int, d time.Duration) float64 {
	p := password.DefaultParams()
	var n atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range g {
		wg.Go(func() {
			salt := make([]byte, p.SaltLen)
			for time.Since(start) < d {
				_ = argon2.IDKey([]byte("bench password"), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

// loginRun is one latch measured: its logins and what its metrics say of
// the hasher over the same window.
type loginRun struct {
	tally              *loginTally
	d                  time.Duration
	hashes, hashSecs   float64 // argon2id computations finished in the window, and their time
	refusedSlots       float64 // latch_password_refused_total in the window
	rss, hwm           int64
	slots, gomaxprocs  int
	cpuUser, cpuSystem float64 // latch's CPU seconds in the window
}

func (r *loginRun) perSec() float64 { return float64(len(r.tally.ok)) / r.d.Seconds() }

// cpuTimes reads a process's user and system CPU seconds.
func cpuTimes(pid int) (float64, float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return u / 100, k / 100 // USER_HZ
}

// latchLogins starts latch on db (with GOMAXPROCS=procs when procs > 0),
// drives it with politeLogins, and reads its hasher metrics around the
// measured window. With perfFile, perf records latch's CPU during it.
func latchLogins(ctx context.Context, bin, db string, bodies [][]byte, procs int, warm, d time.Duration, perfFile string) (*loginRun, error) {
	cmd := bin
	args := serveArgs(db, "127.0.0.1:0")
	if procs > 0 {
		cmd = "/usr/bin/env"
		args = append([]string{"GOMAXPROCS=" + strconv.Itoa(procs), bin}, args...)
	}
	p, err := proctest.Launch(ctx, "latch", cmd, args...)
	if err != nil {
		return nil, err
	}
	defer stop(p)
	base := "http://" + p.Addr
	run := &loginRun{d: d, gomaxprocs: procs}
	if procs == 0 {
		run.gomaxprocs = runtime.GOMAXPROCS(0)
	}
	run.slots = max(run.gomaxprocs-1, 1) // password.Config's default
	type snap struct{ n, s, refused, u, k float64 }
	read := func() snap {
		u, k := cpuTimes(p.Pid())
		return snap{metric(ctx, base, "latch_password_hash_seconds_count"), metric(ctx, base, "latch_password_hash_seconds_sum"),
			metric(ctx, base, "latch_password_refused_total"), u, k}
	}
	var before snap
	var perf *exec.Cmd
	started := make(chan struct{})
	go func() { // the metrics and the profile bracket the measured window
		defer close(started)
		if !sleepCtx(ctx, warm) {
			return
		}
		before = read()
		if perfFile != "" {
			perf = exec.Command("perf", "record", "-F", "999", "-g", "-p", strconv.Itoa(p.Pid()), "-o", perfFile)
			if err := perf.Start(); err != nil {
				fmt.Fprintln(os.Stderr, "scalerows: perf:", err)
				perf = nil
			}
		}
	}()
	run.tally = politeLogins(ctx, base, bodies, warm, d)
	<-started
	after := read()
	if perf != nil {
		_ = perf.Process.Signal(os.Interrupt)
		_ = perf.Wait()
	}
	run.hashes, run.hashSecs, run.refusedSlots = after.n-before.n, after.s-before.s, after.refused-before.refused
	run.cpuUser, run.cpuSystem = after.u-before.u, after.k-before.k
	run.rss, run.hwm = procMem(p)
	return run, nil
}

// bareRun is bare argon2id measured in this process.
type bareRun struct {
	perSec float64
	cpu    float64 // this process's CPU seconds per hash
}

func bareArgon2CPU(g int, d time.Duration) bareRun {
	u0, k0 := cpuTimes(os.Getpid())
	start := time.Now()
	rate := bareArgon2(g, d)
	u1, k1 := cpuTimes(os.Getpid())
	n := rate * time.Since(start).Seconds()
	return bareRun{perSec: rate, cpu: (u1 + k1 - u0 - k0) / max(n, 1)}
}

func logins(ctx context.Context, bin, binB, tmp string, clients, rounds int, warm, d time.Duration, allCores bool, perfFile string) error {
	db := tmp + "/logins.db"
	bodies, err := loginAccounts(ctx, db, clients)
	if err != nil {
		return err
	}
	procs := runtime.GOMAXPROCS(0)
	slots := max(procs-1, 1)
	type variant struct {
		name  string
		bare  int    // goroutines; 0: a latch
		bin   string // the latch
		procs int    // latch's GOMAXPROCS; 0: inherited
	}
	vs := []variant{
		{name: fmt.Sprintf("bare argon2id, %d goroutine(s) (latch's hasher slots)", slots), bare: slots},
		{name: fmt.Sprintf("**latch, default hasher (%d slot(s))**", slots), bin: bin},
	}
	if binB != "" {
		vs[1].name = fmt.Sprintf("**latch A, default hasher (%d slot(s))**", slots)
		vs = append(vs, variant{name: fmt.Sprintf("**latch B, default hasher (%d slot(s))**", slots), bin: binB})
	}
	if allCores {
		vs = append(vs,
			variant{name: fmt.Sprintf("bare argon2id, %d goroutines (every core)", procs), bare: procs},
			variant{name: fmt.Sprintf("latch with GOMAXPROCS=%d (%d slots: hashing on every core)", procs+1, procs), bin: bin, procs: procs + 1})
	}
	type result struct {
		bare bareRun
		run  *loginRun
	}
	res := map[string][]result{}
	for r := range rounds {
		order := slices.Clone(vs)
		if r%2 == 1 { // A B C D, then D C B A
			slices.Reverse(order)
		}
		for _, v := range order {
			if v.bare > 0 {
				b := bareArgon2CPU(v.bare, d)
				fmt.Fprintf(os.Stderr, "scalerows: round %d, %s: %.2f/s, %.1f ms of CPU each\n", r+1, v.name, b.perSec, b.cpu*1000)
				res[v.name] = append(res[v.name], result{bare: b})
				continue
			}
			pf := ""
			if r == 0 && v.procs == 0 && perfFile != "" {
				pf = perfFile
				if v.bin == binB {
					pf += ".b"
				}
			}
			run, err := latchLogins(ctx, v.bin, db, bodies, v.procs, warm, d, pf)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "scalerows: round %d, %s: %.2f logins/s, %d requests, %d refused, argon2id %.0f in %.1f s\n",
				r+1, v.name, run.perSec(), run.tally.requests, len(run.tally.refused), run.hashes, run.hashSecs)
			res[v.name] = append(res[v.name], result{run: run})
		}
	}

	fmt.Printf("session logins, %d closed-loop clients that honour Retry-After (each its own account and connection), %v measured after %v of warm-up, %d alternating rounds; bare argon2id (m=19 MiB, t=2, p=1) in the same rounds; GOMAXPROCS=%d:\n\n",
		clients, d, warm, rounds, procs)
	fmt.Println("| | round | per second | 200: p50 / p99 ms | first try → logged in: p50 / p99 ms | requests/s | 429 or 503 | argon2id in latch: count, mean ms, slot busy | CPU s (latch; bare: ms per hash) | peak RSS MiB |")
	fmt.Println("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, v := range vs {
		for i, x := range res[v.name] {
			if x.run == nil {
				fmt.Printf("| %s | %d | %.2f | | | | | | %.1f ms | |\n", v.name, i+1, x.bare.perSec, x.bare.cpu*1000)
				continue
			}
			t := x.run.tally
			busy := x.run.hashSecs / (x.run.d.Seconds() * float64(x.run.slots))
			mean := 0.0
			if x.run.hashes > 0 {
				mean = x.run.hashSecs / x.run.hashes * 1000
			}
			fmt.Printf("| %s | %d | %.2f | %.0f / %.0f | %.0f / %.0f | %.0f | %.1f %% | %.0f, %.1f, %.0f %% | %.1f | %.1f |\n",
				v.name, i+1, x.run.perSec(), pctMs(t.ok, 0.5), pctMs(t.ok, 0.99), pctMs(t.toLogin, 0.5), pctMs(t.toLogin, 0.99),
				float64(t.requests)/x.run.d.Seconds(), 100*float64(len(t.refused))/float64(max(t.requests, 1)),
				x.run.hashes, mean, busy*100, x.run.cpuUser+x.run.cpuSystem, float64(x.run.hwm)/1024)
			if len(t.other) > 0 {
				fmt.Printf("|  ↳ other answers | | %v | | | | | | | |\n", t.other)
			}
		}
	}
	mean := func(v variant) float64 {
		s := 0.0
		for _, x := range res[v.name] {
			if x.run != nil {
				s += x.run.perSec()
			} else {
				s += x.bare.perSec
			}
		}
		return s / float64(len(res[v.name]))
	}
	// latch's CPU beside the hashes: what its argon2id would have cost at
	// the bare CPU per hash, taken away, per request answered.
	var bareCPU []float64
	for _, x := range res[vs[0].name] {
		bareCPU = append(bareCPU, x.bare.cpu)
	}
	perHash := 0.0
	for _, c := range bareCPU {
		perHash += c / float64(len(bareCPU))
	}
	fmt.Println()
	for _, v := range vs[1:] {
		if v.bare > 0 || v.procs > 0 {
			continue
		}
		var cpu, reqs float64
		for _, x := range res[v.name] {
			cpu += x.run.cpuUser + x.run.cpuSystem - x.run.hashes*perHash
			reqs += float64(x.run.tally.requests)
		}
		fmt.Printf("%s: ratio logins/s over the bare rate at %d goroutine(s) (means of the rounds) **%.2f×**; its CPU beside argon2id (at the bare %.1f ms per hash) %.0f µs per request\n",
			strings.Trim(v.name, "*"), slots, mean(v)/mean(vs[0]), perHash*1000, cpu/reqs*1e6)
	}
	if allCores {
		n := len(vs)
		fmt.Printf("latch's default against the bare rate on every core: %.2f×; latch hashing on every core (GOMAXPROCS=%d) against it: %.2f×\n",
			mean(vs[1])/mean(vs[n-2]), procs+1, mean(vs[n-1])/mean(vs[n-2]))
	}
	if binB != "" {
		fmt.Printf("\nlatch A: %s\nlatch B: %s\n", bin, binB)
	}
	return nil
}
