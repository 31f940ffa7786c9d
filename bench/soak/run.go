package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latch-dev/latch/internal/proctest"
)

// loginWorkers is how many logins may be in flight at once.
const loginWorkers = 4

// run builds and starts latch, loads it for cfg.duration while sampling,
// leaves it idle for cfg.settle, and reports.
func run(ctx context.Context, cfg config) error {
	dir, err := os.MkdirTemp("", "latch-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bins, err := proctest.Build(".", dir, "./cmd/latch")
	if err != nil {
		return err
	}
	dbPath := filepath.Join(dir, "latch.db")
	args := cfg.latchArgs(dbPath)
	p, err := proctest.Launch(ctx, "latch", bins["./cmd/latch"], args...)
	if err != nil {
		return err
	}
	defer p.Kill()
	fmt.Println("latch", strings.Join(args, " "))
	s := &soak{cfg: cfg, base: "http://" + p.Addr, stream: &http.Client{Transport: &http.Transport{}}}
	setup := s.worker()
	var emails []string
	for i := range 10 {
		e := fmt.Sprintf("soak%d@example.com", i)
		if st, b, err := setup.do("POST", "/v1/signup", nil, map[string]string{"email": e, "password": password}); err != nil || st != 201 {
			return fmt.Errorf("signup: %d %s %v", st, b, err)
		}
		emails = append(emails, e)
	}
	sp, err := openSampler(s, dbPath)
	if err != nil {
		return err
	}
	defer sp.close()
	base, err := sp.take(ctx, 0)
	if err != nil {
		return err
	}
	fmt.Print("before the load: ")
	base.print(0)

	lctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	loop := func(pause time.Duration, fn func(*worker)) {
		wg.Go(func() {
			w := s.worker()
			for lctx.Err() == nil {
				fn(w)
				select {
				case <-lctx.Done():
				case <-time.After(pause):
				}
			}
		})
	}
	// Logins arrive at a fixed rate whatever their latency (loginWorkers
	// workers, staggered, each on a ticker of loginWorkers × loginEvery),
	// so the population, rate × mean life, stays steady on a busy machine.
	for i := range loginWorkers {
		wg.Go(func() {
			w := s.worker()
			select {
			case <-lctx.Done():
				return
			case <-time.After(time.Duration(i) * cfg.loginEvery):
			}
			t := time.NewTicker(loginWorkers * cfg.loginEvery)
			defer t.Stop()
			for lctx.Err() == nil {
				w.login(emails[rand.IntN(len(emails))], rand.IntN(2) == 0)
				select {
				case <-lctx.Done():
				case <-t.C:
				}
			}
		})
	}
	for range 3 {
		loop(2*time.Millisecond, func(w *worker) { w.whoami(rand.IntN(2) == 0) })
	}
	loop(20*time.Millisecond, (*worker).refreshOne)
	loop(100*time.Millisecond, (*worker).retireDue)
	loop(250*time.Millisecond, (*worker).checkDead)
	var events atomic.Int64
	wg.Go(func() { s.follow(lctx, &events) })

	var samples []sample
	take := func() {
		sm, err := sp.take(ctx, time.Since(start))
		if err != nil {
			s.unexpected("sample: %v", err)
			return
		}
		samples = append(samples, sm)
		sm.print(s.nBad.Load())
	}
	tick := time.NewTicker(cfg.every)
	defer tick.Stop()
	for lctx.Err() == nil {
		select {
		case <-lctx.Done():
		case <-tick.C:
			take()
		}
	}
	wg.Wait()
	s.closeIdle()
	time.Sleep(cfg.settle)
	after, err := sp.take(ctx, time.Since(start))
	if err != nil {
		return err
	}
	fmt.Printf("%v after the load: ", cfg.settle)
	after.print(s.nBad.Load())

	report(s, cfg, base, samples, after, events.Load())
	fmt.Printf("database file %.1f MiB, WAL %.1f MiB\n",
		float64(fileSize(dbPath))/mib, float64(fileSize(dbPath+"-wal"))/mib)
	for _, b := range s.bad {
		fmt.Println("  unexpected:", b)
	}
	if cfg.svg != "" {
		if err := os.WriteFile(cfg.svg, plot(samples, cfg.duration), 0o644); err != nil {
			return err
		}
		fmt.Println("plot:", cfg.svg)
	}
	if n := s.nBad.Load(); n > 0 {
		return fmt.Errorf("%d unexpected answers", n)
	}
	return nil
}

// report prints the counts, the readings at the start, middle and end, and
// the trend of every metric over the last half of the load.
func report(s *soak, cfg config, base sample, samples []sample, after sample, events int64) {
	fmt.Printf("\nsoak of %v: %s; stream events %d; unexpected answers %d\n",
		cfg.duration, strings.Join(s.counts(), ", "), events, s.nBad.Load())
	fmt.Printf("at the end: %d credentials held, %d abandoned ones not yet due for their check\n", s.held.Load(), s.waiting())
	if len(samples) < 4 {
		return
	}
	at := func(d time.Duration) sample { // the first sample at or after d
		for _, sm := range samples {
			if sm.at >= d {
				return sm
			}
		}
		return samples[len(samples)-1]
	}
	first, mid, last := samples[0], at(cfg.duration/2), samples[len(samples)-1]
	fmt.Printf("requests %.0f (%.0f/s)\n", last.req-base.req, (last.req-base.req)/last.at.Seconds())
	fmt.Println("\nThe trends: least-squares lines through the last half's one-minute means (the heap: each minute's lowest reading,")
	fmt.Println("under the 19 MiB argon2id steps; the samples themselves when the half is under three minutes). Flat: a fitted change")
	fmt.Println("within 5 % of the mean (the state counts: 10 %), the metric's floor, or two standard errors.")
	w := fit(samples, series()[0], cfg.duration/2)
	fmt.Printf("\n%-24s %9s %9s %9s %9s %9s %9s   %v–%v, %d points: slope/min ± s.e., change, verdict\n",
		"", "before", first.at.Round(time.Second).String(), mid.at.Round(time.Second).String(),
		last.at.Round(time.Second).String(), "max", "after", w.from.Round(time.Second), w.to.Round(time.Second), w.points)
	for _, x := range series() {
		peak := 0.0
		for _, sm := range samples {
			peak = max(peak, sm.v[x.key])
		}
		t := fit(samples, x, cfg.duration/2)
		verdict := "flat"
		if !t.flat {
			verdict = "GROWING"
			if t.change < 0 {
				verdict = "falling"
			}
		}
		d := decimals(x)
		fmt.Printf("%-24s %9.*f %9.*f %9.*f %9.*f %9.*f %9.*f   %+8.2f ± %.2f/min %+8.1f  %s\n", x.label,
			d, base.v[x.key], d, first.v[x.key], d, mid.v[x.key], d, last.v[x.key], d, peak, d, after.v[x.key],
			t.perMin, t.se, t.change, verdict)
	}
}
