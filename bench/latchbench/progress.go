package latchbench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// NewProgress reports phases on w: on a terminal, one line per phase
// redrawn in place every 100 ms (a bar of the expected time, or the time so
// far when none is expected); elsewhere one plain line as each phase starts
// and ends.
//
// The bar is drawn here rather than by a progress-bar library: the one used
// before (schollz/progressbar) kept 20 KB in 110 objects of package state
// alive in every `latch serve`, which its garbage collector met at every
// cycle (BENCHMARKS.md, the house redesign's follow-up).
func NewProgress(w io.Writer, terminal bool) Progress {
	return &progress{w: w, terminal: terminal}
}

type progress struct {
	w        io.Writer
	terminal bool
	mu       sync.Mutex
}

// lineWidth is the most a phase's line takes on a terminal, so that it
// never wraps on an 80-column one (a wrapped line cannot be redrawn in place).
const lineWidth = 79

func (p *progress) Phase(name string, expected time.Duration) func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := time.Now()
	if !p.terminal {
		fmt.Fprintf(p.w, "latch bench: %s ...\n", name)
		return func() {
			fmt.Fprintf(p.w, "latch bench: %s: done in %v\n", name, time.Since(start).Round(time.Millisecond))
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			fmt.Fprint(p.w, "\r"+progressLine(name, time.Since(start), expected, lineWidth)+"\033[K")
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	return func() {
		close(stop)
		wg.Wait()
		fmt.Fprintf(p.w, "\r\033[K%s: done in %v\n", name, time.Since(start).Round(time.Millisecond))
	}
}

// progressLine is a phase's line on a terminal, at most width runes: a bar
// of the expected time with the seconds elapsed, or only those when no
// time is expected, then the phase's name, cut to fit.
func progressLine(name string, elapsed, expected time.Duration, width int) string {
	const bar = 20
	head := fmt.Sprintf("%5.1fs ", elapsed.Seconds())
	if expected > 0 {
		n := int(min(elapsed, expected) * bar / expected)
		head = fmt.Sprintf("[%s%s] %3.0fs/%.0fs ", strings.Repeat("=", n), strings.Repeat(" ", bar-n), elapsed.Seconds(), expected.Seconds())
	}
	line := []rune(head + name)
	if len(line) > width {
		return string(line[:width-1]) + "…"
	}
	return string(line)
}
