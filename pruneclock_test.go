package latch_test

import (
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

func TestPruneClock_Time(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	type reading struct {
		wall, mono time.Duration // after t0 and after the start
		want       time.Duration // after t0
	}
	for _, c := range []struct {
		name     string
		readings []reading
	}{
		{"a clock that keeps real time is followed", []reading{
			{0, 0, 0}, {time.Minute, time.Minute, time.Minute}, {time.Hour, time.Hour, time.Hour},
		}},
		{"a step forward is held to real time", []reading{
			{0, 0, 0}, {3*time.Hour + time.Minute, time.Minute, time.Minute}, {3*time.Hour + 2*time.Minute, 2 * time.Minute, 2 * time.Minute},
		}},
		{"forward then back: the step back is followed", []reading{
			{0, 0, 0}, {3 * time.Hour, time.Minute, time.Minute}, {2 * time.Minute, 2 * time.Minute, 2 * time.Minute},
			{3 * time.Minute, 3 * time.Minute, 3 * time.Minute},
		}},
		{"a step back is followed at once", []reading{
			{0, 0, 0}, {-time.Hour, time.Minute, -time.Hour}, {-time.Hour + time.Minute, 2 * time.Minute, -time.Hour + time.Minute},
		}},
		{"back then forward: held to real time from the low point", []reading{
			{0, 0, 0}, {-time.Hour, time.Minute, -time.Hour}, {2 * time.Minute, 2 * time.Minute, -time.Hour + time.Minute},
		}},
		{"a step forward held for TrustForward is followed", []reading{
			{0, 0, 0}, {3 * time.Hour, time.Minute, time.Minute},
			{3*time.Hour + latch.TrustForward - time.Second, latch.TrustForward + time.Minute - time.Second, latch.TrustForward + time.Minute - time.Second},
			{3*time.Hour + latch.TrustForward, latch.TrustForward + time.Minute, 3*time.Hour + latch.TrustForward},
			{3*time.Hour + latch.TrustForward + time.Minute, latch.TrustForward + 2*time.Minute, 3*time.Hour + latch.TrustForward + time.Minute},
		}},
		{"a step forward that comes back before TrustForward starts the count again", []reading{
			{0, 0, 0}, {3 * time.Hour, time.Minute, time.Minute}, {2 * time.Minute, 2 * time.Minute, 2 * time.Minute},
			{3 * time.Hour, 3 * time.Minute, 3 * time.Minute}, // ahead again since here
			// A day after the first step, less than one after the second.
			{3*time.Hour + latch.TrustForward, latch.TrustForward + 2*time.Minute, latch.TrustForward + 2*time.Minute},
		}},
		{"a monotonic reading that goes back moves nothing", []reading{
			{0, time.Minute, 0}, {time.Minute, 0, 0}, {2 * time.Minute, 2 * time.Minute, time.Minute},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var pc latch.PruneClock
			for i, r := range c.readings {
				if got := pc.Time(t0.Add(r.wall), r.mono); !got.Equal(t0.Add(r.want)) {
					t.Fatalf("reading %d (clock %v, real %v) = %v after t0, want %v", i, r.wall, r.mono, got.Sub(t0), r.want)
				}
			}
		})
	}
}
