// Command soak runs latch (built from this module, on a SQLite file of its
// own) under a steady mixed load for a while — logins, whoami by cookie and
// by token, refreshes, logouts, abandoned credentials left to expire, a
// revocation stream follower — and reports every unexpected answer, latch's
// RSS, Go heap, goroutines and open files over time (from /metrics), and
// its live state (the session and revocation gauges, and row counts read
// from the database file), with an SVG plot and the least-squares slope of
// each series over the last half of the run. It exits 1 on any unexpected
// answer.
//
// latch is started with lifetimes short enough (a minute or two; see the
// flags) that the state a credential leaves behind expires and is pruned
// well within the run, and the load keeps a steady population: each
// credential is used for a random time around -life, then logged out or
// abandoned; an abandoned one must be refused (401) once its deadline has
// passed. After the first few minutes the live state stops growing, so a
// slope of zero over the last half is what a run without leaks shows.
//
// `make soak SOAK=10m`; the last results are in BENCHMARKS.md, "Soak".
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"
)

// config is what the flags set.
type config struct {
	duration, every, settle time.Duration
	svg                     string

	// The lifetimes latch serve is started with.
	accessTTL, refreshTTL, refreshAbsolute, idle, absolute time.Duration

	life        time.Duration // a credential's mean planned use
	loginEvery  time.Duration // the interval between two logins
	logoutShare float64       // of retired credentials, the share logged out (the rest are abandoned)
}

func main() {
	var c config
	flag.DurationVar(&c.duration, "duration", 10*time.Minute, "how long the load runs")
	flag.DurationVar(&c.every, "every", 5*time.Second, "how often /metrics and the database are sampled")
	flag.DurationVar(&c.settle, "settle", 5*time.Second, "after the load, how long latch is left idle before the last sample")
	flag.StringVar(&c.svg, "svg", "", "write the plot here")
	flag.DurationVar(&c.accessTTL, "access-ttl", time.Minute, "latch --access-ttl")
	flag.DurationVar(&c.refreshTTL, "refresh-ttl", time.Minute, "latch --refresh-ttl (a family unused this long dies)")
	flag.DurationVar(&c.refreshAbsolute, "refresh-absolute-ttl", 2*time.Minute, "latch --refresh-absolute-ttl")
	flag.DurationVar(&c.idle, "session-idle-timeout", time.Minute, "latch --session-idle-timeout")
	flag.DurationVar(&c.absolute, "session-absolute-timeout", 2*time.Minute, "latch --session-absolute-timeout")
	flag.DurationVar(&c.life, "life", time.Minute, "mean time a credential is used (uniform in 0..2×life, cut at its absolute deadline)")
	flag.DurationVar(&c.loginEvery, "login-every", 250*time.Millisecond, "interval between two logins, a fixed rate (each of 4 workers logs in every 4×this)")
	flag.Float64Var(&c.logoutShare, "logout-share", 0.5, "share of retired credentials logged out; the others are abandoned and must expire")
	flag.Parse()
	if err := c.check(); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if err := run(context.Background(), c); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// check refuses flags that would make the run meaningless or its
// expectations wrong.
func (c config) check() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"-duration", c.duration}, {"-every", c.every}, {"-access-ttl", c.accessTTL}, {"-refresh-ttl", c.refreshTTL},
		{"-refresh-absolute-ttl", c.refreshAbsolute}, {"-session-idle-timeout", c.idle},
		{"-session-absolute-timeout", c.absolute}, {"-life", c.life}, {"-login-every", c.loginEvery}} {
		if d.v <= 0 {
			return fmt.Errorf("%s %v: must be positive", d.name, d.v)
		}
	}
	switch {
	case c.settle < 0:
		return fmt.Errorf("-settle %v: must not be negative", c.settle)
	case c.logoutShare < 0 || c.logoutShare > 1:
		return fmt.Errorf("-logout-share %v: want 0..1", c.logoutShare)
	case min(c.absolute, c.refreshAbsolute) <= 2*retireMargin:
		return fmt.Errorf("the absolute lifetimes must exceed %v (credentials retire %v before them)", 2*retireMargin, retireMargin)
	case c.accessTTL <= 2*retireMargin || c.refreshTTL <= 2*retireMargin || c.idle <= 2*retireMargin:
		return fmt.Errorf("the access, refresh and idle lifetimes must exceed %v", 2*retireMargin)
	}
	return nil
}

// latchArgs are the arguments of latch serve for db.
func (c config) latchArgs(db string) []string {
	return []string{"serve", "--addr", "127.0.0.1:0", "--db", "sqlite:" + db,
		"--login-ip-rate", "0", "--log-level", "warn", "--audit-log", "off",
		"--client", clientID + ":" + clientSecret,
		"--access-ttl", c.accessTTL.String(), "--refresh-ttl", c.refreshTTL.String(),
		"--refresh-absolute-ttl", c.refreshAbsolute.String(),
		"--session-idle-timeout", c.idle.String(), "--session-absolute-timeout", c.absolute.String()}
}
