package main

import (
	"math"
	"testing"
	"time"
)

func TestFit(t *testing.T) {
	x := metric{key: "v", tol: 0.05, floor: 2}
	// series samples f every 5 s for d.
	series := func(d time.Duration, f func(min float64) float64) []sample {
		var out []sample
		for at := time.Duration(0); at <= d; at += 5 * time.Second {
			out = append(out, sample{at: at, v: map[string]float64{"v": f(at.Minutes())}})
		}
		return out
	}
	saw := func(min float64) float64 { return 200 * (min - math.Floor(min)) } // the janitor's minute
	for _, c := range []struct {
		name    string
		lows    bool
		samples []sample
		perMin  float64 // want, within 0.05
		flat    bool
		points  int
	}{
		{"a constant", false, series(10*time.Minute, func(float64) float64 { return 90 }), 0, true, 5},
		{"a saw tooth of one minute over a plateau", false, series(10*time.Minute, func(m float64) float64 { return 400 + saw(m+0.37) }), 0, true, 5},
		{"growth of 3 a minute", false, series(10*time.Minute, func(m float64) float64 { return 80 + 3*m }), 3, false, 5},
		{"growth under a saw tooth", false, series(10*time.Minute, func(m float64) float64 { return 400 + 20*m + saw(m) }), 20, false, 5},
		{"a decline", false, series(10*time.Minute, func(m float64) float64 { return 500 - 30*m }), -30, false, 5},
		{"growth within the floor", false, series(10*time.Minute, func(m float64) float64 { return 10 + 0.3*m }), 0.3, true, 5},
		{"a short run: the samples themselves", false, series(2*time.Minute, func(m float64) float64 { return 80 + 10*m }), 10, false, 13},
		// Two buffers of 19 MiB more and more often near the end: the
		// means climb, the lowest reading of each minute does not.
		{"steps above a flat floor, fitted by their lows", true, series(10*time.Minute, func(m float64) float64 {
			if int(m*12)%12 < int(m) {
				return 45 + 38
			}
			return 45
		}), 0, true, 5},
		{"steps above a rising floor", true, series(10*time.Minute, func(m float64) float64 {
			if int(m*12)%3 == 0 {
				return 45 + 3*m + 38
			}
			return 45 + 3*m
		}), 3, false, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := c.samples[len(c.samples)-1].at
			x := x
			x.lows = c.lows
			got := fit(c.samples, x, d/2)
			if math.Abs(got.perMin-c.perMin) > 0.05 || got.flat != c.flat || got.points != c.points {
				t.Errorf("fit = %+.3f/min (s.e. %.3f), change %+.2f, flat %v, %d points; want %+.2f/min, flat %v, %d points",
					got.perMin, got.se, got.change, got.flat, got.points, c.perMin, c.flat, c.points)
			}
		})
	}
}
