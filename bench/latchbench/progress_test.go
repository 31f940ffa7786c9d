package latchbench_test

import (
	"bytes"
	"regexp"
	"testing"
	"time"

	"github.com/latch-dev/latch/bench/latchbench"
)

func TestProgress_Phase(t *testing.T) {
	tests := []struct {
		name     string
		terminal bool
		expected time.Duration
		want     *regexp.Regexp
	}{
		{"plain lines", false, 10 * time.Second,
			regexp.MustCompile(`^latch bench: logins \.\.\.\nlatch bench: logins: done in \S+\n$`)},
		{"a bar redrawn in place", true, 10 * time.Second,
			regexp.MustCompile(`^\r\[ {20}\]   0s/10s logins\x1b\[K(\r.*\x1b\[K)*\r\x1b\[Klogins: done in \S+\n$`)},
		{"the time so far", true, 0,
			regexp.MustCompile(`^\r  0\.0s logins\x1b\[K(\r.*\x1b\[K)*\r\x1b\[Klogins: done in \S+\n$`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			done := latchbench.NewProgress(&b, tt.terminal).Phase("logins", tt.expected)
			done()
			if !tt.want.Match(b.Bytes()) {
				t.Errorf("wrote %q, want %s", b.String(), tt.want)
			}
		})
	}
}
