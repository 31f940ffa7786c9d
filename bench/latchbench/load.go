package latchbench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// openFractions are the open-loop rates, as fractions of the closed-loop
// maximum, at which whoami's latency is measured.
var openFractions = []float64{0.5, 0.9}

// attack runs tr for d: closed-loop at workers concurrency when rate is 0,
// else open-loop at rate requests/s (vegeta starts more workers whenever
// all are busy, so a slow answer does not delay the next request: no
// coordinated omission). each, when set, sees every result.
func attack(ctx context.Context, name string, tr vegeta.Targeter, workers int, rate float64, d time.Duration,
	keepBody bool, each func(*vegeta.Result), extra ...func(*vegeta.Attacker)) Load {
	opts := []func(*vegeta.Attacker){vegeta.KeepAlive(true), vegeta.Timeout(10 * time.Second),
		vegeta.Connections(max(workers, 64)), vegeta.Redirects(vegeta.NoFollow)}
	if !keepBody {
		opts = append(opts, vegeta.MaxBody(0))
	}
	pacer := vegeta.ConstantPacer{Freq: 0, Per: time.Second}
	l := Load{Mode: "closed", Workers: workers}
	if rate > 0 {
		pacer = vegeta.ConstantPacer{Freq: max(int(rate), 1), Per: time.Second}
		// Connections are capped: a request that finds them all busy waits
		// for one, and the wait counts in its latency (it starts when the
		// pacer says it is due). Uncapped, every extra worker vegeta starts
		// would dial a connection of its own, and on a machine whose cores
		// the client shares with latch the dials themselves become the load.
		opts = append(opts, vegeta.Workers(uint64(workers)), vegeta.MaxConnections(max(workers, 64)), vegeta.MaxWorkers(openMaxWorkers))
		l = Load{Mode: "open", Rate: float64(pacer.Freq)}
	} else {
		opts = append(opts, vegeta.Workers(uint64(workers)), vegeta.MaxWorkers(uint64(workers)))
	}
	atk := vegeta.NewAttacker(append(opts, extra...)...)
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	var m vegeta.Metrics
	for res := range atk.Attack(tr, pacer, d, name) {
		if each != nil {
			each(res)
		}
		m.Add(res)
	}
	m.Close()
	l.Duration = m.Duration
	l.Requests = m.Requests
	l.PerSec = m.Throughput
	l.Success = m.Success
	l.P50, l.P99, l.P999 = ms(m.Latencies.P50), ms(m.Latencies.P99), ms(m.Latencies.Quantile(0.999))
	l.Errors = m.Errors
	if len(l.Errors) > 5 {
		l.Errors = l.Errors[:5]
	}
	return l
}

// openMaxWorkers caps the requests an open-loop attack has in flight.
// Past it vegeta waits for a worker before sending, and a request's time
// starts when it is sent, so the latency of an attack that reached the cap
// is a lower bound: with 1,024 in flight at a rate r, the queue is already
// over 1,024/r (about 50 ms at 20,000/s), far past any latency goal. Without
// the cap an overloaded phase (the 90 % row, when the "maximum" was a burst
// the server cannot sustain) started a goroutine for every request it could
// not send: 150,000 in 5 s at 30,000/s, and the generator sent fewer
// requests than with the cap (13,600/s against 26,800/s on one core) and
// stayed slower for the rest of the process (p99 at 16,000/s 4 → 154 ms).
const openMaxWorkers = 1024

// fixed is a targeter that always sends the same request.
func fixed(method, url string, hdr http.Header, body []byte) vegeta.Targeter {
	return vegeta.NewStaticTargeter(vegeta.Target{Method: method, URL: url, Header: hdr, Body: body})
}

// roundRobin spreads one request over several instances.
func roundRobin(urls []string, path string, hdr http.Header) vegeta.Targeter {
	ts := make([]vegeta.Target, len(urls))
	for i, u := range urls {
		ts[i] = vegeta.Target{Method: "GET", URL: u + path, Header: hdr}
	}
	return vegeta.NewStaticTargeter(ts...)
}

// whoamiRows measures GET /v1/whoami with hdr: closed-loop, then open-loop
// at fractions of the closed-loop throughput.
func (r *runner) whoamiRows(ctx context.Context, design, base string, hdr http.Header) (Load, []Load, error) {
	tr := fixed("GET", base+"/v1/whoami", hdr, nil)
	done := r.opts.Progress.Phase(fmt.Sprintf("%s: whoami closed-loop, %d workers", design, r.opts.Workers), r.opts.Duration)
	closed := attack(ctx, "whoami", tr, r.opts.Workers, 0, r.opts.Duration, false, nil)
	done()
	if err := loadError("whoami ("+design+")", closed); err != nil {
		return closed, nil, err
	}
	var open []Load
	for _, f := range openFractions {
		rate := closed.PerSec * f
		done := r.opts.Progress.Phase(fmt.Sprintf("%s: whoami open-loop at %.0f/s (%.0f %% of the maximum)", design, rate, f*100), r.opts.Duration)
		before, timed := r.whoamiTiming(ctx, base)
		l := attack(ctx, "whoami", tr, r.opts.Workers, rate, r.opts.Duration, false, nil)
		if after, ok := r.whoamiTiming(ctx, base); timed && ok {
			l.Server = serverTiming(before, after)
		}
		done()
		l.Fraction = f
		open = append(open, l)
	}
	return closed, open, ctx.Err()
}

// loadError fails a row whose requests mostly failed: its numbers would
// measure the error path.
func loadError(what string, l Load) error {
	if l.Requests == 0 {
		return fmt.Errorf("%s: no request completed", what)
	}
	if l.Success < 0.99 {
		return fmt.Errorf("%s: only %.1f %% of %d requests succeeded (%v)", what, l.Success*100, l.Requests, l.Errors)
	}
	return nil
}

// logins measures POST /v1/login closed-loop, spread over the run's users.
// Logins are argon2id-bound: a handful of workers saturates the CPUs.
func (r *runner) logins(ctx context.Context, base, mode string) (*Load, error) {
	ts := make([]vegeta.Target, len(r.users))
	for i, u := range r.users {
		body, _ := json.Marshal(map[string]string{"email": u.email, "password": u.password, "mode": mode, "refresh_delivery": "body"})
		ts[i] = vegeta.Target{Method: "POST", URL: base + "/v1/login", Body: body,
			Header: http.Header{"Content-Type": {"application/json"}}}
	}
	workers := len(r.users)
	done := r.opts.Progress.Phase(fmt.Sprintf("%s logins, closed-loop, %d workers", mode, workers), r.opts.Duration)
	var shed atomic.Uint64
	l := attack(ctx, "login", vegeta.NewStaticTargeter(ts...), workers, 0, r.opts.Duration, false, func(res *vegeta.Result) {
		if res.Code == http.StatusTooManyRequests {
			shed.Add(1)
		}
	})
	done()
	if l.Requests > 0 {
		l.Shed = float64(shed.Load()) / float64(l.Requests)
	}
	// Logins are where latch sheds load by design (a hash queue with a
	// bounded wait, then 429 with Retry-After): a row with some 429s
	// measured the maximum all the same; one with other failures did not.
	return &l, loadError(mode+" logins", Load{Requests: l.Requests, Success: l.Success + l.Shed, Errors: l.Errors})
}

// refreshes measures POST /v1/token/refresh closed-loop: each worker's
// next refresh presents the token its previous one returned, so each
// request is a real rotation.
func (r *runner) refreshes(ctx context.Context, base string) (*Load, error) {
	workers := len(r.users)
	next := make(chan string, workers)
	for _, u := range r.users {
		t, err := r.c.loginToken(ctx, base, u)
		if err != nil {
			return nil, err
		}
		next <- t.refresh
	}
	tr := func(tgt *vegeta.Target) error {
		select {
		case tok := <-next:
			body, _ := json.Marshal(map[string]string{"refresh_token": tok})
			*tgt = vegeta.Target{Method: "POST", URL: base + "/v1/token/refresh", Body: body,
				Header: http.Header{"Content-Type": {"application/json"}}}
			return nil
		case <-time.After(5 * time.Second):
			return fmt.Errorf("no refresh token to present (every family failed)")
		}
	}
	each := func(res *vegeta.Result) {
		// A failed refresh loses its family: that worker's next request
		// waits for a token that never comes (the row fails then).
		if res.Code == http.StatusOK {
			if t, err := parseTokens("refresh", res.Body); err == nil && t.refresh != "" {
				next <- t.refresh
			}
		}
	}
	done := r.opts.Progress.Phase(fmt.Sprintf("refreshes, closed-loop, %d token families", workers), r.opts.Duration)
	l := attack(ctx, "refresh", tr, workers, 0, r.opts.Duration, true, each)
	done()
	return &l, loadError("refreshes", l)
}

// scaling measures session whoami on the first instance alone, then spread
// over every instance, at the same concurrency: a session made on one
// instance works on another only through a shared store.
func (r *runner) scaling(ctx context.Context, cookie http.Header) (*Scaling, error) {
	done := r.opts.Progress.Phase("scaling: whoami on one instance", r.opts.Duration)
	one := attack(ctx, "whoami", fixed("GET", r.opts.URLs[0]+"/v1/whoami", cookie, nil), r.opts.Workers, 0, r.opts.Duration, false, nil)
	done()
	done = r.opts.Progress.Phase(fmt.Sprintf("scaling: whoami over %d instances", len(r.opts.URLs)), r.opts.Duration)
	all := attack(ctx, "whoami", roundRobin(r.opts.URLs, "/v1/whoami", cookie), r.opts.Workers, 0, r.opts.Duration, false, nil)
	done()
	if err := loadError("whoami over every instance (does each accept the session? they must share a database)", all); err != nil {
		return nil, err
	}
	return &Scaling{One: one, All: all}, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// ClosedLoop sends method url with hdr from workers concurrent workers,
// each sending its next request when its last is answered, for d: the
// throughput and latency that the scale benchmarks in bench/ compare.
func ClosedLoop(ctx context.Context, method, url string, hdr http.Header, workers int, d time.Duration) Load {
	return attack(ctx, "closed", fixed(method, url, hdr, nil), workers, 0, d, false, nil)
}

// OpenLoop sends method url with hdr at rate requests/s for d, whatever the
// answers' latency (no coordinated omission).
func OpenLoop(ctx context.Context, method, url string, hdr http.Header, rate float64, d time.Duration) Load {
	return attack(ctx, "open", fixed(method, url, hdr, nil), 32, rate, d, false, nil)
}

// ClosedLoopHeaders is ClosedLoop with each request's header from header,
// which the workers call concurrently: a session drawn from a large set
// for each request, say.
func ClosedLoopHeaders(ctx context.Context, method, url string, header func() http.Header, workers int, d time.Duration) Load {
	tr := func(t *vegeta.Target) error {
		*t = vegeta.Target{Method: method, URL: url, Header: header()}
		return nil
	}
	return attack(ctx, "closed", tr, workers, 0, d, false, nil)
}
