package e2e_test

import (
	"bufio"
	"bytes"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHeapFloor checks the process-wide setting of cmd/latch's main: with
// GOGC unset the collector's heap goal is held at 16 MiB while the live
// heap is small (internal/gcfloor), and with GOGC set latch leaves the
// collector to it (Go's own 4 MiB minimum then).
func TestHeapFloor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		gogc     string
		min, max float64 // the heap goal to wait for, MiB
	}{
		{"", 15.5, 16.5},
		{"100", 0, 8},
	} {
		t.Run("GOGC="+c.gogc, func(t *testing.T) {
			t.Setenv("GOGC", c.gogc) // the child inherits it
			p := startLatch(t, "serve", "--addr", "127.0.0.1:0", "--login-ip-rate", "0", "--db", "sqlite:"+filepath.Join(t.TempDir(), "latch.db"), "--log-level", "warn")
			base := "http://" + p.Addr
			// A signup and a login: argon2id's 19 MiB each make collections
			// at once; requests after them keep the collector running.
			email, pw := "floor-"+strings.ToLower(randomSecret()[:10])+"@example.com", randomSecret()
			if st, b := call(t, "POST", base+"/v1/signup", "", map[string]string{"email": email, "password": pw}); st != 201 && st != 200 {
				t.Fatalf("signup: %d %s", st, b)
			}
			tok := login(t, base, email, pw)
			var goal float64
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
				for range 200 {
					call(t, "GET", base+"/v1/whoami", tok, nil)
				}
				goal = nextGC(t, base) / mib
				if goal >= c.min && goal <= c.max {
					return
				}
			}
			t.Fatalf("heap goal %.1f MiB, want %.1f–%.1f MiB", goal, c.min, c.max)
		})
	}
}

// nextGC reads go_memstats_next_gc_bytes from latch's /metrics.
func nextGC(t *testing.T, base string) float64 {
	t.Helper()
	st, body := call(t, "GET", base+"/metrics", "", nil)
	if st != 200 {
		t.Fatalf("/metrics: %d", st)
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_next_gc_bytes "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatal("/metrics has no go_memstats_next_gc_bytes")
	return 0
}
