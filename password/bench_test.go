package password_test

import (
	"context"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/latch-dev/latch/password"
)

// The three benchmarks run at the default parameters, serially and with
// GOMAXPROCS goroutines, so that BENCHMARKS.md can set Hash and Compare (the
// semaphore, parsing and encoding included) against bare argon2id.

const benchPassword = "correct horse battery staple"

func BenchmarkHash(b *testing.B) {
	h := MustNew(b, password.Config{})
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := h.Hash(ctx, benchPassword); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := h.Hash(ctx, benchPassword); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkCompare(b *testing.B) {
	h := MustNew(b, password.Config{})
	ctx := context.Background()
	phc := MustHash(b, h, benchPassword)
	compare := func() error {
		ok, _, err := h.Compare(ctx, phc, benchPassword)
		if err == nil && !ok {
			b.Error("Compare: no match")
		}
		return err
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := compare(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := compare(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkBareArgon2id(b *testing.B) {
	p := password.DefaultParams()
	salt := make([]byte, p.SaltLen)
	run := func() []byte {
		return argon2.IDKey([]byte(benchPassword), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			run()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				run()
			}
		})
	})
}
