package main

import (
	"bufio"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// stallProbe measures how late this process's goroutines run: a goroutine
// sleeps 1 ms at a time and records how much longer each sleep took. While
// the load generator runs in this process, a late wake-up here is a time
// its own goroutines (sending requests, reading answers) may also have
// waited: a delay on the client side, not the server's.
type stallProbe struct {
	lates []time.Duration // written by the probe's goroutine; read once it is done
	stop  chan struct{}
	done  chan struct{}
}

// startProbe starts a probe; stop it with end.
func startProbe() *stallProbe {
	p := &stallProbe{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		const nap = time.Millisecond
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			t := time.Now()
			time.Sleep(nap)
			p.lates = append(p.lates, time.Since(t)-nap)
		}
	}()
	return p
}

// probeResult is what a probe saw: the 99th percentile and the largest
// lateness of its wake-ups, and the total time they were late by more
// than 2 ms.
type probeResult struct {
	p99, max, over2ms time.Duration
}

// end stops the probe and reports.
func (p *stallProbe) end() probeResult {
	close(p.stop)
	<-p.done
	ls := p.lates
	if len(ls) == 0 {
		return probeResult{}
	}
	slices.Sort(ls)
	r := probeResult{p99: ls[len(ls)*99/100], max: ls[len(ls)-1]}
	for _, l := range ls {
		if l > 2*time.Millisecond {
			r.over2ms += l
		}
	}
	return r
}

// serverHistogram is a route's request-duration histogram as latch's
// /metrics gives it: the cumulative count per bucket bound (seconds).
type serverHistogram map[float64]float64

// readServerHistogram reads latch_http_request_duration_seconds for the
// route whose label contains route.
func readServerHistogram(ctx context.Context, base, route string) serverHistogram {
	h := serverHistogram{}
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	res, err := hc.Do(req)
	if err != nil {
		return h
	}
	defer res.Body.Close()
	const name = "latch_http_request_duration_seconds_bucket{"
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || !strings.Contains(line, route) {
			continue
		}
		_, rest, ok := strings.Cut(line, `le="`)
		if !ok {
			continue
		}
		le, rest, ok := strings.Cut(rest, `"`)
		f := strings.Fields(rest)
		if !ok || len(f) != 2 {
			continue
		}
		bound, err1 := strconv.ParseFloat(le, 64) // "+Inf" parses as +Inf
		v, err2 := strconv.ParseFloat(f[1], 64)
		if err1 == nil && err2 == nil {
			h[bound] += v
		}
	}
	return h
}

// over is how many of the requests between a and b (b read later) the
// server took longer than bound seconds to answer (bound must be one of
// the histogram's), out of how many.
func over(a, b serverHistogram, bound float64) (n, total float64) {
	var inf float64
	for k := range b {
		inf = max(inf, k)
	}
	total = b[inf] - a[inf]
	if total <= 0 {
		return 0, 0
	}
	return total - (b[bound] - a[bound]), total
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
