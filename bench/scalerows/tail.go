package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/latch-dev/latch/bench/latchbench"
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

// fromMetrics parses base's /metrics with parse (what it makes of nothing
// when /metrics cannot be read).
func fromMetrics[T any](ctx context.Context, base string, parse func(io.Reader) T) T {
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	res, err := hc.Do(req)
	if err != nil {
		return parse(strings.NewReader(""))
	}
	defer res.Body.Close()
	return parse(res.Body)
}

// whoamiTiming reads latch's histogram of whoami durations from base's
// /metrics (empty when it cannot).
func whoamiTiming(ctx context.Context, base string) latchbench.Histogram {
	return fromMetrics(ctx, base, latchbench.WhoamiTiming)
}

// storeCalls reads latch's count of store calls by "store method" from
// base's /metrics (empty when it cannot).
func storeCalls(ctx context.Context, base string) map[string]float64 {
	return fromMetrics(ctx, base, latchbench.StoreCalls)
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// pinSelf runs this process on one CPU with one Go processor: every
// thread it has now is moved to cpu, and threads made later inherit it.
func pinSelf(cpu int) error {
	runtime.GOMAXPROCS(1)
	var set unix.CPUSet
	set.Set(cpu)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			return fmt.Errorf("pin thread %d to CPU %d: %w", tid, cpu, err)
		}
	}
	return nil
}
