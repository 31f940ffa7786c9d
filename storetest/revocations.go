package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

// newRevocation returns an entry of kind that matters until expires.
func newRevocation(kind latch.RevocationKind, expires time.Time) *latch.Revocation {
	r := &latch.Revocation{Kind: kind, Value: newID(), Expires: expires, CreatedAt: t0.Add(-time.Minute)}
	if kind == latch.RevokeSub {
		r.NotBefore = t0.Add(-time.Second)
	}
	return r
}

func mustAddRevocations(t *testing.T, st latch.RevocationStore, revs ...*latch.Revocation) {
	t.Helper()
	if err := st.AddRevocations(ctx(t), revs); err != nil {
		t.Fatalf("AddRevocations: %v", err)
	}
}

// mustAllRevocations returns every entry still in the store, from a time
// before any the suite writes.
func mustAllRevocations(t *testing.T, st latch.RevocationStore) []*latch.Revocation {
	t.Helper()
	revs, err := st.RevocationsSince(ctx(t), 0, t0.Add(-365*24*time.Hour), 0)
	if err != nil {
		t.Fatalf("RevocationsSince: %v", err)
	}
	return revs
}

// wantRevocations fails t unless got and want hold equal entries in order.
func wantRevocations(t *testing.T, what string, got, want []*latch.Revocation) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d entries (seq %v), want %d (seq %v)", what, len(got), seqs(got), len(want), seqs(want))
	}
	for i := range want {
		mustEqual(t, what, got[i], want[i])
	}
}

func seqs(revs []*latch.Revocation) []int64 {
	s := make([]int64, len(revs))
	for i, r := range revs {
		s[i] = r.Seq
	}
	return s
}

func testRevocations(t *testing.T, _ Stores, open func(*testing.T) Stores) {
	// RevocationsSince and DeleteExpiredRevocations see the whole log, so
	// every test has a store of its own.

	t.Run("AddRevocations sets increasing Seq", func(t *testing.T) {
		st := open(t).Revocations
		first := []*latch.Revocation{
			newRevocation(latch.RevokeJTI, t0.Add(time.Hour)),
			newRevocation(latch.RevokeSID, t0.Add(2*time.Hour)),
			newRevocation(latch.RevokeSub, t0.Add(time.Hour)),
		}
		second := []*latch.Revocation{
			newRevocation(latch.RevokeSub, t0.Add(3*time.Hour)),
			newRevocation(latch.RevokeJTI, t0.Add(time.Minute)),
		}
		mustAddRevocations(t, st, first...)
		mustAddRevocations(t, st, second...)
		all := slices.Concat(first, second)
		var last int64
		for i, r := range all {
			if r.Seq <= last {
				t.Fatalf("entry %d: Seq = %d after %d; want positive and increasing (all: %v)", i, r.Seq, last, seqs(all))
			}
			last = r.Seq
		}
		wantRevocations(t, "RevocationsSince(0)", mustAllRevocations(t, st), all)
	})

	t.Run("AddRevocations empty", func(t *testing.T) {
		st := open(t).Revocations
		wantErr(t, "AddRevocations(nil)", st.AddRevocations(ctx(t), nil), nil)
		if got := mustAllRevocations(t, st); len(got) != 0 {
			t.Errorf("after AddRevocations(nil) the log holds %d entries", len(got))
		}
	})

	t.Run("RevocationsSince", func(t *testing.T) {
		st := open(t).Revocations
		e := []*latch.Revocation{
			newRevocation(latch.RevokeJTI, t0.Add(time.Hour)),                    // 0
			newRevocation(latch.RevokeSID, t0.Add(-time.Hour)),                   // 1: expired
			newRevocation(latch.RevokeSub, t0),                                   // 2: expires at now: no longer matters
			newRevocation(latch.RevokeJTI, t0.Add(time.Microsecond)),             // 3
			newRevocation(latch.RevokeSID, t0.Add(2*time.Hour)),                  // 4
			newRevocation(latch.RevokeSub, t0.Add(3*time.Hour)),                  // 5
			newRevocation(latch.RevokeJTI, t0.Add(-time.Microsecond)),            // 6: expired
			newRevocation(latch.RevokeJTI, t0.Add(3*time.Hour+time.Microsecond)), // 7
		}
		// Two calls, so that a cursor can fall between batches too.
		mustAddRevocations(t, st, e[:4]...)
		mustAddRevocations(t, st, e[4:]...)
		for _, c := range []struct {
			name  string
			after int // index of the entry whose Seq is the cursor; -1: 0
			now   time.Time
			limit int
			want  []int
		}{
			{"all live", -1, t0, 0, []int{0, 3, 4, 5, 7}},
			{"negative limit", -1, t0, -1, []int{0, 3, 4, 5, 7}},
			{"limit", -1, t0, 2, []int{0, 3}},
			{"limit above the count", -1, t0, 100, []int{0, 3, 4, 5, 7}},
			{"after the first", 0, t0, 0, []int{3, 4, 5, 7}},
			{"after an expired entry", 1, t0, 0, []int{3, 4, 5, 7}},
			{"after the first batch", 3, t0, 0, []int{4, 5, 7}},
			{"after and limit", 3, t0, 1, []int{4}},
			{"after the last", 7, t0, 0, nil},
			{"earlier now", -1, t0.Add(-2 * time.Hour), 0, []int{0, 1, 2, 3, 4, 5, 6, 7}},
			{"later now", -1, t0.Add(3 * time.Hour), 0, []int{7}},
			{"everything expired", -1, t0.Add(4 * time.Hour), 0, nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				var after int64
				if c.after >= 0 {
					after = e[c.after].Seq
				}
				got, err := st.RevocationsSince(ctx(t), after, c.now, c.limit)
				wantErr(t, "RevocationsSince", err, nil)
				var want []*latch.Revocation
				for _, i := range c.want {
					want = append(want, e[i])
				}
				wantRevocations(t, "RevocationsSince", got, want)
			})
		}
	})

	t.Run("DeleteExpiredRevocations", func(t *testing.T) {
		st := open(t).Revocations
		live := []*latch.Revocation{
			newRevocation(latch.RevokeJTI, t0),                  // expires at now: kept until after
			newRevocation(latch.RevokeSID, t0.Add(time.Hour)),   //
			newRevocation(latch.RevokeSub, t0.Add(time.Second)), //
		}
		expired := []*latch.Revocation{
			newRevocation(latch.RevokeSID, t0.Add(-time.Hour)),
			newRevocation(latch.RevokeJTI, t0.Add(-time.Microsecond)),
		}
		// The highest Seq goes: a store must not hand it out again.
		mustAddRevocations(t, st, live[0], expired[0], live[1], live[2], expired[1])
		n, err := st.DeleteExpiredRevocations(ctx(t), t0)
		wantErr(t, "DeleteExpiredRevocations", err, nil)
		if n != len(expired) {
			t.Errorf("DeleteExpiredRevocations = %d, want %d", n, len(expired))
		}
		wantRevocations(t, "RevocationsSince after DeleteExpiredRevocations", mustAllRevocations(t, st), live)
		n, err = st.DeleteExpiredRevocations(ctx(t), t0)
		wantErr(t, "DeleteExpiredRevocations again", err, nil)
		if n != 0 {
			t.Errorf("DeleteExpiredRevocations again = %d, want 0", n)
		}
		next := newRevocation(latch.RevokeJTI, t0.Add(time.Hour))
		mustAddRevocations(t, st, next)
		if next.Seq <= expired[1].Seq {
			t.Errorf("Seq after deleting the entry with Seq %d is %d; a cursor must never be reused", expired[1].Seq, next.Seq)
		}
	})

	t.Run("concurrent AddRevocations", func(t *testing.T) {
		st := open(t).Revocations
		const writers, each = 8, 5
		var wg sync.WaitGroup
		var errs [writers]error
		batches := make([][]*latch.Revocation, writers)
		for i := range batches {
			for range each {
				batches[i] = append(batches[i], newRevocation(latch.RevokeJTI, t0.Add(time.Hour)))
			}
			wg.Go(func() { errs[i] = st.AddRevocations(ctx(t), batches[i]) })
		}
		wg.Wait()
		for i, err := range errs {
			wantErr(t, fmt.Sprintf("AddRevocations of writer %d", i), err, nil)
		}
		want := slices.Concat(batches...)
		slices.SortFunc(want, func(a, b *latch.Revocation) int { return cmp.Compare(a.Seq, b.Seq) })
		for i := 1; i < len(want); i++ {
			if want[i].Seq == want[i-1].Seq {
				t.Fatalf("two entries got Seq %d", want[i].Seq)
			}
		}
		wantRevocations(t, "RevocationsSince after concurrent adds", mustAllRevocations(t, st), want)
	})
}
