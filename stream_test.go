package latch_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

// entries makes n revocation entries from Seq first on.
func entries(first, n int) []*latch.Revocation {
	revs := make([]*latch.Revocation, n)
	for i := range revs {
		revs[i] = &latch.Revocation{Seq: int64(first + i), Kind: latch.RevokeJTI, Value: fmt.Sprint("jti-", first+i)}
	}
	return revs
}

func seqs(revs []*latch.Revocation) []int64 {
	s := make([]int64, len(revs))
	for i, r := range revs {
		s[i] = r.Seq
	}
	return s
}

// ready waits for the subscription's wake-up.
func ready(t *testing.T, sub *latch.Subscription) {
	t.Helper()
	select {
	case <-sub.Ready:
	case <-time.After(5 * time.Second):
		t.Fatal("no wake-up")
	}
}

func subscribe(t *testing.T, d *domain) *latch.Subscription {
	t.Helper()
	sub, err := d.Subscribe(context.Background(), d.LogCursor())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Cancel)
	return sub
}

func TestSubscription_Delivery(t *testing.T) {
	d := newDomain(t)
	a, b := subscribe(t, d), subscribe(t, d)

	first := entries(1, 3)
	secret := &latch.Revocation{Seq: 4, Kind: latch.RevokeSecret, Value: "hash"}
	latch.Broadcast(d.Service, append(slices.Clone(first), secret))
	ready(t, a)
	gotA, lagged, ok := a.Take()
	if !ok || lagged || !slices.Equal(seqs(gotA), []int64{1, 2, 3}) {
		t.Fatalf("first Take: %v lagged %v ok %v; want 1 2 3 (no secret entry), live", seqs(gotA), lagged, ok)
	}
	if again, _, ok := a.Take(); len(again) != 0 || !ok {
		t.Fatalf("a second Take: %v ok %v; want nothing, live", seqs(again), ok)
	}

	// b takes nothing yet: its backlog grows in order, and what a took
	// is not changed by what is appended for b.
	latch.Broadcast(d.Service, entries(5, 2))
	if st := d.StreamStats(); st.Subscribers != 2 || st.MaxBacklog != 5 {
		t.Fatalf("stats %+v; want 2 subscribers, a backlog of 5", st)
	}
	ready(t, b)
	gotB, _, ok := b.Take()
	if !ok || !slices.Equal(seqs(gotB), []int64{1, 2, 3, 5, 6}) {
		t.Fatalf("b's Take: %v ok %v; want 1 2 3 5 6", seqs(gotB), ok)
	}
	if !slices.Equal(seqs(gotA), []int64{1, 2, 3}) {
		t.Fatalf("a's entries became %v after b's backlog grew", seqs(gotA))
	}
	ready(t, a)
	if gotA, _, _ = a.Take(); !slices.Equal(seqs(gotA), []int64{5, 6}) {
		t.Fatalf("a's next Take: %v; want 5 6", seqs(gotA))
	}
}

func TestSubscription_End(t *testing.T) {
	for _, c := range []struct {
		name       string
		backlog    int // entries broadcast, in batches of at most 1,000, never taken
		cancel     bool
		wantLagged bool
	}{
		{"a backlog of exactly 4,096 is kept", 4096, false, false},
		{"one more is cut off", 4097, false, true},
		{"cancelled", 10, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := newDomain(t)
			slow, keeping := subscribe(t, d), subscribe(t, d)
			for sent := 0; sent < c.backlog; {
				n := min(1000, c.backlog-sent)
				latch.Broadcast(d.Service, entries(sent+1, n))
				sent += n
				ready(t, keeping) // one that keeps up is never cut off
				if got, _, ok := keeping.Take(); !ok || len(got) != n {
					t.Fatalf("the follower that keeps up took %d ok %v; want %d", len(got), ok, n)
				}
			}
			if c.cancel {
				slow.Cancel()
			}
			ended := c.cancel || c.wantLagged
			want := 2 // the slow follower and the one that keeps up
			if ended {
				want = 1
			}
			if d.StreamStats().Subscribers != want {
				t.Fatalf("subscribers %d; want %d", d.StreamStats().Subscribers, want)
			}
			ready(t, slow)
			got, lagged, ok := slow.Take()
			if ok == ended || lagged != c.wantLagged {
				t.Fatalf("Take: %d entries, lagged %v, ok %v; want lagged %v, ok %v", len(got), lagged, ok, c.wantLagged, !ended)
			}
			if ended && len(got) != 0 {
				t.Fatalf("an ended subscription handed %d entries", len(got))
			}
			if !ended && len(got) != c.backlog {
				t.Fatalf("took %d of a backlog of %d", len(got), c.backlog)
			}
		})
	}
}

// TestSubscription_Revocation follows a real revocation, not a handed one:
// an administrator's revocation of a user reaches the follower.
func TestSubscription_Revocation(t *testing.T) {
	d := newDomain(t)
	u := d.signup(t, "follow@example.com", "correct horse battery staple")
	sub := subscribe(t, d)
	if err := d.AdminRevoke(context.Background(), u.ID); err != nil {
		t.Fatal(err)
	}
	ready(t, sub)
	got, _, ok := sub.Take()
	if !ok || len(got) != 1 || got[0].Kind != latch.RevokeSub || got[0].Value != u.ID {
		t.Fatalf("Take after AdminRevoke: %+v ok %v; want one sub entry for %s", got, ok, u.ID)
	}
}
