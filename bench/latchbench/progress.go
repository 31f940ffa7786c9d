package latchbench

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// NewProgress reports phases on w: a progress bar per phase when w is a
// terminal, else one plain line as each phase starts and ends.
func NewProgress(w io.Writer, terminal bool) Progress {
	return &progress{w: w, terminal: terminal}
}

type progress struct {
	w        io.Writer
	terminal bool
	mu       sync.Mutex
}

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
	if expected <= 0 {
		bar := progressbar.NewOptions(-1, progressbar.OptionSetWriter(p.w), progressbar.OptionSetDescription(name),
			progressbar.OptionSpinnerType(14), progressbar.OptionClearOnFinish())
		stop := make(chan struct{})
		go func() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					_ = bar.Add(1)
				}
			}
		}()
		return func() {
			close(stop)
			_ = bar.Finish()
			fmt.Fprintf(p.w, "%s: done in %v\n", name, time.Since(start).Round(time.Millisecond))
		}
	}
	steps := int64(expected / (100 * time.Millisecond))
	bar := progressbar.NewOptions64(steps, progressbar.OptionSetWriter(p.w), progressbar.OptionSetDescription(name),
		progressbar.OptionShowElapsedTimeOnFinish(), progressbar.OptionSetPredictTime(false), progressbar.OptionClearOnFinish())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				_ = bar.Set64(min(int64(time.Since(start)/(100*time.Millisecond)), steps))
			}
		}
	})
	return func() {
		close(stop)
		wg.Wait()
		_ = bar.Finish()
		fmt.Fprintf(p.w, "%s: done in %v\n", name, time.Since(start).Round(time.Millisecond))
	}
}
