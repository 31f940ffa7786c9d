package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/redis"
)

func TestBus(t *testing.T) {
	prefix := newPrefix()
	testBus(t, mustOpenPrefix(t, testURL(), prefix), mustOpenPrefix(t, testURL(), prefix))
}

// testBus publishes on a and checks that a subscriber on b (another client
// of the same prefix: another instance) receives exactly what was sent.
func testBus(t *testing.T, a, b *redis.Client) {
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan []*latch.Revocation, 16)
	done := make(chan error, 1)
	go func() { done <- b.Bus().Subscribe(ctx, func(r []*latch.Revocation) { got <- r }) }()

	// Publish probes until the subscription is live.
	probe := []*latch.Revocation{{Seq: 1, Kind: latch.RevokeJTI, Value: "probe", Expires: time.Now().Add(time.Hour)}}
	waitFor(t, "the subscription", 5*time.Second, func() bool {
		if err := a.Bus().Publish(t.Context(), probe); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		select {
		case <-got:
			return true
		case <-time.After(20 * time.Millisecond):
			return false
		}
	})
	for len(got) > 0 {
		<-got
	}

	t0 := base()
	sent := []*latch.Revocation{
		{Seq: 41, Kind: latch.RevokeJTI, Value: randID(), Expires: t0.Add(15 * time.Minute), CreatedAt: t0},
		{Seq: 42, Kind: latch.RevokeSID, Value: randID(), Expires: t0.Add(12 * time.Hour).Add(123 * time.Nanosecond), CreatedAt: t0},
		{Seq: 43, Kind: latch.RevokeSub, Value: randID(), NotBefore: t0.Truncate(time.Second), Expires: t0.Add(16 * time.Minute)},
	}
	if err := a.Bus().Publish(t.Context(), sent); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	select {
	case recv := <-got:
		if len(recv) != len(sent) {
			t.Fatalf("received %d entries, want %d", len(recv), len(sent))
		}
		for i, r := range recv {
			w := sent[i]
			if r.Seq != w.Seq || r.Kind != w.Kind || r.Value != w.Value || !r.NotBefore.Equal(w.NotBefore) ||
				!r.Expires.Equal(w.Expires) || !r.CreatedAt.Equal(w.CreatedAt) {
				t.Errorf("entry %d: received %+v, want %+v", i, r, w)
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("nothing received")
	}

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Subscribe after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("Subscribe did not return after its context ended")
	}
}

// TestBus_Hang checks that a subscription into a blackhole returns within
// about a second: the health loop notices, not a TCP timeout.
func TestBus_Hang(t *testing.T) {
	srv := startServer(t)
	px := newProxy(t, srv.addr())
	c := mustOpen(t, px.url())
	waitHealthy(t, c)
	done := make(chan error, 1)
	go func() { done <- c.Bus().Subscribe(t.Context(), func([]*latch.Revocation) {}) }()
	time.Sleep(100 * time.Millisecond) // let it subscribe
	px.set(hang)
	start := time.Now()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, context.Canceled) {
			t.Errorf("Subscribe returned %v when Redis hung", err)
		}
		t.Logf("Subscribe returned %v after %v", err, time.Since(start).Round(time.Millisecond))
	case <-time.After(3 * time.Second):
		t.Fatalf("Subscribe did not return when Redis hung")
	}
}

// TestBus_ServerGone checks that Subscribe returns when Redis dies, so the
// Service catches up from the durable log, and that Publish then fails fast.
func TestBus_ServerGone(t *testing.T) {
	srv := startServer(t)
	c := mustOpen(t, srv.url())
	done := make(chan error, 1)
	go func() { done <- c.Bus().Subscribe(t.Context(), func([]*latch.Revocation) {}) }()
	time.Sleep(100 * time.Millisecond) // let it subscribe
	srv.stop()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, context.Canceled) {
			t.Errorf("Subscribe returned %v when Redis died", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("Subscribe did not return when Redis died")
	}
	waitFor(t, "the outage", 2*time.Second, func() bool { return !c.Healthy() })
	start := time.Now()
	if err := c.Bus().Publish(t.Context(), []*latch.Revocation{{Seq: 1, Kind: latch.RevokeJTI, Value: "x"}}); err == nil {
		t.Errorf("Publish with Redis down succeeded")
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("Publish with Redis down took %v", d)
	}
}
