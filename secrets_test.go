package latch_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"math/bits"
	"testing"

	"github.com/latch-dev/latch"
)

// SECURITY.md 2
func TestService_Login_SessionSecrets(t *testing.T) {
	ctx := context.Background()
	svc := newDomain(t, withCache(), withDeps(func(d *latch.Deps) { d.Now = nil })).Service
	if latch.RandOf(svc) != rand.Reader {
		t.Fatalf("the default source of secrets is %T, want crypto/rand.Reader", latch.RandOf(svc))
	}
	const addr, pw = "secrets@example.com", "secret-sampling-pw-1"
	if _, err := svc.Signup(ctx, addr, pw); err != nil {
		t.Fatal(err)
	}

	const n = 10_000
	seen := make(map[string]bool, n)
	prefixes := make(map[string]bool, n)
	ones, total := 0, 0
	for i := range n {
		res, err := svc.Login(ctx, latch.LoginRequest{Email: addr, Password: pw, Mode: latch.KindSession})
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		secret := res.Secret
		raw, err := base64.RawURLEncoding.DecodeString(secret)
		if err != nil || len(raw) < 16 {
			t.Fatalf("secret %q is not >= 128 bits of base64url", secret)
		}
		if seen[secret] {
			t.Fatalf("secret %q issued twice in %d logins", secret, i+1)
		}
		if prefixes[secret[:8]] {
			t.Fatalf("two secrets share the prefix %q in %d logins", secret[:8], i+1)
		}
		if secret == res.Session.ID || secret == res.CSRFToken {
			t.Fatal("the secret doubles as the session handle or the CSRF token")
		}
		seen[secret], prefixes[secret[:8]] = true, true
		for _, b := range raw {
			ones += bits.OnesCount8(b)
		}
		total += 8 * len(raw)
	}
	// 2.56 million bits of a fair source: a share of ones off by 1 % is
	// 30 standard deviations away, and a counter or a skewed source is not.
	if share := float64(ones) / float64(total); share < 0.49 || share > 0.51 {
		t.Fatalf("%.4f of the secret bits are ones, want about 0.5", share)
	}
}
