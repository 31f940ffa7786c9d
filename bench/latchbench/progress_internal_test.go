package latchbench

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestProgressLine(t *testing.T) {
	long := strings.Repeat("session cookie: whoami open-loop at 13652/s ", 3)
	tests := []struct {
		name              string
		phase             string
		elapsed, expected time.Duration
		want              string
	}{
		{"start", "refreshes", 0, 10 * time.Second, "[                    ]   0s/10s refreshes"},
		{"half way", "refreshes", 5 * time.Second, 10 * time.Second, "[==========          ]   5s/10s refreshes"},
		{"late: the bar stays full", "refreshes", 12 * time.Second, 10 * time.Second, "[====================]  12s/10s refreshes"},
		{"nothing expected: the time so far", "revocation delays", 1500 * time.Millisecond, 0, "  1.5s revocation delays"},
		{"cut to the width", long, 2 * time.Second, 10 * time.Second,
			string([]rune("[====                ]   2s/10s " + long)[:78]) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := progressLine(tt.phase, tt.elapsed, tt.expected, lineWidth)
			if got != tt.want {
				t.Errorf("progressLine = %q, want %q", got, tt.want)
			}
			if n := utf8.RuneCountInString(got); n > lineWidth {
				t.Errorf("%d runes, more than %d", n, lineWidth)
			}
		})
	}
}
