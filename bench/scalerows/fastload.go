package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// The latency row's load generator. vegeta (latchbench's, used by every
// other row and by latch bench) costs its process about 27 µs of CPU a
// request: on the one core the pinned row leaves it, it sends at most
// 30,000–37,000 requests a second, below what a one-core latch answers
// (about 60,000 with wrk in bench/wrk.sh), so its "maximum" was its own,
// and at half of it the generator's core was 60–93 % busy and its own
// queueing made the tail. fasthttp's client costs a fraction of that, so
// the maximum measured is the server's and the open-loop phases leave the
// generator room. Measured in the same window, bench/hello on CPU 0, the
// generator on CPU 1: see BENCHMARKS.md, "Latency under open-loop load".

// fastLoad is what one load phase measured.
type fastLoad struct {
	PerSec         float64 // answered a second
	Requests, Fail int     // answered, and of them not 200 or not answered
	P50, P99, P999 float64 // latency, ms
}

// fastTarget sends one request again and again on conns connections.
type fastTarget struct {
	client *fasthttp.HostClient
	req    *fasthttp.Request
	conns  int
}

func newFastTarget(rawURL string, hdr http.Header, conns int) (*fastTarget, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, errors.New("fast load: http only")
	}
	req := fasthttp.AcquireRequest()
	req.SetRequestURI(rawURL)
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return &fastTarget{
		client: &fasthttp.HostClient{Addr: u.Host, MaxConns: conns, MaxIdleConnDuration: time.Minute,
			ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second},
		req: req, conns: conns,
	}, nil
}

// do sends req once; false when it failed or was not a 200.
func (t *fastTarget) do(req *fasthttp.Request, resp *fasthttp.Response) bool {
	err := t.client.Do(req, resp)
	return err == nil && resp.StatusCode() == http.StatusOK
}

// closed keeps every connection busy for d: the most the server answers.
func (t *fastTarget) closed(ctx context.Context, d time.Duration) fastLoad {
	return t.run(ctx, d, 0)
}

// open sends rate requests a second for d, the i-th due at start + i/rate
// whatever became of the ones before it, and times each from when it was
// due: a request that waited for a free connection, or for the generator,
// counts that wait (wrk2's correction of coordinated omission). The
// connections are the target's, one goroutine each.
func (t *fastTarget) open(ctx context.Context, rate float64, d time.Duration) fastLoad {
	return t.run(ctx, d, rate)
}

func (t *fastTarget) run(ctx context.Context, d time.Duration, rate float64) fastLoad {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	total := int(rate * d.Seconds())
	var due chan time.Time
	if rate > 0 {
		due = make(chan time.Time, total)
	}
	var (
		mu   sync.Mutex
		lats []time.Duration
		fail int
		wg   sync.WaitGroup
	)
	start := time.Now()
	for range t.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each connection's goroutine sends its own copy of the
			// request, made once: Do may write to the request it is given.
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			t.req.CopyTo(req)
			mine := make([]time.Duration, 0, 4096)
			bad := 0
			for {
				var at time.Time
				if due != nil {
					var ok bool
					if at, ok = <-due; !ok {
						break
					}
				} else {
					if ctx.Err() != nil {
						break
					}
					at = time.Now()
				}
				if !t.do(req, resp) {
					bad++
				}
				mine = append(mine, time.Since(at))
			}
			mu.Lock()
			lats, fail = append(lats, mine...), fail+bad
			mu.Unlock()
		}()
	}
	if due != nil {
		// The pacer hands out every request that has come due since it
		// last woke; it wakes every 100 µs, not once a request.
		tick := time.NewTicker(100 * time.Microsecond)
		sent := 0
	pace:
		for sent < total {
			n := min(int(time.Since(start).Seconds()*rate)+1, total)
			for ; sent < n; sent++ {
				due <- start.Add(time.Duration(float64(sent) / rate * float64(time.Second)))
			}
			select {
			case <-ctx.Done():
				break pace
			case <-tick.C:
			}
		}
		tick.Stop()
		close(due)
	}
	wg.Wait()
	el := time.Since(start)
	slices.Sort(lats)
	l := fastLoad{Requests: len(lats), Fail: fail, PerSec: float64(len(lats)) / el.Seconds()}
	if n := len(lats); n > 0 {
		q := func(p float64) float64 { return ms(lats[min(int(float64(n)*p), n-1)]) }
		l.P50, l.P99, l.P999 = q(0.5), q(0.99), q(0.999)
	}
	return l
}

func (l fastLoad) String() string {
	return fmt.Sprintf("%.0f/s (%d failed) p50 %.2f p99 %.2f p99.9 %.2f ms", l.PerSec, l.Fail, l.P50, l.P99, l.P999)
}
