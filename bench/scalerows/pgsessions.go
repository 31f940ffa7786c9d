package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/bench/latchbench"
	"github.com/latch-dev/latch/internal/proctest"
	"github.com/latch-dev/latch/password"
	"github.com/latch-dev/latch/postgres"
	"github.com/latch-dev/latch/redis"
)

// idleTimeout is the --session-idle-timeout of the latches, and the idle
// deadline of the sessions written.
const idleTimeout = 2 * time.Hour

// The cookie name of a session when latch runs without --insecure-cookies
// (API.md §3).
const sessionCookie = "__Host-latch_session"

// pgDeployment is one latch on a fresh PostgreSQL database and Redis, with
// its sessions.
type pgDeployment struct {
	n       int
	name    string // the database
	url     string
	prefix  string // latch's Redis key prefix for it
	seed    [32]byte
	users   []string
	proc    *proctest.Proc
	base    string
	fillFor time.Duration
}

// secret is the cookie secret of session i: 32 bytes in base64url, as
// latch makes them, derived from the run's seed so that a million of them
// need no memory in the client.
func (p *pgDeployment) secret(i int) string {
	var b [40]byte
	copy(b[:], p.seed[:])
	binary.BigEndian.PutUint64(b[32:], uint64(i))
	h := sha256.Sum256(b[:])
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// createDatabase makes a database of its own on the server at pgURL and
// returns its URL, and how to drop it.
func createDatabase(ctx context.Context, pgURL, name string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return "", nil, fmt.Errorf("PostgreSQL at -pg: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("CREATE DATABASE %s: %w", name, err)
	}
	u, err := url.Parse(pgURL)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, pgURL)
		if err != nil {
			fmt.Fprintln(os.Stderr, "scalerows: dropping", name+":", err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintln(os.Stderr, "scalerows: dropping", name+":", err)
		}
	}
	return u.String(), drop, nil
}

// unlinkPrefix deletes every Redis key under latch's prefix and returns how
// many there were.
func unlinkPrefix(ctx context.Context, rdb *goredis.Client, prefix string) (int, error) {
	n := 0
	iter := rdb.Scan(ctx, 0, "{"+prefix+":*", 10_000).Iterator()
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := rdb.Unlink(ctx, batch...).Err()
		n += len(batch)
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 1000 {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return n, err
	}
	return n, flush()
}

// countSessionCopies counts the session copies latch keeps in Redis under
// prefix.
func countSessionCopies(ctx context.Context, rdb *goredis.Client, prefix string) (int, error) {
	n := 0
	iter := rdb.Scan(ctx, 0, "{"+prefix+":s:*}", 10_000).Iterator()
	for iter.Next(ctx) {
		n++
	}
	return n, iter.Err()
}

// waitReady polls base's /readyz until it says ok (the database and Redis
// reachable, and Redis trusted: latch's flush of stale session copies done).
func waitReady(ctx context.Context, base string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/readyz", nil)
		res, err := hc.Do(req)
		if err == nil {
			var body struct {
				Status string `json:"status"`
			}
			_ = json.NewDecoder(res.Body).Decode(&body)
			res.Body.Close()
			if body.Status == "ok" {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready (status ok) within 30 s: %v", base, err)
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// fillPG writes users and n live cookie sessions into p's database and
// Redis through latch's own stores: the postgres store behind the redis
// SessionStore, the decorator latch serve puts in front of it, so that each
// session is a row written by postgres.(*DB).CreateSession and a Redis copy
// written by the decorator's fill, exactly as a login writes them. fillers
// sessions are written at once, on connections whose commits do not wait
// for the disk (synchronous_commit=off: what is written is the same).
func fillPG(ctx context.Context, p *pgDeployment, redisURL string, fillers int) error {
	u, err := url.Parse(p.url)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("synchronous_commit", "off")
	q.Set("application_name", "latch-scalerows-fill")
	u.RawQuery = q.Encode()
	db, err := postgres.Open(ctx, u.String(), postgres.WithMaxConns(fillers), postgres.WithTimeout(30*time.Second))
	if err != nil {
		return err
	}
	defer db.Close()
	id, err := db.DeploymentID(ctx)
	if err != nil {
		return err
	}
	// cmd/latch names its keys after the database's deployment ID.
	p.prefix = "latch-" + id[:min(12, len(id))]
	ss, closeSessions, err := redisSessions(ctx, redisURL, p.prefix, db)
	if err != nil {
		return err
	}
	defer closeSessions()

	h, err := password.New(password.Config{})
	if err != nil {
		return err
	}
	phc, err := h.Hash(ctx, "scalerows "+rand.Text()) // no one logs in: whoami reads the account, never its hash
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	for i := range 1000 {
		uid := make([]byte, 16)
		_, _ = rand.Read(uid)
		usr := &latch.User{ID: base64.RawURLEncoding.EncodeToString(uid), Email: fmt.Sprintf("rows-%04d@example.com", i),
			PasswordHash: phc, Role: latch.DefaultRole, CreatedAt: now, UpdatedAt: now}
		if err := db.CreateUser(ctx, usr); err != nil {
			return err
		}
		p.users = append(p.users, usr.ID)
	}

	start := time.Now()
	var next atomic.Int64
	errc := make(chan error, fillers)
	var wg sync.WaitGroup
	for range fillers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= p.n || ctx.Err() != nil {
					return
				}
				sid := make([]byte, 16)
				_, _ = rand.Read(sid)
				csrf := make([]byte, 32)
				_, _ = rand.Read(csrf)
				t := time.Now().UTC()
				s := &latch.Session{ID: base64.RawURLEncoding.EncodeToString(sid), UserID: p.users[i%len(p.users)], Kind: latch.KindSession,
					TokenHash: latch.HashSecret(p.secret(i)), CSRFHash: latch.HashSecret(base64.RawURLEncoding.EncodeToString(csrf)),
					CreatedAt: t, LastSeenAt: t, RotatedAt: t, IdleExpiresAt: t.Add(idleTimeout), ExpiresAt: t.Add(12 * time.Hour),
					UserAgent: "Mozilla/5.0 (X11; Linux x86_64) scalerows", IP: "192.0.2.1", AMR: []string{latch.AMRPassword}}
				if err := ss.CreateSession(ctx, s); err != nil {
					errc <- fmt.Errorf("session %d: %w", i, err)
					return
				}
				if done := i + 1; done%100_000 == 0 {
					fmt.Fprintf(os.Stderr, "scalerows: %s: %d sessions written (%.0f/s)\n", p.name, done, float64(done)/time.Since(start).Seconds())
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	p.fillFor = time.Since(start)
	// The statistics autovacuum would gather after such a load (it may be
	// off, as on the test servers): without them the planner expects a
	// third of the sessions expired, and latch's purge of expired sessions
	// reads the whole table instead of its deadline indexes.
	conn, err := pgx.Connect(ctx, p.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "ANALYZE")
	return err
}

// ensureCopies checks that Redis holds a copy of each of p's sessions, as
// it does of every live session while Redis is trusted. latch deletes
// every copy under its prefix when it finds Redis again after a failure
// (a command slower than its 400 ms timeout is one, on a loaded machine),
// and fills a copy again only when the session is next used: so a missing
// copy is put back the way latch itself would, by a lookup through the
// redis SessionStore.
func (p *pgDeployment) ensureCopies(ctx context.Context, rdb *goredis.Client, redisURL string) error {
	copies, err := countSessionCopies(ctx, rdb, p.prefix)
	if err != nil || copies >= p.n {
		return err
	}
	fmt.Fprintf(os.Stderr, "scalerows: %s: %d of %d session copies in Redis; putting the rest back through the store\n%s", p.name, copies, p.n,
		tail(p.proc.Output(), 2000))
	db, err := postgres.Open(ctx, p.url, postgres.WithMaxConns(8), postgres.WithTimeout(30*time.Second))
	if err != nil {
		return err
	}
	defer db.Close()
	ss, closeSessions, err := redisSessions(ctx, redisURL, p.prefix, db)
	if err != nil {
		return err
	}
	defer closeSessions()
	const batch = 1000
	var next atomic.Int64
	errc := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				from := int(next.Add(batch)) - batch
				if from >= p.n || ctx.Err() != nil {
					return
				}
				pipe := rdb.Pipeline()
				var hashes [][]byte
				var cmds []*goredis.IntCmd
				for i := from; i < min(from+batch, p.n); i++ {
					h := latch.HashSecret(p.secret(i))
					hashes = append(hashes, h)
					cmds = append(cmds, pipe.Exists(ctx, "{"+p.prefix+":s:"+hex.EncodeToString(h)+"}"))
				}
				if _, err := pipe.Exec(ctx); err != nil {
					errc <- err
					return
				}
				for j, c := range cmds {
					if c.Val() == 0 {
						if _, err := ss.SessionByTokenHash(ctx, hashes[j]); err != nil {
							errc <- fmt.Errorf("%s: session %d: %w", p.name, from+j, err)
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	if copies, err = countSessionCopies(ctx, rdb, p.prefix); err != nil {
		return err
	}
	if copies < p.n {
		return fmt.Errorf("%s: %d of %d session copies in Redis after putting them back:\n%s", p.name, copies, p.n, tail(p.proc.Output(), 2000))
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// lock takes an exclusive flock on file (as flock(1) does), so that the
// timed part alone runs under the machine's benchmark lock, and returns
// its release.
func lock(ctx context.Context, file string) (func(), error) {
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	got := make(chan error, 1)
	go func() { got <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-got:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("flock %s: %w", file, err)
		}
	case <-ctx.Done():
		f.Close() // the goroutine's flock fails or is released with the file
		return nil, ctx.Err()
	}
	fmt.Fprintf(os.Stderr, "scalerows: %s taken after %v\n", file, time.Since(start).Round(time.Second))
	return func() { _ = f.Close() }, nil
}

// redisCounters are server-wide counters of Redis's INFO.
type redisCounters map[string]float64

func readRedis(ctx context.Context, rdb *goredis.Client) redisCounters {
	c := redisCounters{}
	txt, err := rdb.Info(ctx, "commandstats", "stats", "cpu", "memory").Result()
	if err != nil {
		return c
	}
	for _, line := range strings.Split(txt, "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if strings.HasPrefix(k, "cmdstat_") { // calls=N,usec=…
			for _, f := range strings.Split(v, ",") {
				if n, ok := strings.CutPrefix(f, "calls="); ok {
					c[k], _ = strconv.ParseFloat(n, 64)
				}
			}
			continue
		}
		if x, err := strconv.ParseFloat(v, 64); err == nil {
			c[k] = x
		}
	}
	return c
}

// pgCounters are one database's counters of pg_stat_database, its
// sessions table's updates (pg_stat_user_tables: all, and those written as
// HOT updates, without new index entries), and the server's WAL
// (pg_stat_wal: bytes, full-page images).
type pgCounters struct {
	commits, updated, fetched, blksRead, blksHit, size float64
	sessUpd, sessHot, walBytes, walFPI                 float64
}

func readPG(ctx context.Context, pgURL, dbURL, name string) pgCounters {
	var c pgCounters
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return c
	}
	defer conn.Close(context.Background())
	_ = conn.QueryRow(ctx, `SELECT xact_commit, tup_updated, tup_fetched, blks_read, blks_hit, pg_database_size(datname)
		FROM pg_stat_database WHERE datname = $1`, name).Scan(&c.commits, &c.updated, &c.fetched, &c.blksRead, &c.blksHit, &c.size)
	_ = conn.QueryRow(ctx, `SELECT wal_bytes, wal_fpi FROM pg_stat_wal`).Scan(&c.walBytes, &c.walFPI)
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return c
	}
	defer db.Close(context.Background())
	_ = db.QueryRow(ctx, `SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'sessions'`).Scan(&c.sessUpd, &c.sessHot)
	return c
}

type pgSample struct {
	load       latchbench.Load
	rss, hwm   int64 // KiB
	latchCPU   float64
	pgCPU      float64            // s, every postgres process
	selfCPU    float64            // s, this program (the load generator)
	redisCalls map[string]float64 // per request
	storeOps   map[string]float64 // latch's store calls by store and method, per request
	redisCPU   float64            // s
	hits, miss float64
	pg         pgCounters // deltas
	redisMem   float64
}

// pgSessions: whoami by session cookie on PostgreSQL + Redis, each request
// with a session drawn at random from large live sessions against small,
// in alternating rounds on two latches, each on a fresh database of its
// own (with its own key prefix in Redis). The latches start before the
// fill: at start latch deletes the session copies under its prefix (they
// may be stale), so the copies are written while it runs, as logins would.
func pgSessions(ctx context.Context, bin, pgURL, redisURL, lockFile, perfFile string, small, large, rounds, workers, fillers int, hot bool, d time.Duration) error {
	ropt, err := goredis.ParseURL(redisURL)
	if err != nil {
		return err
	}
	rdb := goredis.NewClient(ropt)
	defer rdb.Close()
	tag := strings.ToLower(rand.Text()[:8])
	var deps []*pgDeployment
	defer func() {
		for _, p := range deps {
			if p.proc != nil {
				stop(p.proc)
			}
		}
		for _, p := range deps {
			if p.prefix != "" {
				cctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				n, err := unlinkPrefix(cctx, rdb, p.prefix)
				cancel()
				fmt.Fprintf(os.Stderr, "scalerows: %s: %d Redis keys under {%s:…} deleted (%v)\n", p.name, n, p.prefix, err)
			}
		}
	}()
	for _, n := range []int{small, large} {
		p := &pgDeployment{n: n, name: fmt.Sprintf("latch_rows_%s_%d", tag, n)}
		_, _ = rand.Read(p.seed[:])
		var drop func()
		if p.url, drop, err = createDatabase(ctx, pgURL, p.name); err != nil {
			return err
		}
		defer drop()
		deps = append(deps, p)
		// Sessions idle for 2 hours (not 30 minutes), so that they are still
		// live after a fill and a wait for the lock; whoami slides them all
		// the same.
		p.proc, err = proctest.Launch(ctx, "latch", bin, "serve", "--addr", "127.0.0.1:0", "--db", p.url, "--redis", redisURL,
			"--session-idle-timeout", idleTimeout.String(), "--login-ip-rate", "0", "--log-level", "warn", "--audit-log", "off")
		if err != nil {
			return err
		}
		p.base = "http://" + p.proc.Addr
		if err := waitReady(ctx, p.base); err != nil {
			return err
		}
		if err := fillPG(ctx, p, redisURL, fillers); err != nil {
			return err
		}
		pc := readPG(ctx, pgURL, p.url, p.name)
		fmt.Fprintf(os.Stderr, "scalerows: %s: %d sessions in %v (%.0f/s); database %.0f MiB\n",
			p.name, p.n, p.fillFor.Round(time.Millisecond), float64(p.n)/p.fillFor.Seconds(), pc.size/(1<<20))
	}
	for _, p := range deps {
		if err := p.ensureCopies(ctx, rdb, redisURL); err != nil {
			return err
		}
	}
	mem0 := readRedis(ctx, rdb)["used_memory"]
	if lockFile != "" {
		unlock, err := lock(ctx, lockFile)
		if err != nil {
			return err
		}
		defer unlock()
	}

	// What is measured: the small set, the large set, and (hot) the large
	// set drawn from as few sessions as the small one holds, which uses
	// each as often as the small set's are: the size alone.
	type row struct {
		label string
		p     *pgDeployment
		draw  int
	}
	rows := []row{{fmt.Sprintf("%d", small), deps[0], small}, {fmt.Sprintf("%d", large), deps[1], large}}
	if hot {
		rows = append(rows, row{fmt.Sprintf("%d, drawn from %d of them", large, small), deps[1], small})
	}
	header := func(r row) func() http.Header {
		return func() http.Header {
			return http.Header{"Cookie": {sessionCookie + "=" + r.p.secret(mrand.IntN(r.draw))}}
		}
	}
	res := make([][]pgSample, len(rows))
	for round := range rounds {
		order := make([]int, len(rows))
		for i := range order {
			order[i] = i
		}
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, i := range order {
			x := rows[i]
			for attempt := 1; ; attempt++ {
				if err := x.p.ensureCopies(ctx, rdb, redisURL); err != nil {
					return err
				}
				logged := make([]int, len(deps))
				for i, p := range deps {
					logged[i] = len(p.proc.Output())
				}
				url := x.p.base + "/v1/whoami"
				if l := latchbench.ClosedLoopHeaders(ctx, "GET", url, header(x), workers, time.Second); l.Success < 0.999 { // warm up
					return fmt.Errorf("%s: whoami warm-up: %.1f %% ok (%v)", x.p.name, l.Success*100, l.Errors)
				}
				r0, pg0 := readRedis(ctx, rdb), readPG(ctx, pgURL, x.p.url, x.p.name)
				var perf *exec.Cmd
				if perfFile != "" && round == 0 {
					perf = exec.Command("perf", "record", "-F", "999", "-g", "-p", strconv.Itoa(x.p.proc.Pid()), "-o", fmt.Sprintf("%s.%d", perfFile, i))
					if err := perf.Start(); err != nil {
						return fmt.Errorf("perf: %w", err)
					}
				}
				ops0 := storeCalls(ctx, x.p.base)
				u0, k0 := cpuTimes(x.p.proc.Pid())
				pgc0, me0 := commCPU("postgres"), selfCPU()
				l := latchbench.ClosedLoopHeaders(ctx, "GET", url, header(x), workers, d)
				u1, k1 := cpuTimes(x.p.proc.Pid())
				pgc1, me1 := commCPU("postgres"), selfCPU()
				if perf != nil {
					_ = perf.Process.Signal(os.Interrupt)
					_ = perf.Wait()
				}
				r1, pg1 := readRedis(ctx, rdb), readPG(ctx, pgURL, x.p.url, x.p.name)
				ops := map[string]float64{}
				for k, v := range storeCalls(ctx, x.p.base) {
					if d := (v - ops0[k]) / float64(max(l.Requests, 1)); d > 0 {
						ops[k] = d
					}
				}
				s := pgSample{storeOps: ops, load: l, latchCPU: u1 + k1 - u0 - k0, pgCPU: pgc1 - pgc0, selfCPU: me1 - me0, redisCalls: map[string]float64{},
					redisCPU: r1["used_cpu_user"] + r1["used_cpu_sys"] - r0["used_cpu_user"] - r0["used_cpu_sys"],
					hits:     r1["keyspace_hits"] - r0["keyspace_hits"], miss: r1["keyspace_misses"] - r0["keyspace_misses"],
					pg: pgCounters{commits: pg1.commits - pg0.commits, updated: pg1.updated - pg0.updated, fetched: pg1.fetched - pg0.fetched,
						blksRead: pg1.blksRead - pg0.blksRead, blksHit: pg1.blksHit - pg0.blksHit, size: pg1.size,
						sessUpd: pg1.sessUpd - pg0.sessUpd, sessHot: pg1.sessHot - pg0.sessHot, walBytes: pg1.walBytes - pg0.walBytes, walFPI: pg1.walFPI - pg0.walFPI},
					redisMem: r1["used_memory"]}
				for k, v := range r1 {
					if strings.HasPrefix(k, "cmdstat_") && v > r0[k] {
						s.redisCalls[strings.TrimPrefix(k, "cmdstat_")] = (v - r0[k]) / float64(max(l.Requests, 1))
					}
				}
				s.rss, s.hwm = procMem(x.p.proc)
				if l.Success < 0.999 {
					return fmt.Errorf("%s: whoami: %.1f %% ok (%v)", x.p.name, l.Success*100, l.Errors)
				}
				fmt.Fprintf(os.Stderr, "scalerows: round %d, %s sessions: %.0f/s p50 %.2f ms p99 %.2f ms, latch %.0f µs CPU/request, RSS %d KiB\n",
					round+1, x.label, l.PerSec, l.P50, l.P99, s.latchCPU/float64(max(l.Requests, 1))*1e6, s.rss)
				// A Redis command slower than latch's timeout (a stall of this
				// shared machine) sends latch to the database and makes it
				// delete its copies: that round measured the outage, not the
				// sessions. It is measured again.
				lost := ""
				for i, p := range deps { // either latch: one that flushes its copies loads Redis
					if out := p.proc.Output()[logged[i]:]; strings.Contains(out, "redis failed") {
						lost += out
					}
				}
				if lost != "" && attempt < 3 {
					fmt.Fprintf(os.Stderr, "scalerows: round %d, %s sessions: a latch lost Redis during the round; measuring it again\n%s", round+1, x.label, lost)
					continue
				}
				res[i] = append(res[i], s)
				break
			}
		}
	}
	for _, p := range deps {
		if strings.Contains(p.proc.Output(), "level=WARN") || strings.Contains(p.proc.Output(), "level=ERROR") {
			fmt.Fprintf(os.Stderr, "scalerows: %s logged:\n%s\n", p.name, p.proc.Output())
		}
	}

	fmt.Printf("whoami by session cookie, PostgreSQL + Redis, a session drawn at random from %d vs %d live sessions for each request (%d alternating rounds, %v closed-loop at %d workers each, after 1 s of warm-up; one latch per database, the same through the rounds):\n\n",
		large, small, rounds, d, workers)
	fmt.Println("| live sessions | req/s per round | p50 ms | p99 ms | latch CPU µs per request | Redis calls per request | Redis CPU µs per request | PostgreSQL commits per request (rows updated) | sessions updated as HOT; WAL KB (full pages) per request | PostgreSQL CPU µs per request | load generator CPU µs per request | latch RSS after the load, MiB (peak) |")
	fmt.Println("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	med := make([]float64, len(rows))
	for i, x := range rows {
		var rps, p50, p99, cpu, calls, rcpu, pgw, hot, pgcpu, gen, rss []string
		var v []float64
		for _, s := range res[i] {
			n := float64(max(s.load.Requests, 1))
			rps = append(rps, fmt.Sprintf("%.0f", s.load.PerSec))
			p50 = append(p50, fmt.Sprintf("%.2f", s.load.P50))
			p99 = append(p99, fmt.Sprintf("%.2f", s.load.P99))
			cpu = append(cpu, fmt.Sprintf("%.0f", s.latchCPU/n*1e6))
			var cs []string
			for _, k := range slices.Sorted(maps.Keys(s.redisCalls)) {
				if s.redisCalls[k] >= 0.005 {
					cs = append(cs, fmt.Sprintf("%s %.2f", k, s.redisCalls[k]))
				}
			}
			calls = append(calls, strings.Join(cs, ", "))
			rcpu = append(rcpu, fmt.Sprintf("%.0f", s.redisCPU/n*1e6))
			pgw = append(pgw, fmt.Sprintf("%.2f (%.2f)", s.pg.commits/n, s.pg.updated/n))
			hot = append(hot, fmt.Sprintf("%.0f %%; %.1f (%.2f)", s.pg.sessHot/max(s.pg.sessUpd, 1)*100, s.pg.walBytes/n/1024, s.pg.walFPI/n))
			pgcpu = append(pgcpu, fmt.Sprintf("%.0f", s.pgCPU/n*1e6))
			gen = append(gen, fmt.Sprintf("%.0f", s.selfCPU/n*1e6))
			rss = append(rss, fmt.Sprintf("%.1f (%.1f)", float64(s.rss)/1024, float64(s.hwm)/1024))
			v = append(v, s.load.PerSec)
		}
		slices.Sort(v)
		med[i] = (v[(len(v)-1)/2] + v[len(v)/2]) / 2
		j := func(s []string) string { return strings.Join(s, " / ") }
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", x.label, j(rps), j(p50), j(p99), j(cpu), j(calls), j(rcpu), j(pgw), j(hot), j(pgcpu), j(gen), j(rss))
	}
	fmt.Println("\nlatch's store calls per request (its /metrics, latch_store_operation_seconds_count by store and method; 0.005 and more):")
	fmt.Println()
	fmt.Println("| live sessions | store calls per request, per round |")
	fmt.Println("|--:|---|")
	for i, x := range rows {
		var per []string
		for _, s := range res[i] {
			var cs []string
			for _, k := range slices.Sorted(maps.Keys(s.storeOps)) {
				if s.storeOps[k] >= 0.005 {
					cs = append(cs, fmt.Sprintf("%s %.3f", k, s.storeOps[k]))
				}
			}
			per = append(per, strings.Join(cs, ", "))
		}
		fmt.Printf("| %s | %s |\n", x.label, strings.Join(per, " / "))
	}
	fmt.Printf("\ncost ratio (req/s with %d over req/s with %d, the medians of the rounds): **%.3f×**\n", small, large, med[0]/med[1])
	if hot {
		fmt.Printf("the size alone (req/s with %d over req/s with %d drawn from %d of them): **%.3f×**\n", small, large, small, med[0]/med[2])
	}
	last := res[1][len(res[1])-1]
	fmt.Printf("fill: %d sessions in %v (%.0f/s, %d at once); database %.0f MiB; Redis used_memory %.0f MiB with both sets\n",
		large, deps[1].fillFor.Round(time.Second), float64(large)/deps[1].fillFor.Seconds(), fillers, last.pg.size/(1<<20), mem0/(1<<20))
	return nil
}

// commCPU is the CPU time, in seconds, of every process named comm (all of
// a PostgreSQL server's: its backends, WAL writer, checkpointer).
func commCPU(comm string) float64 {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var t float64
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(b)) != comm {
			continue
		}
		u, k := cpuTimes(pid)
		t += u + k
	}
	return t
}

// selfCPU is this process's CPU time in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// redisSessions opens the redis SessionStore in front of db under prefix,
// as cmd/latch wires it, once its first flush is done (copies are written
// from then on); closeAll closes both the store and its client.
func redisSessions(ctx context.Context, redisURL, prefix string, db *postgres.DB) (ss *redis.SessionStore, closeAll func(), err error) {
	rc, err := redis.Open(ctx, redisURL, redis.WithPrefix(prefix))
	if err != nil {
		return nil, nil, err
	}
	ss = rc.Sessions(db)
	closeAll = func() { _ = ss.Close(); _ = rc.Close() }
	for !rc.Healthy() {
		if !sleepCtx(ctx, 10*time.Millisecond) {
			closeAll()
			return nil, nil, ctx.Err()
		}
	}
	return ss, closeAll, nil
}
