package latch_test

import (
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

func TestRevocationList(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	exp := t0.Add(time.Hour)
	var l latch.RevocationList
	l.Add(
		&latch.Revocation{Seq: 1, Kind: latch.RevokeJTI, Value: "j1", Expires: exp, CreatedAt: t0},
		&latch.Revocation{Seq: 2, Kind: latch.RevokeSID, Value: "s1", Expires: exp, CreatedAt: t0},
		&latch.Revocation{Seq: 3, Kind: latch.RevokeSID, Value: "s1", Expires: exp.Add(time.Hour), CreatedAt: t0.Add(time.Minute)},
		&latch.Revocation{Seq: 4, Kind: latch.RevokeSID, Value: "s-unknown-time", Expires: exp},
		&latch.Revocation{Seq: 5, Kind: latch.RevokeSub, Value: "u1", NotBefore: t0, Expires: exp, CreatedAt: t0},
	)
	if l.Cursor() != 5 {
		t.Fatalf("cursor %d, want 5", l.Cursor())
	}
	revoked := []struct {
		name          string
		jti, sid, sub string
		iat           time.Time
		want          bool
	}{
		{"jti", "j1", "", "", t0, true},
		{"sid", "", "s1", "", t0, true},
		{"sub, issued before", "", "", "u1", t0.Add(-time.Second), true},
		{"sub, issued at not-before", "", "", "u1", t0, false},
		{"unknown everything", "j2", "s2", "u2", t0, false},
		{"empty values match nothing", "", "", "", t0, false},
	}
	for _, tt := range revoked {
		if got := l.Revoked(tt.jti, tt.sid, tt.sub, tt.iat); got != tt.want {
			t.Errorf("Revoked %s = %v, want %v", tt.name, got, tt.want)
		}
	}
	before := []struct {
		name     string
		sid, sub string
		iat, t   time.Time
		want     bool
	}{
		{"sid revoked before t", "s1", "", t0, t0.Add(time.Nanosecond), true},
		{"sid revoked at t", "s1", "", t0, t0, false},
		{"sid revoked after t (the earliest entry counts)", "s1", "", t0, t0.Add(-time.Second), false},
		{"sid revoked at an unknown time", "s-unknown-time", "", t0, t0.Add(-time.Hour), true},
		{"sub, created before not-before", "", "u1", t0.Add(-time.Second), t0.Add(-time.Hour), true},
		{"sub, created after not-before", "", "u1", t0, t0.Add(time.Hour), false},
		{"unknown sid", "s2", "u2", t0, t0.Add(time.Hour), false},
	}
	for _, tt := range before {
		if got := l.RevokedBefore(tt.sid, tt.sub, tt.iat, tt.t); got != tt.want {
			t.Errorf("RevokedBefore %s = %v, want %v", tt.name, got, tt.want)
		}
	}
	// Entries live until their expiry, the latest of merged ones.
	l.Prune(exp.Add(time.Minute))
	if l.Revoked("j1", "", "", t0) || l.Revoked("", "s-unknown-time", "", t0) || l.Revoked("", "", "u1", t0.Add(-time.Second)) {
		t.Error("entries past their expiry still revoke")
	}
	if !l.Revoked("", "s1", "", t0) {
		t.Error("s1 pruned at its first entry's expiry, want the later one's")
	}
	if l.Len() != 1 {
		t.Errorf("%d entries after pruning, want 1", l.Len())
	}
}
