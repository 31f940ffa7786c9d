package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latch-dev/latch/bench/latchbench"
)

// TestBenchQuick is the CI smoke test of `latch bench`: a quick run against
// the embedded default it starts itself (this test binary as latch, see
// TestMain) must report every row, with plausible values. It asserts no
// performance.
func TestBenchQuick(t *testing.T) {
	t.Setenv("LATCH_TEST_RUN_MAIN", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	plotFile := filepath.Join(t.TempDir(), "bench.svg")
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"bench", "--quick", "--json", "--plot", plotFile}, strings.NewReader(""), &stdout, &stderr, os.Getenv)
	if code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, stderr.String())
	}
	var rep latchbench.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout.String())
	}

	if rep.Alg != "EdDSA" || rep.Instances != 1 || !rep.Quick || !strings.Contains(rep.Cleanup, "removed") {
		t.Errorf("header: alg %q, %d instances, quick %v, cleanup %q", rep.Alg, rep.Instances, rep.Quick, rep.Cleanup)
	}
	names := []string{latchbench.DesignSession, latchbench.DesignJWT, latchbench.DesignRefresh}
	if len(rep.Designs) != len(names) {
		t.Fatalf("designs: %d, want %d", len(rep.Designs), len(names))
	}
	sizes := []struct {
		design, what string
		min, max     int
	}{
		{latchbench.DesignSession, "cookie value", 20, 100},
		{latchbench.DesignSession, "Cookie request header", 40, 300},
		{latchbench.DesignJWT, "access JWT, EdDSA", 200, 1000},
		{latchbench.DesignJWT, "access JWT, ES256", 200, 1000},
		{latchbench.DesignJWT, "access JWT, RS256", 200, 1000},
		{latchbench.DesignJWT, "access JWT, HS256", 200, 1000},
		{latchbench.DesignRefresh, "refresh token", 20, 100},
	}
	design := map[string]latchbench.Design{}
	for i, d := range rep.Designs {
		if d.Name != names[i] {
			t.Errorf("design %d is %q, want %q", i, d.Name, names[i])
		}
		design[d.Name] = d
	}
	for _, s := range sizes {
		got := -1
		for _, x := range design[s.design].Sizes {
			if x.What == s.what {
				got = x.Bytes
			}
		}
		if got < s.min || got > s.max {
			t.Errorf("%s: size of %s = %d, want %d–%d", s.design, s.what, got, s.min, s.max)
		}
	}
	load := func(what string, l *latchbench.Load) {
		t.Helper()
		switch {
		case l == nil:
			t.Errorf("%s: missing", what)
		case l.Requests == 0 || l.PerSec <= 0 || l.Success+l.Shed < 0.99:
			// 429s with Retry-After are latch shedding logins on a busy
			// machine (measured, not a failure); anything else is.
			t.Errorf("%s: %d requests, %.1f/s, %.3f ok, %.3f shed", what, l.Requests, l.PerSec, l.Success, l.Shed)
		case l.P50 <= 0 || l.P99 < l.P50 || l.P999 < l.P99:
			t.Errorf("%s: percentiles p50 %v p99 %v p99.9 %v", what, l.P50, l.P99, l.P999)
		}
	}
	for _, name := range names {
		d := design[name]
		load(name+" whoami", &d.Whoami)
		if len(d.Open) != 2 {
			t.Errorf("%s: %d open-loop rows, want 2", name, len(d.Open))
		}
		for _, o := range d.Open {
			if o.Rate <= 0 || o.Requests == 0 || o.P50 <= 0 {
				t.Errorf("%s: open-loop row %+v", name, o)
			}
			// latch's own timing of the row's requests (its /metrics):
			// every request the client completed reached a handler.
			if st := o.Server; st == nil || st.Requests < float64(o.Requests)*0.9 || st.Over10ms > st.Over2ms5 || st.Over2ms5 > st.Requests {
				t.Errorf("%s: latch's timing of an open-loop row of %d requests: %+v", name, o.Requests, st)
			}
		}
		load(name+" logins", d.Logins)
		if d.StoreOps.Source == "" || d.StoreOps.InProcessOf == "" {
			t.Errorf("%s: store operations unexplained: %+v", name, d.StoreOps)
		}
		for _, x := range d.Revocation {
			if x.Skipped == "" && (x.Rounds == 0 || x.P50 <= 0 || x.Max < x.P50) {
				t.Errorf("%s: revocation %q: %+v", name, x.Where, x)
			}
			if strings.HasPrefix(x.Where, "same instance") || (name == latchbench.DesignJWT && strings.HasPrefix(x.Where, "verifier")) {
				if x.Rounds != 10 || x.Skipped != "" {
					t.Errorf("%s: revocation %q: %d rounds, skipped %q", name, x.Where, x.Rounds, x.Skipped)
				}
			}
		}
	}
	load("refreshes", design[latchbench.DesignRefresh].Refreshes)
	if ops := design[latchbench.DesignSession].StoreOps; ops.InProcess < 0 || ops.InProcess > 1 {
		t.Errorf("session store operations per request %v, want within [0, 1]", ops.InProcess)
	}
	if ops := design[latchbench.DesignJWT].StoreOps; ops.InProcess != 0 {
		t.Errorf("JWT store operations per request %v, want 0", ops.InProcess)
	}

	if len(rep.Claims) != 5 {
		t.Fatalf("%d claims, want 5", len(rep.Claims))
	}
	for _, c := range rep.Claims {
		if c.Claim == "" || c.Measured == "" {
			t.Errorf("claim %+v", c)
		}
	}
	for _, k := range []string{"cold_eddsa_ns", "cold_es256_ns", "cold_rs256_ns", "cold_hs256_ns", "warm_ns", "session_cached_ns"} {
		if v := rep.Claims[3].Values[k]; v <= 0 {
			t.Errorf("claim %q: %s = %v", rep.Claims[3].Claim, k, v)
		}
	}
	b, err := os.ReadFile(plotFile)
	if err != nil || !bytes.Contains(b, []byte("<svg")) || len(b) > 200_000 {
		t.Errorf("--plot: %d bytes, %v", len(b), err)
	}
}
