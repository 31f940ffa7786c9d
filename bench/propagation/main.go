// Command propagation measures how long a revocation takes to reach a second
// latch instance: two instances share a fresh PostgreSQL database (and, by
// default, Redis); for each of -n rounds it logs in on A (token mode),
// waits until B accepts the access token, revokes it on A (POST /v1/logout
// with the bearer), and polls B's /v1/whoami in a tight loop until it
// answers 401. The time from A's 204 to B's first 401 is recorded, and the
// median, p90, p99 and maximum are printed as a Markdown table.
//
// With -redis=false the instances run on PostgreSQL alone and learn of
// revocations by polling the durable log every 250 ms. Rounds would then
// lock onto B's polling phase (each starts right after a poll), so each
// revocation waits a random time in [0, -jitter) first (default: one
// polling period without Redis, none with it), and the logins are made
// ahead, while the previous round waits, to keep the run short.
//
// Run it from the module (it builds ./cmd/latch unless -latch is given):
//
//	go run ./bench/propagation                  # PostgreSQL + Redis
//	go run ./bench/propagation -redis=false     # PostgreSQL only
//
// It creates the database latch_prop_<random> on -pg and drops it (with the
// Redis keys named after it) when done. The whole run is bounded by
// -timeout (5 minutes); when that runs out it prints what it measured so far
// and exits with status 1.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/latch-dev/latch/internal/proctest"
)

const password = "correct horse battery staple"

func main() {
	n := flag.Int("n", 1000, "revocations to measure")
	useRedis := flag.Bool("redis", true, "run the instances with --redis (false: PostgreSQL only, polling every 250 ms)")
	pgURL := flag.String("pg", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server to create the database on")
	redisURL := flag.String("redis-url", "redis://127.0.0.1:6379/0", "Redis for -redis")
	latchBin := flag.String("latch", "", "latch binary (default: build ./cmd/latch)")
	users := flag.Int("users", 10, "accounts the logins rotate over")
	jitter := flag.Duration("jitter", -1, "random wait before each revocation, in [0, jitter) (default 250ms with -redis=false, else 0)")
	timeout := flag.Duration("timeout", 5*time.Minute, "abort the run after this long")
	flag.Parse()
	if *n < 1 || *users < 1 {
		fmt.Fprintln(os.Stderr, "propagation: -n and -users must be at least 1")
		os.Exit(2)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, *timeout)
	defer cancelTimeout()

	r := &run{n: *n, users: *users, pgURL: *pgURL, jitter: *jitter}
	if *useRedis {
		r.redisURL = *redisURL
	}
	if r.jitter < 0 {
		r.jitter = 0
		if !*useRedis {
			r.jitter = 250 * time.Millisecond
		}
	}
	err := r.main(ctx, *latchBin)
	r.cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "propagation:", err)
		for _, p := range r.procs {
			if p.failed() {
				fmt.Fprintf(os.Stderr, "--- log of %s:\n%s", p.Name, p.Output())
			}
		}
		os.Exit(1)
	}
}

type run struct {
	n, users        int
	pgURL, redisURL string
	jitter          time.Duration

	tmp   string
	dbURL string
	procs []*proc
	drop  func()
}

func (r *run) main(ctx context.Context, latchBin string) error {
	start := time.Now()
	var err error
	if r.tmp, err = os.MkdirTemp("", "latch-propagation-"); err != nil {
		return err
	}
	if latchBin == "" {
		if latchBin, err = build(ctx, r.tmp); err != nil {
			return err
		}
	}
	if err := r.createDatabase(ctx); err != nil {
		return err
	}
	var insts [2]string
	for i, name := range []string{"A", "B"} {
		args := []string{"serve", "--addr", "127.0.0.1:0", "--db", r.dbURL,
			"--issuer", "http://latch.bench", "--login-ip-rate", "0", "--log-level", "warn"}
		if r.redisURL != "" {
			args = append(args, "--redis", r.redisURL)
		}
		lp, err := proctest.Launch(ctx, "latch "+name, latchBin, args...)
		if err != nil {
			return err
		}
		p := &proc{Proc: lp}
		r.procs = append(r.procs, p)
		insts[i] = "http://" + p.Addr
	}
	a, b := insts[0], insts[1]
	for _, base := range insts {
		if err := waitReady(ctx, base); err != nil {
			return err
		}
	}

	emails := make([]string, r.users)
	for i := range emails {
		emails[i] = fmt.Sprintf("prop-%d-%s@bench.example.com", i, strings.ToLower(rand.Text()[:8]))
		if res, err := send(ctx, "POST", a+"/v1/signup", "", map[string]string{"email": emails[i], "password": password}); err != nil {
			return err
		} else if res.status != 201 {
			return fmt.Errorf("signup: %d %s", res.status, res.body)
		}
	}

	mode := "PostgreSQL + Redis (--redis): bus, with the 250 ms poll of the log as backstop"
	if r.redisURL == "" {
		mode = "PostgreSQL only: the revocation log polled every 250 ms"
	}
	fmt.Printf("latch revocation propagation, A → B: %s\n", mode)
	fmt.Printf("%d rounds: token login on A, B accepts, logout (bearer) on A, B polled in a tight loop until 401", r.n)
	if r.jitter > 0 {
		fmt.Printf(";\na random wait in [0, %v) before each logout, logins made ahead", r.jitter)
	}
	fmt.Print("\n\n")

	// next returns the access token of a fresh token login on A: made now,
	// or, with jitter, ahead by a goroutine.
	next := func(i int) (string, error) { return login(ctx, a, emails[i%len(emails)]) }
	if r.jitter > 0 {
		type made struct {
			tok string
			err error
		}
		ahead := make(chan made, 1)
		lctx, stop := context.WithCancel(ctx)
		defer stop()
		go func() {
			for i := range r.n {
				tok, err := login(lctx, a, emails[i%len(emails)])
				select {
				case ahead <- made{tok, err}:
				case <-lctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		}()
		next = func(int) (string, error) {
			select {
			case m := <-ahead:
				return m.tok, m.err
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
	}

	var took, logouts []time.Duration
	polls, first := 0, 0
	var runErr error
	for i := range r.n {
		tok, err := next(i)
		if err != nil {
			runErr = fmt.Errorf("round %d: %w", i+1, err)
			break
		}
		var pause time.Duration
		if r.jitter > 0 {
			pause = mrand.N(r.jitter)
		}
		d, np, lo, err := round(ctx, b, a, tok, pause)
		if err != nil {
			runErr = fmt.Errorf("round %d: %w", i+1, err)
			break
		}
		took, logouts = append(took, d), append(logouts, lo)
		polls += np
		if np == 1 {
			first++
		}
	}
	if len(took) > 0 {
		report(took, logouts, polls, first, time.Since(start))
	}
	if runErr != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("aborted after the time limit with %d of %d rounds: %w", len(took), r.n, runErr)
	}
	return runErr
}

// login makes a token login on a and returns the access token.
func login(ctx context.Context, a, email string) (string, error) {
	res, err := send(ctx, "POST", a+"/v1/login", "", map[string]string{
		"email": email, "password": password, "mode": "token", "refresh_delivery": "body"})
	if err != nil {
		return "", err
	}
	if res.status != 200 {
		return "", fmt.Errorf("login on A: %d %s", res.status, res.body)
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(res.body, &body); err != nil || body.AccessToken == "" {
		return "", fmt.Errorf("login on A: no access token in %s", res.body)
	}
	return body.AccessToken, nil
}

// round measures one revocation of tok, made on a: once b accepts it, it
// waits pause, revokes it on a, and returns the time from a's 204 to b's
// first 401, the number of b's answers polled until then, and how long a
// took to answer the logout.
func round(ctx context.Context, b, a, tok string, pause time.Duration) (time.Duration, int, time.Duration, error) {
	// B accepts the token before the revocation.
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := send(ctx, "GET", b+"/v1/whoami", tok, nil)
		if err != nil {
			return 0, 0, 0, err
		}
		if res.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, 0, fmt.Errorf("instance B does not accept a fresh token: %d %s", res.status, res.body)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(pause)

	sent := time.Now()
	res, err := send(ctx, "POST", a+"/v1/logout", tok, nil)
	if err != nil {
		return 0, 0, 0, err
	}
	revoked := time.Now() // A's 204 is in
	logout := revoked.Sub(sent)
	if res.status != 204 {
		return 0, 0, 0, fmt.Errorf("logout on A: %d %s", res.status, res.body)
	}
	polls := 0
	for {
		res, err := send(ctx, "GET", b+"/v1/whoami", tok, nil)
		if err != nil {
			return 0, 0, 0, err
		}
		polls++
		if res.status == 401 {
			return time.Since(revoked), polls, logout, nil
		}
		if res.status != 200 {
			return 0, 0, 0, fmt.Errorf("instance B, while polled: %d %s", res.status, res.body)
		}
		if time.Since(revoked) > 10*time.Second {
			return 0, 0, 0, errors.New("instance B still accepts the revoked token after 10 s")
		}
	}
}

// report prints the distributions as a Markdown table.
func report(took, logouts []time.Duration, polls, first int, total time.Duration) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }
	row := func(what string, ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		pct := func(p float64) time.Duration { // nearest rank
			return s[max(int(math.Ceil(p*float64(len(s))))-1, 0)]
		}
		var sum time.Duration
		for _, d := range s {
			sum += d
		}
		fmt.Printf("| %s | %d | %s | %s | %s | %s | %s | %s |\n", what, len(s), ms(s[0]), ms(pct(0.5)), ms(pct(0.9)), ms(pct(0.99)),
			ms(s[len(s)-1]), ms(sum/time.Duration(len(s))))
		return sum
	}
	fmt.Println("| measure | n | min ms | median ms | p90 ms | p99 ms | max ms | mean ms |")
	fmt.Println("|---|--:|--:|--:|--:|--:|--:|--:|")
	sum := row("**A's 204 → B's first 401**", took)
	row("A's logout, request → 204 (for scale)", logouts)
	fmt.Printf("\nMeasured at the client. B was polled %.1f times per revocation on average, one whoami round trip\n", float64(polls)/float64(len(took)))
	fmt.Printf("of about %v each (the resolution of the first row); it refused the token on the very first poll\n",
		(sum / time.Duration(polls)).Round(time.Microsecond))
	fmt.Printf("after A's 204 in %d of %d rounds. Run time %v.\n", first, len(took), total.Round(time.Second))
}

// build compiles ./cmd/latch of the module this command is run from.
func build(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run from inside the latch module, or give -latch")
	}
	bins, err := proctest.Build(filepath.Dir(mod), dir, "./cmd/latch")
	if err != nil {
		return "", err
	}
	return bins["./cmd/latch"], nil
}

func (r *run) createDatabase(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, r.pgURL)
	if err != nil {
		return fmt.Errorf("PostgreSQL at -pg: %w", err)
	}
	defer conn.Close(context.Background())
	name := "latch_prop_" + strings.ToLower(rand.Text()[:12])
	if _, err := conn.Exec(cctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("CREATE DATABASE %s: %w", name, err)
	}
	u, err := url.Parse(r.pgURL)
	if err != nil {
		return err
	}
	u.Path = "/" + name
	r.dbURL = u.String()
	r.drop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if r.redisURL != "" {
			if err := deleteRedisKeys(ctx, r.dbURL, r.redisURL); err != nil {
				fmt.Fprintln(os.Stderr, "propagation: Redis cleanup:", err)
			}
		}
		conn, err := pgx.Connect(ctx, r.pgURL)
		if err != nil {
			fmt.Fprintln(os.Stderr, "propagation: dropping", name+":", err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintln(os.Stderr, "propagation: dropping", name+":", err)
		}
	}
	return nil
}

// deleteRedisKeys removes the keys latch kept for the database: those
// under the prefix named after its deployment ID.
func deleteRedisKeys(ctx context.Context, dbURL, redisURL string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var id string
	if err := conn.QueryRow(ctx, "SELECT id FROM deployment").Scan(&id); err != nil {
		return nil // never migrated: nothing in Redis either
	}
	opt, err := goredis.ParseURL(redisURL)
	if err != nil {
		return err
	}
	rdb := goredis.NewClient(opt)
	defer rdb.Close()
	iter := rdb.Scan(ctx, 0, "{latch-"+id[:min(12, len(id))]+":*", 1000).Iterator()
	for iter.Next(ctx) {
		if err := rdb.Unlink(ctx, iter.Val()).Err(); err != nil {
			return err
		}
	}
	return iter.Err()
}

// cleanup stops the instances, drops the database and removes the binary.
func (r *run) cleanup() {
	for _, p := range r.procs {
		p.stop()
	}
	if r.drop != nil {
		r.drop()
	}
	if r.tmp != "" {
		_ = os.RemoveAll(r.tmp)
	}
}

// proc is a started latch; stopped marks one this program ended itself.
type proc struct {
	*proctest.Proc
	stopped atomic.Bool
}

// stop sends SIGTERM (latch drains and exits) and waits, killing it after 15 s.
func (p *proc) stop() {
	p.stopped.Store(true)
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-p.Done():
	case <-time.After(15 * time.Second):
		p.Kill()
	}
}

// failed reports whether the process exited without being asked to.
func (p *proc) failed() bool {
	select {
	case <-p.Done():
		return !p.stopped.Load()
	default:
		return false
	}
}

func waitReady(ctx context.Context, base string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := send(ctx, "GET", base+"/readyz", "", nil)
		if err == nil && res.status == 200 && bytes.Contains(res.body, []byte(`"status":"ok"`)) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 15 s: %v %d %s", base, err, res.status, res.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// httpc keeps its connections: every poll is one round trip, no dial.
var httpc = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute},
}

type response struct {
	status int
	body   []byte
}

func send(ctx context.Context, method, url, bearer string, body any) (response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: b}, err
}
