package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

// newKey returns a key of alg created at created. The key material is
// random bytes: stores keep it opaque.
func newKey(alg string, created time.Time) *latch.SigningKey {
	return &latch.SigningKey{
		ID:        newID(),
		Alg:       alg,
		Private:   newHash(),
		Sealed:    true,
		Public:    newHash(),
		CreatedAt: created,
	}
}

// newAlg returns an algorithm name no other test uses, so that tests
// sharing a store do not share "the unretired key of the algorithm".
// Stores treat Alg as an opaque string.
func newAlg() string { return "storetest-" + newID() }

func mustInitKey(t *testing.T, st latch.KeyStore, k *latch.SigningKey) *latch.SigningKey {
	t.Helper()
	got, err := st.InitKey(ctx(t), k)
	if err != nil {
		t.Fatalf("InitKey: %v", err)
	}
	return got
}

func mustRotateKey(t *testing.T, st latch.KeyStore, k *latch.SigningKey) {
	t.Helper()
	if err := st.RotateKey(ctx(t), k); err != nil {
		t.Fatalf("RotateKey: %v", err)
	}
}

// keysOf returns the stored keys of alg, in the order Keys returned them.
func keysOf(t *testing.T, st latch.KeyStore, alg string) []*latch.SigningKey {
	t.Helper()
	all, err := st.Keys(ctx(t))
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	var keys []*latch.SigningKey
	for _, k := range all {
		if k.Alg == alg {
			keys = append(keys, k)
		}
	}
	return keys
}

// wantKeys fails t unless got and want hold equal keys in order.
func wantKeys(t *testing.T, what string, got, want []*latch.SigningKey) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d keys, want %d", what, len(got), len(want))
	}
	for i := range want {
		mustEqual(t, what, got[i], want[i])
	}
}

// retired returns k as retired at at.
func retired(k *latch.SigningKey, at time.Time) *latch.SigningKey {
	r := clone(k)
	r.RetiredAt = at
	return r
}

func testKeys(t *testing.T, shared Stores, open func(*testing.T) Stores) {
	st := shared.Keys

	t.Run("InitKey stores the first key", func(t *testing.T) {
		k := newKey(newAlg(), t0)
		k.Sealed = false
		mustEqual(t, "InitKey", mustInitKey(t, st, k), k)
		wantKeys(t, "Keys", keysOf(t, st, k.Alg), []*latch.SigningKey{k})
	})

	t.Run("InitKey keeps the signing key", func(t *testing.T) {
		alg := newAlg()
		first := newKey(alg, t0)
		mustInitKey(t, st, first)
		mustEqual(t, "InitKey with a key of the algorithm stored", mustInitKey(t, st, newKey(alg, t0.Add(time.Hour))), first)
		wantKeys(t, "Keys", keysOf(t, st, alg), []*latch.SigningKey{first})
	})

	t.Run("InitKey per algorithm", func(t *testing.T) {
		a, b := newKey(newAlg(), t0), newKey(newAlg(), t0)
		mustEqual(t, "InitKey of algorithm A", mustInitKey(t, st, a), a)
		mustEqual(t, "InitKey of algorithm B", mustInitKey(t, st, b), b)
	})

	t.Run("InitKey after RotateKey", func(t *testing.T) {
		alg := newAlg()
		first, second := newKey(alg, t0), newKey(alg, t0.Add(time.Hour))
		mustInitKey(t, st, first)
		mustRotateKey(t, st, second)
		mustEqual(t, "InitKey after a rotation", mustInitKey(t, st, newKey(alg, t0.Add(2*time.Hour))), second)
		wantKeys(t, "Keys", keysOf(t, st, alg), []*latch.SigningKey{second, retired(first, second.CreatedAt)})
	})

	t.Run("InitKey after a rotation by a clock behind", func(t *testing.T) {
		// The retired key is the newest: InitKey must still find the
		// unretired one.
		alg := newAlg()
		first, second := newKey(alg, t0), newKey(alg, t0.Add(-time.Second))
		mustInitKey(t, st, first)
		mustRotateKey(t, st, second)
		mustEqual(t, "InitKey", mustInitKey(t, st, newKey(alg, t0.Add(time.Hour))), second)
	})

	t.Run("InitKey concurrently agrees on one key", func(t *testing.T) {
		// Instances that start together on one database.
		const n = 10
		alg := newAlg()
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			keys  [n]*latch.SigningKey
			got   [n]*latch.SigningKey
			errs  [n]error
		)
		for i := range n {
			keys[i] = newKey(alg, t0.Add(time.Duration(i)*time.Second))
			wg.Go(func() {
				<-start
				got[i], errs[i] = st.InitKey(ctx(t), keys[i])
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("InitKey %d: %v", i, err)
			}
		}
		stored := keysOf(t, st, alg)
		if len(stored) != 1 {
			t.Fatalf("%d concurrent InitKey calls stored %d keys, want 1", n, len(stored))
		}
		for i := range n {
			mustEqual(t, "InitKey", got[i], stored[0])
		}
	})

	t.Run("RotateKey", func(t *testing.T) {
		alg, other := newAlg(), newAlg()
		k1, k2, k3 := newKey(alg, t0), newKey(alg, t0.Add(time.Hour)), newKey(alg, t0.Add(2*time.Hour))
		o := newKey(other, t0)
		mustInitKey(t, st, k1)
		mustInitKey(t, st, o)
		mustRotateKey(t, st, k2)
		wantKeys(t, "Keys after one rotation", keysOf(t, st, alg), []*latch.SigningKey{k2, retired(k1, k2.CreatedAt)})
		mustRotateKey(t, st, k3)
		// k1 keeps the time it was retired: only unretired keys retire.
		wantKeys(t, "Keys after two rotations", keysOf(t, st, alg),
			[]*latch.SigningKey{k3, retired(k2, k3.CreatedAt), retired(k1, k2.CreatedAt)})
		wantKeys(t, "Keys of another algorithm", keysOf(t, st, other), []*latch.SigningKey{o})
	})

	t.Run("RotateKey without a key", func(t *testing.T) {
		k := newKey(newAlg(), t0)
		mustRotateKey(t, st, k)
		wantKeys(t, "Keys", keysOf(t, st, k.Alg), []*latch.SigningKey{k})
	})

	t.Run("Keys newest first", func(t *testing.T) {
		st := open(t).Keys // the order covers the whole store
		a, b, c := newKey(newAlg(), t0.Add(2*time.Hour)), newKey(newAlg(), t0), newKey(newAlg(), t0.Add(time.Hour))
		for _, k := range []*latch.SigningKey{a, b, c} {
			mustInitKey(t, st, k)
		}
		got, err := st.Keys(ctx(t))
		wantErr(t, "Keys", err, nil)
		wantKeys(t, "Keys", got, []*latch.SigningKey{a, c, b})
	})

	t.Run("Keys of an empty store", func(t *testing.T) {
		got, err := open(t).Keys.Keys(ctx(t))
		wantErr(t, "Keys", err, nil)
		if len(got) != 0 {
			t.Errorf("Keys of an empty store returned %d keys", len(got))
		}
	})

	t.Run("DeleteKeysRetiredBefore", func(t *testing.T) {
		st := open(t).Keys // the count covers the whole store
		alg := newAlg()
		k1, k2, k3 := newKey(alg, t0), newKey(alg, t0.Add(time.Hour)), newKey(alg, t0.Add(2*time.Hour))
		o := newKey(newAlg(), t0)
		mustInitKey(t, st, k1)
		mustInitKey(t, st, o)
		mustRotateKey(t, st, k2) // k1 retired at t0+1h
		mustRotateKey(t, st, k3) // k2 retired at t0+2h
		for _, c := range []struct {
			name   string
			before time.Time
			want   int
		}{
			{"before any retirement", t0.Add(time.Hour), 0},
			{"after the first", t0.Add(2 * time.Hour), 1},
			{"again", t0.Add(2 * time.Hour), 0},
			{"just after the second", t0.Add(2*time.Hour + time.Microsecond), 1},
			{"unretired keys stay", t0.Add(1000 * time.Hour), 0},
		} {
			n, err := st.DeleteKeysRetiredBefore(ctx(t), c.before)
			wantErr(t, "DeleteKeysRetiredBefore "+c.name, err, nil)
			if n != c.want {
				t.Errorf("DeleteKeysRetiredBefore %s = %d, want %d", c.name, n, c.want)
			}
		}
		got, err := st.Keys(ctx(t))
		wantErr(t, "Keys", err, nil)
		wantKeys(t, "Keys after DeleteKeysRetiredBefore", got, []*latch.SigningKey{k3, o})
	})
}
