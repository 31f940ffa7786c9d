package latch_test

import (
	"strings"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/memory"
	"github.com/latch-dev/latch/totp"
)

func TestNew_RequiredDeps(t *testing.T) {
	full := newDomain(t).Deps
	cases := []struct {
		name  string
		unset func(*latch.Deps)
	}{
		{"Users", func(d *latch.Deps) { d.Users = nil }},
		{"Sessions", func(d *latch.Deps) { d.Sessions = nil }},
		{"Revocations", func(d *latch.Deps) { d.Revocations = nil }},
		{"Hasher", func(d *latch.Deps) { d.Hasher = nil }},
		{"Signer", func(d *latch.Deps) { d.Signer = nil }},
		{"Verifier", func(d *latch.Deps) { d.Verifier = nil }},
		{"NormalizeEmail", func(d *latch.Deps) { d.NormalizeEmail = nil }},
		{"CheckPassword", func(d *latch.Deps) { d.CheckPassword = nil }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := full
			c.unset(&d)
			_, err := latch.New(latch.Config{Issuer: testIssuer}, d)
			if err == nil || !strings.Contains(err.Error(), "Deps."+c.name) {
				t.Fatalf("New without %s = %v, want an error naming it", c.name, err)
			}
		})
	}
	t.Run("Factors without TOTP or AccountTokens", func(t *testing.T) {
		for _, d := range []latch.Deps{
			func() latch.Deps {
				d := full
				d.Factors, d.AccountTokens = &memory.FactorStore{}, &memory.AccountTokenStore{}
				return d
			}(),
			func() latch.Deps { d := full; d.Factors, d.TOTP = &memory.FactorStore{}, totp.Codes{}; return d }(),
		} {
			if _, err := latch.New(latch.Config{Issuer: testIssuer}, d); err == nil || !strings.Contains(err.Error(), "Deps.Factors needs") {
				t.Fatalf("New = %v, want second factors refused unless whole", err)
			}
		}
	})
	t.Run("a complete set is accepted", func(t *testing.T) {
		if _, err := latch.New(latch.Config{Issuer: testIssuer}, full); err != nil {
			t.Fatal(err)
		}
	})
}

func TestNew_Config(t *testing.T) {
	deps := newDomain(t).Deps
	t.Run("refused", func(t *testing.T) {
		for _, c := range []struct {
			name string
			cfg  latch.Config
		}{
			{"no issuer", latch.Config{}},
			{"negative access ttl", latch.Config{Issuer: testIssuer, AccessTTL: -time.Second}},
			{"negative grace", latch.Config{Issuer: testIssuer, RefreshReuseGrace: -time.Second}},
			{"negative max sessions", latch.Config{Issuer: testIssuer, MaxSessionsPerUser: -1}},
		} {
			if _, err := latch.New(c.cfg, deps); err == nil {
				t.Errorf("%s: New accepted %+v", c.name, c.cfg)
			}
		}
	})
	t.Run("defaults", func(t *testing.T) {
		s, err := latch.New(latch.Config{Issuer: testIssuer}, deps)
		if err != nil {
			t.Fatal(err)
		}
		got := s.Config()
		want := latch.Config{Issuer: testIssuer, Audience: []string{testIssuer},
			AccessTTL: 15 * time.Minute, RefreshTTL: 168 * time.Hour, RefreshAbsoluteTTL: 720 * time.Hour,
			SessionIdleTimeout: 30 * time.Minute, SessionAbsoluteTimeout: 12 * time.Hour,
			FollowInterval: 250 * time.Millisecond}
		if got.Issuer != want.Issuer || len(got.Audience) != 1 || got.Audience[0] != testIssuer ||
			got.AccessTTL != want.AccessTTL || got.RefreshTTL != want.RefreshTTL ||
			got.RefreshAbsoluteTTL != want.RefreshAbsoluteTTL || got.SessionIdleTimeout != want.SessionIdleTimeout ||
			got.SessionAbsoluteTimeout != want.SessionAbsoluteTimeout || got.FollowInterval != want.FollowInterval ||
			got.RefreshReuseGrace != 0 || got.MaxSessionsPerUser != 0 {
			t.Fatalf("Config() = %+v, want %+v", got, want)
		}
	})
	t.Run("a single writer polls for admin commands, every second", func(t *testing.T) {
		s, err := latch.New(latch.Config{Issuer: testIssuer, SingleWriter: true}, deps)
		if err != nil {
			t.Fatal(err)
		}
		if fi := s.Config().FollowInterval; fi != time.Second {
			t.Fatalf("FollowInterval = %v with SingleWriter, want 1s", fi)
		}
	})
}
