package verify_test

import (
	"context"
	"testing"

	"github.com/latch-dev/latch/jose"
	"github.com/latch-dev/latch/verify"
)

// BenchmarkVerify: warm is a token seen before (cache hit plus the
// revocation check: the target is under 1 µs); cold is a token checked in
// full, signature included.
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	is := newIssuer(b, jose.EdDSA)
	tok := is.MustToken(b, nil)
	b.Run("warm", func(b *testing.B) {
		v := MustVerifier(b, is)
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cold", func(b *testing.B) {
		v := MustVerifier(b, is, verify.WithCacheSize(0))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
