package jose_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/latch-dev/latch/jose"
)

// observed records what a Verifier reports to WithObserver.
type observed struct {
	mu                  sync.Mutex
	hits, checks, timed int
	hitTimed            int
}

func (o *observed) fn(cached bool, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case cached:
		o.hits++
		if d > 0 {
			o.hitTimed++
		}
	default:
		o.checks++
		if d > 0 {
			o.timed++
		}
	}
}

func TestVerifier_WithObserver(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name                  string
		cache                 bool
		wantHits, wantChecks  int
		verifies, badVerifies int
	}{
		{"no cache: every verify is a full check", false, 0, 300, 200, 100},
		{"cache: the first is a full check, the rest hits", true, 199, 101, 200, 100},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, jose.EdDSA)
			var o observed
			opts := []jose.VerifierOption{jose.WithObserver(o.fn)}
			if c.cache {
				opts = append(opts, jose.WithCache(10))
			}
			v, err := jose.NewVerifier(f.keys, testIssuer, testAudience, opts...)
			if err != nil {
				t.Fatal(err)
			}
			v.Now = func() time.Time { return f.now }
			tok := f.MustSign(t, f.accessClaims())
			for range c.verifies {
				if _, err := v.Verify(ctx, tok); err != nil {
					t.Fatal(err)
				}
			}
			forged := withSig(t, tok, make([]byte, 64))
			for range c.badVerifies {
				if _, err := v.Verify(ctx, forged); err == nil {
					t.Fatal("a forged signature verified")
				}
			}
			if o.hits != c.wantHits || o.checks != c.wantChecks {
				t.Errorf("hits %d, full checks %d; want %d, %d", o.hits, o.checks, c.wantHits, c.wantChecks)
			}
			if o.timed != o.checks {
				t.Errorf("%d of %d full checks timed; want all", o.timed, o.checks)
			}
			// One hit in 64 is timed, at random: 199 hits give 0 timed
			// with a chance of (63/64)^199 ≈ 4%, so only an upper bound.
			if o.hitTimed > o.hits/4 {
				t.Errorf("%d of %d cache hits timed; want about one in 64", o.hitTimed, o.hits)
			}
		})
	}
}

// BenchmarkVerifyCached is a cache hit, the bearer hot path, with and
// without an observer: the cost of the verify-latency metric.
func BenchmarkVerifyCached(b *testing.B) {
	for _, c := range []struct {
		name string
		opts []jose.VerifierOption
	}{
		{"plain", nil},
		{"observed", []jose.VerifierOption{jose.WithObserver(func(bool, time.Duration) {})}},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := newFixture(b, jose.EdDSA)
			v, err := jose.NewVerifier(f.keys, testIssuer, testAudience, append(c.opts, jose.WithCache(10))...)
			if err != nil {
				b.Fatal(err)
			}
			v.Now = func() time.Time { return f.now }
			tok := f.MustSign(b, f.accessClaims())
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
