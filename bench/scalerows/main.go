// Command scalerows measures the scale rows of BENCHMARKS.md that need a
// prepared database or a process started again and again:
//
//	go run ./bench/scalerows coldstart [-n 30]
//	    process start → first whoami answered, on the embedded default with
//	    an existing database (a session made by a previous run); prints the
//	    distribution, the share until the "listening" line, and the
//	    package init time (GODEBUG=inittrace=1) of one start.
//	go run ./bench/scalerows sessions [-n 1000000] [-small 1000] [-rounds 2] [-d 5s]
//	    whoami by session cookie with n live sessions in the SQLite database
//	    against small, in alternating rounds (a fresh latch each), and
//	    latch's RSS after the load. The sessions are inserted through the
//	    sqlite store (CreateSession), not by logins.
//	go run ./bench/scalerows pgsessions [-n 1000000] [-small 1000] [-rounds 2] [-d 5s] [-pg URL] [-redis URL] [-fillers 8] [-hot] [-lock FILE] [-perf FILE]
//	    the same on PostgreSQL + Redis, each whoami with a session drawn at
//	    random from the n (or small) live sessions: two latches, each on a
//	    fresh database (latch_rows_*, dropped at the end) and its own Redis
//	    key prefix (deleted at the end), started first; the sessions are
//	    written through latch's stores (the postgres store behind the redis
//	    decorator, -fillers at once, commits not waiting for the disk);
//	    then alternating rounds, with latch's CPU, the Redis calls and CPU
//	    and the PostgreSQL commits per request, and latch's RSS. -hot (the
//	    default) adds the large set drawn from only small of its sessions:
//	    each used as often as the small set's, so the size alone differs.
//	    -lock holds a flock on FILE around the rounds alone.
//	go run ./bench/scalerows logins [-clients 1000] [-rounds 2] [-warm 5s] [-d 20s] [-allcores] [-perf FILE] [-latch-b BIN]
//	    session logins/s with -clients clients that behave like real ones
//	    (closed-loop, each with an account and a connection of its own,
//	    waiting out Retry-After on a 429 or 503), against the bare
//	    argon2id rate at the same parameters on as many goroutines as
//	    latch's hasher has slots (GOMAXPROCS − 1, at least 1), measured in
//	    this process in alternating rounds; with -allcores (default) also
//	    the bare rate on every core and latch with GOMAXPROCS one higher
//	    (a slot per core: no flag sets the slots). -perf records latch with
//	    `perf record -g` during the first round of the default latch.
//	    -latch-b measures a second binary in the same rounds (A/B).
//	go run ./bench/scalerows stream [-subscribers 10000]
//	    subscribers follow one latch's revocation stream (GET
//	    /v1/revocations, raw server-sent events, the way the verify package
//	    reads it); one bearer logout; the time from sending the logout to
//	    each subscriber reading the revocation, and latch's RSS per
//	    subscriber; then the same subscribers on the bare fan-out of
//	    bench/hello -stream, one event sent: what the machine costs.
//	    RLIMIT_NOFILE is raised to its hard limit first.
//	go run ./bench/scalerows latency [-rounds 2] [-d 5s] [-pin]
//	    whoami by session cookie, and the bare net/http server of
//	    bench/hello with the same header, side by side in alternating
//	    rounds: the closed-loop maximum, then open-loop at 50 % and 90 % of
//	    it; the bare server's latency is what the machine itself adds.
//	    The load is fasthttp's client (fastload.go): each open-loop
//	    request is timed from when it was due. With -pin each server runs
//	    on CPU 0 and the load generator on CPU 1, one Go processor each.
//
// All build ./cmd/latch unless -latch is given, and work in a temporary
// directory they remove.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/bench/latchbench"
	"github.com/latch-dev/latch/internal/proctest"
	"github.com/latch-dev/latch/sqlite"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: scalerows coldstart|sessions|pgsessions|logins|stream|latency [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	latchBin := fs.String("latch", "", "latch binary (default: build ./cmd/latch)")
	latchB := fs.String("latch-b", "", "logins: a second latch binary, measured in the same alternating rounds (an A/B of a change)")
	n := fs.Int("n", 0, "coldstart: starts (default 30); sessions, pgsessions: live sessions in the large database (default 1,000,000)")
	small := fs.Int("small", 1000, "sessions, pgsessions: live sessions in the small database")
	rounds := fs.Int("rounds", 2, "sessions, pgsessions, logins, latency: alternating rounds")
	d := fs.Duration("d", 0, "sessions, latency: length of each whoami load (default 5s); logins: of each measured window (default 20s)")
	workers := fs.Int("workers", 32, "sessions, pgsessions: closed-loop concurrency")
	clients := fs.Int("clients", 1000, "logins: clients logging in at once")
	warm := fs.Duration("warm", 5*time.Second, "logins: warm-up before each measured window")
	allCores := fs.Bool("allcores", true, "logins: also the bare rate on every core and latch with a hasher slot per core")
	pgURL := fs.String("pg", "postgres://postgres@127.0.0.1:5432/postgres", "pgsessions: a PostgreSQL server where databases may be created (latch_rows_*, dropped at the end)")
	redisURL := fs.String("redis", "redis://127.0.0.1:6379/15", "pgsessions: Redis (keys under each database's own prefix, deleted at the end)")
	lockFile := fs.String("lock", "", "pgsessions: hold an exclusive flock on `FILE` around the timed rounds only (the fill is not timed)")
	hot := fs.Bool("hot", true, "pgsessions: also the large set drawn from as few sessions as the small set holds (the size alone)")
	fillers := fs.Int("fillers", 8, "pgsessions: sessions written at once while filling")
	subscribers := fs.Int("subscribers", 10_000, "stream: subscribed verifiers")
	conns := fs.Int("conns", 64, "latency: connections to each server")
	pin := fs.Bool("pin", false, "latency: each server on CPU 0 with GOMAXPROCS=1 (taskset), the load generator on CPU 1 with GOMAXPROCS=1, as bench/wrk.sh pins them")
	perfFile := fs.String("perf", "", "stream, logins, pgsessions: record latch with `perf record -g` into FILE (around the logout; during the first default round; FILE.N for each set's first round)")
	_ = fs.Parse(os.Args[2:])
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	tmp, err := os.MkdirTemp("", "latch-scalerows-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(tmp)
	if *latchBin == "" {
		bins, err := proctest.Build(moduleRoot(), tmp, "./cmd/latch")
		if err != nil {
			fail(err)
		}
		*latchBin = bins["./cmd/latch"]
	}
	if *d == 0 && os.Args[1] != "logins" {
		*d = 5 * time.Second
	}
	switch os.Args[1] {
	case "coldstart":
		if *n == 0 {
			*n = 30
		}
		err = coldStart(ctx, *latchBin, tmp, *n)
	case "sessions":
		if *n == 0 {
			*n = 1_000_000
		}
		err = manySessions(ctx, *latchBin, tmp, *small, *n, *rounds, *workers, *d)
	case "pgsessions":
		if *n == 0 {
			*n = 1_000_000
		}
		err = pgSessions(ctx, *latchBin, *pgURL, *redisURL, *lockFile, *perfFile, *small, *n, *rounds, *workers, *fillers, *hot, *d)
	case "stream":
		err = stream(ctx, *latchBin, tmp, *subscribers, *perfFile)
	case "latency":
		err = latency(ctx, *latchBin, tmp, *rounds, *conns, *d, *pin)
	case "logins":
		if *d == 0 {
			*d = 20 * time.Second
		}
		err = logins(ctx, *latchBin, *latchB, tmp, *clients, *rounds, *warm, *d, *allCores, *perfFile)
	default:
		err = fmt.Errorf("unknown row %q", os.Args[1])
	}
	if err != nil {
		os.RemoveAll(tmp)
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "scalerows:", err)
	os.Exit(1)
}

func moduleRoot() string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == os.DevNull {
		fail(errors.New("run from inside the latch module, or give -latch"))
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

var hc = &http.Client{Timeout: 10 * time.Second}

// sessionLogin signs a user up on base and returns a session's Cookie header.
func sessionLogin(ctx context.Context, base string) (string, error) {
	email := "scalerows-" + strings.ToLower(rand.Text()[:8]) + "@example.com"
	pw := "scalerows " + rand.Text()
	post := func(path string, body map[string]string) (*http.Response, error) {
		b, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(ctx, "POST", base+path, strings.NewReader(string(b)))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		return hc.Do(req)
	}
	res, err := post("/v1/signup", map[string]string{"email": email, "password": pw})
	if err != nil {
		return "", err
	}
	res.Body.Close()
	if res.StatusCode != 201 {
		return "", fmt.Errorf("signup: %d", res.StatusCode)
	}
	res, err = post("/v1/login", map[string]string{"email": email, "password": pw})
	if err != nil {
		return "", err
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		return "", fmt.Errorf("login: %d", res.StatusCode)
	}
	var pairs []string
	for _, c := range res.Cookies() {
		pairs = append(pairs, c.Name+"="+c.Value)
	}
	return strings.Join(pairs, "; "), nil
}

func serveArgs(db, addr string) []string {
	return []string{"serve", "--addr", addr, "--db", "sqlite:" + db, "--login-ip-rate", "0", "--log-level", "warn", "--audit-log", "off"}
}

// stop ends a latch: SIGTERM, and a kill after 15 s.
func stop(p *proctest.Proc) {
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-p.Done():
	case <-time.After(15 * time.Second):
		p.Kill()
	}
}

// coldStart: one run makes the database and a session; then n times, a
// fresh process on it until its first whoami with that session is answered.
func coldStart(ctx context.Context, bin, tmp string, n int) error {
	db := filepath.Join(tmp, "cold.db")
	p, err := proctest.Launch(ctx, "latch", bin, serveArgs(db, "127.0.0.1:0")...)
	if err != nil {
		return err
	}
	cookie, err := sessionLogin(ctx, "http://"+p.Addr)
	stop(p)
	if err != nil {
		return err
	}
	var total, listen []time.Duration
	var initMs float64
	for i := range n {
		port, err := freePort()
		if err != nil {
			return err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		cmd := exec.CommandContext(ctx, bin, serveArgs(db, addr)...)
		if i == 0 {
			cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
		}
		stderr, err := cmd.StderrPipe()
		if err != nil {
			return err
		}
		listened := make(chan time.Time, 1)
		inits := make(chan float64, 1)
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			return err
		}
		go scanStart(stderr, listened, inits)
		tr := &http.Transport{DisableKeepAlives: true}
		c := &http.Client{Transport: tr, Timeout: time.Second}
		var took time.Duration
		for {
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/v1/whoami", nil)
			req.Header.Set("Cookie", cookie)
			res, err := c.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == 200 {
					took = time.Since(t0)
					break
				}
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				return fmt.Errorf("start %d: whoami answered %d", i+1, res.StatusCode)
			}
			if time.Since(t0) > 10*time.Second {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				return fmt.Errorf("start %d: no answer after 10 s: %v", i+1, err)
			}
			time.Sleep(200 * time.Microsecond)
		}
		total = append(total, took)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		select {
		case t := <-listened:
			listen = append(listen, t.Sub(t0))
		default:
		}
		if i == 0 {
			select {
			case initMs = <-inits:
			case <-time.After(time.Second):
			}
		}
	}
	fmt.Printf("cold start, embedded default, existing database (%d starts; the session made by an earlier process):\n\n", n)
	fmt.Println("| measure | min ms | median ms | p90 ms | max ms |")
	fmt.Println("|---|--:|--:|--:|--:|")
	row("**process start → first whoami answered (200)**", total)
	row("process start → \"listening\" line read", listen)
	fmt.Printf("\npackage init (GODEBUG=inittrace=1, first start): %.1f ms of clock in total\n", initMs)
	return nil
}

var initLine = regexp.MustCompile(`^init \S+ @[0-9.]+ ms, ([0-9.]+) ms clock`)

// scanStart reads a starting latch's stderr: the time of its listening
// line, and the sum of its inittrace lines.
func scanStart(r io.Reader, listened chan<- time.Time, inits chan<- float64) {
	sc := bufio.NewScanner(r)
	sum := 0.0
	sent := false
	for sc.Scan() {
		line := sc.Text()
		if m := initLine.FindStringSubmatch(line); m != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			sum += v
		}
		if !sent && strings.Contains(line, "listening addr=") {
			listened <- time.Now()
			inits <- sum
			sent = true
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func row(what string, ds []time.Duration) {
	if len(ds) == 0 {
		fmt.Printf("| %s | | | | |\n", what)
		return
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	pct := func(p float64) time.Duration { return s[max(int(math.Ceil(p*float64(len(s))))-1, 0)] }
	f := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/1e6) }
	fmt.Printf("| %s | %s | %s | %s | %s |\n", what, f(s[0]), f(pct(0.5)), f(pct(0.9)), f(s[len(s)-1]))
}

// fill inserts n live cookie sessions of 1,000 users (IDs only: the store
// has no foreign key) through the sqlite store.
func fill(ctx context.Context, path string, n int) (time.Duration, error) {
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	now := time.Now().UTC()
	start := time.Now()
	for i := range n {
		h := sha256.Sum256([]byte(rand.Text()))
		c := sha256.Sum256([]byte(rand.Text()))
		s := &latch.Session{ID: fmt.Sprintf("scale%08d", i), UserID: fmt.Sprintf("scaleuser%04d", i%1000), Kind: latch.KindSession,
			TokenHash: h[:], CSRFHash: c[:], CreatedAt: now, LastSeenAt: now,
			IdleExpiresAt: now.Add(30 * time.Minute), ExpiresAt: now.Add(12 * time.Hour), UserAgent: "scalerows", IP: "192.0.2.1"}
		if err := db.CreateSession(ctx, s); err != nil {
			return 0, err
		}
		if (i+1)%100_000 == 0 {
			fmt.Fprintf(os.Stderr, "scalerows: %d sessions inserted (%.0f/s)\n", i+1, float64(i+1)/time.Since(start).Seconds())
		}
	}
	return time.Since(start), nil
}

type sample struct {
	load     latchbench.Load
	rss, hwm int64 // KiB
	heap     float64
}

func manySessions(ctx context.Context, bin, tmp string, small, large, rounds, workers int, d time.Duration) error {
	dbs := []struct {
		n    int
		path string
	}{{small, filepath.Join(tmp, "small.db")}, {large, filepath.Join(tmp, "large.db")}}
	for _, x := range dbs {
		took, err := fill(ctx, x.path, x.n)
		if err != nil {
			return err
		}
		fi, _ := os.Stat(x.path)
		fmt.Fprintf(os.Stderr, "scalerows: %d sessions in %v (%.0f/s), database %.1f MiB\n", x.n, took.Round(time.Millisecond),
			float64(x.n)/took.Seconds(), float64(fi.Size())/(1<<20))
	}
	res := map[int][]sample{}
	for r := range rounds {
		order := dbs
		if r%2 == 1 {
			order = []struct {
				n    int
				path string
			}{dbs[1], dbs[0]}
		}
		for _, x := range order {
			p, err := proctest.Launch(ctx, "latch", bin, serveArgs(x.path, "127.0.0.1:0")...)
			if err != nil {
				return err
			}
			base := "http://" + p.Addr
			cookie, err := sessionLogin(ctx, base)
			if err != nil {
				stop(p)
				return err
			}
			hdr := http.Header{"Cookie": {cookie}}
			_ = latchbench.ClosedLoop(ctx, "GET", base+"/v1/whoami", hdr, workers, time.Second) // warm up
			l := latchbench.ClosedLoop(ctx, "GET", base+"/v1/whoami", hdr, workers, d)
			s := sample{load: l}
			s.rss, s.hwm = procMem(p)
			s.heap = metric(ctx, base, "go_memstats_heap_inuse_bytes")
			stop(p)
			fmt.Fprintf(os.Stderr, "scalerows: round %d, %d sessions: %.0f/s p50 %.2f ms p99 %.2f ms, RSS %d KiB (peak %d)\n",
				r+1, x.n, l.PerSec, l.P50, l.P99, s.rss, s.hwm)
			res[x.n] = append(res[x.n], s)
		}
	}
	fmt.Printf("whoami by session cookie, embedded default, %d vs %d live sessions (%d alternating rounds, %v closed-loop at %d workers each, a fresh latch each):\n\n",
		large, small, rounds, d, workers)
	fmt.Println("| live sessions | req/s per round | p50 ms | p99 ms | RSS after the load, MiB | peak RSS, MiB | Go heap in use, MiB |")
	fmt.Println("|--:|--:|--:|--:|--:|--:|--:|")
	med := map[int]float64{}
	for _, x := range dbs {
		var rps, p50, p99, rss, hwm, heap []string
		var v []float64
		for _, s := range res[x.n] {
			rps = append(rps, fmt.Sprintf("%.0f", s.load.PerSec))
			p50 = append(p50, fmt.Sprintf("%.2f", s.load.P50))
			p99 = append(p99, fmt.Sprintf("%.2f", s.load.P99))
			rss = append(rss, fmt.Sprintf("%.1f", float64(s.rss)/1024))
			hwm = append(hwm, fmt.Sprintf("%.1f", float64(s.hwm)/1024))
			heap = append(heap, fmt.Sprintf("%.1f", s.heap/(1<<20)))
			v = append(v, s.load.PerSec)
		}
		slices.Sort(v)
		med[x.n] = (v[(len(v)-1)/2] + v[len(v)/2]) / 2
		j := func(s []string) string { return strings.Join(s, " / ") }
		fmt.Printf("| %d | %s | %s | %s | %s | %s | %s |\n", x.n, j(rps), j(p50), j(p99), j(rss), j(hwm), j(heap))
	}
	fmt.Printf("\ncost ratio (req/s with %d over req/s with %d, the per-round medians): **%.3f×**\n", small, large, med[small]/med[large])
	return nil
}

// procMem reads VmRSS and VmHWM (KiB) of a running latch.
func procMem(p *proctest.Proc) (int64, int64) {
	pid := p.Pid()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	var rss, hwm int64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	return rss, hwm
}

// metric reads one unlabelled sample of base's /metrics (0 when absent).
func metric(ctx context.Context, base, name string) float64 {
	return fromMetrics(ctx, base, func(r io.Reader) float64 {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
				v, _ := strconv.ParseFloat(f[1], 64)
				return v
			}
		}
		return 0
	})
}

func stream(ctx context.Context, bin, tmp string, n int, perfFile string) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) // the child latch inherits it
	}
	if lim.Cur < uint64(n)+1000 {
		return fmt.Errorf("RLIMIT_NOFILE %d is too low for %d subscribers", lim.Cur, n)
	}
	secret := rand.Text()
	args := append(serveArgs(filepath.Join(tmp, "stream.db"), "127.0.0.1:0"), "--client", "bench:"+secret)
	p, err := proctest.Launch(ctx, "latch", bin, args...)
	if err != nil {
		return err
	}
	defer stop(p)
	base := "http://" + p.Addr
	// A token login: its access token is what the logout revokes.
	cookie, err := sessionLogin(ctx, base) // signs a user up; the session itself is not used
	_ = cookie
	if err != nil {
		return err
	}
	email := "stream-" + strings.ToLower(rand.Text()[:8]) + "@example.com"
	pw := "scalerows " + rand.Text()
	post := func(path, bearer string, body any) (*http.Response, error) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = strings.NewReader(string(b))
		}
		req, _ := http.NewRequestWithContext(ctx, "POST", base+path, rd)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		return hc.Do(req)
	}
	if res, err := post("/v1/signup", "", map[string]string{"email": email, "password": pw}); err != nil {
		return err
	} else {
		res.Body.Close()
	}
	res, err := post("/v1/login", "", map[string]string{"email": email, "password": pw, "mode": "token", "refresh_delivery": "body"})
	if err != nil {
		return err
	}
	var tok struct {
		Access string `json:"access_token"`
	}
	err = json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	if err != nil || tok.Access == "" {
		return fmt.Errorf("token login: %d %v", res.StatusCode, err)
	}
	jti, err := jwtClaim(tok.Access, "jti")
	if err != nil {
		return err
	}
	rss0, _ := procMem(p)

	subs, err := subscribe(ctx, base, n, jti, func(r *http.Request) { r.SetBasicAuth("bench", secret) })
	if err != nil {
		return err
	}
	defer subs.close()
	time.Sleep(2 * time.Second) // let the heap settle
	rss1, _ := procMem(p)

	var perf *exec.Cmd
	if perfFile != "" {
		perf = exec.Command("perf", "record", "-F", "4999", "-g", "-p", strconv.Itoa(p.Pid()), "-o", perfFile)
		if err := perf.Start(); err != nil {
			return fmt.Errorf("perf: %w", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	u0, k0 := cpuTimes(p.Pid())
	sent := time.Now()
	res, err = post("/v1/logout", tok.Access, nil)
	if err != nil {
		return err
	}
	res.Body.Close()
	answered := time.Since(sent)
	if res.StatusCode != 204 {
		return fmt.Errorf("logout: %d", res.StatusCode)
	}
	took, err := subs.await(sent)
	if err != nil {
		return err
	}
	u1, k1 := cpuTimes(p.Pid())
	if perf != nil {
		_ = perf.Process.Signal(os.Interrupt)
		_ = perf.Wait()
	}
	subs.close()

	// The same fan-out from the least a net/http server does (bench/hello
	// -stream), and from a server that writes each subscriber's connection
	// itself (-raw), to the same subscribers' code: what the machine costs.
	bins, err := proctest.Build(moduleRoot(), tmp, "./bench/hello")
	if err != nil {
		return err
	}
	bare, err := bareFanout(ctx, bins["./bench/hello"], n, jti, "-stream")
	if err != nil {
		return fmt.Errorf("bare fan-out: %w", err)
	}
	raw, err := bareFanout(ctx, bins["./bench/hello"], n, jti, "-stream", "-raw")
	if err != nil {
		return fmt.Errorf("raw fan-out: %w", err)
	}

	within := 0
	for _, d := range took {
		if d <= time.Second {
			within++
		}
	}
	fmt.Printf("revocation stream: %d subscribers on one latch (embedded default), subscribed in %v; one bearer logout; then the same subscribers on the bare fan-outs of bench/hello -stream (net/http) and -stream -raw (one write to each connection):\n\n", n, subs.subscribed.Round(time.Millisecond))
	fmt.Println("| measure | min ms | median ms | p90 ms | max ms |")
	fmt.Println("|---|--:|--:|--:|--:|")
	row("**latch: logout sent → subscriber read the revocation**", took)
	row("bare net/http fan-out: event sent → subscriber read it", bare.took)
	row("raw writes, no net/http: event sent → subscriber read it", raw.took)
	fmt.Printf("\n%d of %d within 1 s; p99 %.1f ms (bare fan-out %.1f ms: %.2f×; raw writes %.1f ms); the logout answered its 204 after %.1f ms.\n",
		within, n, pctMs(took, 0.99), pctMs(bare.took, 0.99), pctMs(took, 0.99)/pctMs(bare.took, 0.99), pctMs(raw.took, 0.99), float64(answered)/1e6)
	fmt.Printf("Server CPU from the event until every subscriber had read it (user + system, /proc, 10 ms ticks): latch %.1f µs per subscriber, the bare fan-out %.1f µs, raw writes %.1f µs.\n",
		(u1-u0+k1-k0)*1e6/float64(n), bare.cpuPerSub, raw.cpuPerSub)
	fmt.Printf("latch RSS %.1f MiB before the subscribers, %.1f MiB with them: **%.1f KiB per subscriber** (the bare fan-out: %.1f KiB).\n",
		float64(rss0)/1024, float64(rss1)/1024, float64(rss1-rss0)/float64(n), bare.rssPerSub)
	return nil
}

// fanoutRun is one fan-out of bench/hello -stream to n subscribers.
type fanoutRun struct {
	took      []time.Duration
	cpuPerSub float64 // µs of the server's CPU
	rssPerSub float64 // KiB
}

// bareFanout starts bench/hello with args, subscribes n readers waiting
// for jti, sends it one event and returns what it took.
func bareFanout(ctx context.Context, bin string, n int, jti string, args ...string) (*fanoutRun, error) {
	h, err := proctest.Launch(ctx, "hello", bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	if err != nil {
		return nil, err
	}
	defer stop(h)
	rss0, _ := procMem(h)
	subs, err := subscribe(ctx, "http://"+h.Addr, n, jti, func(*http.Request) {})
	if err != nil {
		return nil, err
	}
	defer subs.close()
	time.Sleep(2 * time.Second)
	rss1, _ := procMem(h)
	u0, k0 := cpuTimes(h.Pid())
	sent := time.Now()
	res, err := hc.Post("http://"+h.Addr+"/v1/logout?jti="+url.QueryEscape(jti), "", nil)
	if err != nil {
		return nil, err
	}
	res.Body.Close()
	took, err := subs.await(sent)
	if err != nil {
		return nil, err
	}
	u1, k1 := cpuTimes(h.Pid())
	return &fanoutRun{took: took, cpuPerSub: (u1 - u0 + k1 - k0) * 1e6 / float64(n), rssPerSub: float64(rss1-rss0) / float64(n)}, nil
}

// subscribers are n raw server-sent event readers of one stream, each
// waiting for a data line that holds match.
type subscribers struct {
	n          int
	got        chan time.Time
	cancel     context.CancelFunc
	subscribed time.Duration // until every one had read ": replay done"
}

// subscribe connects n readers to base's /v1/revocations (100 dials at
// once) and returns when every one has read the end of the replay.
func subscribe(ctx context.Context, base string, n int, match string, auth func(*http.Request)) (*subscribers, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: -1, DisableCompression: true}
	sc := &http.Client{Transport: tr}
	ready := make(chan error, n)
	sctx, cancel := context.WithCancel(ctx)
	s := &subscribers{n: n, got: make(chan time.Time, n), cancel: func() { cancel(); tr.CloseIdleConnections() }}
	sem := make(chan struct{}, 100) // dials at once
	start := time.Now()
	for range n {
		go func() {
			sem <- struct{}{}
			req, _ := http.NewRequestWithContext(sctx, "GET", base+"/v1/revocations", nil)
			auth(req)
			res, err := sc.Do(req)
			<-sem
			if err != nil {
				ready <- err
				return
			}
			defer res.Body.Close()
			if res.StatusCode != 200 {
				ready <- fmt.Errorf("stream: %d", res.StatusCode)
				return
			}
			br := bufio.NewReader(res.Body)
			replayed := false
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					if !replayed {
						ready <- err
					}
					return
				}
				if !replayed && strings.HasPrefix(line, ": replay done") {
					replayed = true
					ready <- nil
				}
				if replayed && strings.HasPrefix(line, "data:") && strings.Contains(line, match) {
					s.got <- time.Now()
					// Stay subscribed, as a verifier does: a reader that
					// hung up here would make the server close its
					// connection while it still fans the event out to
					// the others, and that work would count in their
					// delays.
					<-sctx.Done()
					return
				}
			}
		}()
	}
	for i := range n {
		if err := <-ready; err != nil {
			s.close()
			return nil, fmt.Errorf("subscriber %d: %w", i+1, err)
		}
	}
	s.subscribed = time.Since(start)
	return s, nil
}

// await returns, for every subscriber, the time from sent until it read
// the event; an error when some have not within 10 s.
func (s *subscribers) await(sent time.Time) ([]time.Duration, error) {
	took := make([]time.Duration, 0, s.n)
	timeout := time.After(10 * time.Second)
	for len(took) < s.n {
		select {
		case t := <-s.got:
			took = append(took, t.Sub(sent))
		case <-timeout:
			return nil, fmt.Errorf("only %d of %d subscribers read the event within 10 s", len(took), s.n)
		}
	}
	return took, nil
}

// close ends every subscriber's stream.
func (s *subscribers) close() { s.cancel() }

func pctMs(ds []time.Duration, p float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[max(int(math.Ceil(p*float64(len(s))))-1, 0)]) / 1e6
}

// jwtClaim reads one string claim of a JWT's payload (not verified).
func jwtClaim(tok, name string) (string, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", errors.New("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return "", err
	}
	v, _ := m[name].(string)
	if v == "" {
		return "", fmt.Errorf("no %s claim", name)
	}
	return v, nil
}

func latency(ctx context.Context, bin, tmp string, rounds, conns int, d time.Duration, pin bool) error {
	bins, err := proctest.Build(moduleRoot(), tmp, "./bench/hello")
	if err != nil {
		return err
	}
	launch := func(name, bin string, args ...string) (*proctest.Proc, error) {
		if pin {
			args = append([]string{"-c", "0", "/usr/bin/env", "GOMAXPROCS=1", bin}, args...)
			bin = "/usr/bin/taskset"
		}
		return proctest.Launch(ctx, name, bin, args...)
	}
	if pin {
		if err := pinSelf(1); err != nil {
			return err
		}
	}
	l, err := launch("latch", bin, serveArgs(filepath.Join(tmp, "latency.db"), "127.0.0.1:0")...)
	if err != nil {
		return err
	}
	defer stop(l)
	h, err := launch("hello", bins["./bench/hello"], "-addr", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer stop(h)
	cookie, err := sessionLogin(ctx, "http://"+l.Addr)
	if err != nil {
		return err
	}
	hdr := http.Header{"Cookie": {cookie}}
	type server struct {
		name, base string // base: latch's, whose /metrics times each request
		proc       *proctest.Proc
		target     *fastTarget
	}
	servers := []server{
		{name: "bare net/http (bench/hello)", proc: h},
		{name: "latch whoami, session", base: "http://" + l.Addr, proc: l},
	}
	for i := range servers {
		if servers[i].target, err = newFastTarget("http://"+servers[i].proc.Addr+"/v1/whoami", hdr, conns); err != nil {
			return err
		}
	}
	type phase struct {
		load           fastLoad
		probe          probeResult // zero when pinned
		genCPU, srvCPU float64     // the load generator's and the server's CPU over the phase's wall time (1 = a core)
		slow           float64     // requests the server took over 10 ms to answer (latch only: its histogram)
		slower         float64     // over 2.5 ms
		served         float64
	}
	type rowT struct{ closed, half, most phase }
	res := map[string][]rowT{}
	// measure runs one phase (closed-loop when rate is 0) with, for latch,
	// its own request-duration histogram read around it: a slow request
	// that latch timed as slow was slow inside latch; one it timed as fast
	// was slow outside it (kernel queues, the load generator). Unpinned,
	// the probe runs beside the load generator to show its late wake-ups;
	// pinned, the generator has a core of its own, and the probe is left
	// out: its 1,000 wake-ups a second would share the generator's one Go
	// processor. Both processes' CPU tell which of them was the bound.
	measure := func(sv server, rate float64) phase {
		var h0 latchbench.Histogram
		if sv.base != "" {
			h0 = whoamiTiming(ctx, sv.base)
		}
		var pr *stallProbe
		if !pin && rate > 0 {
			pr = startProbe()
		}
		u0, k0 := cpuTimes(sv.proc.Pid())
		c0, t0 := selfCPU(), time.Now()
		var ph phase
		if rate > 0 {
			ph.load = sv.target.open(ctx, rate, d)
		} else {
			ph.load = sv.target.closed(ctx, d)
		}
		el := time.Since(t0).Seconds()
		u1, k1 := cpuTimes(sv.proc.Pid())
		ph.genCPU, ph.srvCPU = (selfCPU()-c0)/el, (u1+k1-u0-k0)/el
		if pr != nil {
			ph.probe = pr.end()
		}
		if sv.base != "" {
			h1 := whoamiTiming(ctx, sv.base)
			ph.slow, ph.served = h0.Over(h1, 0.01)
			ph.slower, _ = h0.Over(h1, 0.0025)
		}
		return ph
	}
	for r := range rounds {
		order := []int{0, 1}
		if r%2 == 1 {
			order = []int{1, 0}
		}
		for _, i := range order {
			sv := servers[i]
			_ = sv.target.closed(ctx, time.Second)
			c := measure(sv, 0)
			half := measure(sv, c.load.PerSec*0.5)
			most := measure(sv, c.load.PerSec*0.9)
			fmt.Fprintf(os.Stderr, "scalerows: round %d, %s: max %.0f/s (CPU: generator %.0f %%, server %.0f %%); 50 %%: p99 %.2f ms (CPU: generator %.0f %%, server %.0f %%); 90 %%: p99 %.2f ms\n",
				r+1, sv.name, c.load.PerSec, c.genCPU*100, c.srvCPU*100, half.load.P99, half.genCPU*100, half.srvCPU*100, most.load.P99)
			res[sv.name] = append(res[sv.name], rowT{c, half, most})
		}
	}
	where := "every process on both cores"
	if pin {
		where = "each server on CPU 0 with GOMAXPROCS=1, the load generator on CPU 1 with GOMAXPROCS=1"
	}
	fmt.Printf("whoami latency open-loop at 50 %% and 90 %% of the closed-loop maximum (%d connections; fasthttp's client, each request timed from when it was due), %v rows, %d alternating rounds; %s:\n\n", conns, d, rounds, where)
	fmt.Println("| server | round | closed-loop max req/s | CPU %: generator / server | 50 %: sent/s | p50 ms | p99 ms | p99.9 ms | CPU %: generator / server | client wake-ups late: p99 / max ms, total over 2 ms | latch's own timing: over 10 ms / over 2.5 ms, of | 90 %: sent/s | p50 ms | p99 ms | p99.9 ms |")
	fmt.Println("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, sv := range servers {
		for i, x := range res[sv.name] {
			own := "—"
			if sv.base != "" {
				own = fmt.Sprintf("%.0f / %.0f of %.0f", x.half.slow, x.half.slower, x.half.served)
			}
			late := "—"
			if !pin {
				late = fmt.Sprintf("%.2f / %.2f, %.0f", ms(x.half.probe.p99), ms(x.half.probe.max), ms(x.half.probe.over2ms))
			}
			fmt.Printf("| %s | %d | %.0f | %.0f / %.0f | %.0f | %.2f | %.2f | %.2f | %.0f / %.0f | %s | %s | %.0f | %.2f | %.2f | %.2f |\n", sv.name, i+1,
				x.closed.load.PerSec, x.closed.genCPU*100, x.closed.srvCPU*100,
				x.half.load.PerSec, x.half.load.P50, x.half.load.P99, x.half.load.P999, x.half.genCPU*100, x.half.srvCPU*100, late, own,
				x.most.load.PerSec, x.most.load.P50, x.most.load.P99, x.most.load.P999)
		}
	}
	return nil
}
