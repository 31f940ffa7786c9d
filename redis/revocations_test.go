package redis_test

import (
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/memory"
)

// TestRevocationStore_NoSkippedEntry stages what two instances sharing a
// database and a Redis can do: entry 1 is committed to the log but its
// writer never gets it into Redis (it lost Redis, alone, or is just slow),
// while entry 2 lands in Redis. A poller must still get entry 1, before or
// with entry 2, so that its cursor never passes it.
func TestRevocationStore_NoSkippedEntry(t *testing.T) {
	prefix := newPrefix()
	a, b := mustOpenPrefix(t, testURL(), prefix), mustOpenPrefix(t, testURL(), prefix)
	log := &countingRevocations{RevocationStore: &memory.RevocationStore{}}
	writer, poller := a.Revocations(log), b.Revocations(log)
	waitHealthy(t, a)
	waitHealthy(t, b)
	t0 := base()
	rev := func() *latch.Revocation {
		return &latch.Revocation{Kind: latch.RevokeJTI, Value: randID(), Expires: t0.Add(time.Hour), CreatedAt: t0}
	}
	// A replay before anything happened leaves the poller's prefix at 0.
	if got, err := poller.RevocationsSince(t.Context(), 0, t0, 0); err != nil || len(got) != 0 {
		t.Fatalf("RevocationsSince of an empty log = %v, %v", got, err)
	}
	lost := rev()
	if err := log.AddRevocations(t.Context(), []*latch.Revocation{lost}); err != nil { // the log only
		t.Fatal(err)
	}
	landed := rev()
	if err := writer.AddRevocations(t.Context(), []*latch.Revocation{landed}); err != nil {
		t.Fatal(err)
	}
	if n := b.Redis().ZCard(t.Context(), "{"+prefix+":r}").Val(); n != 1 {
		t.Fatalf("the test needs Redis to hold only the second entry; it holds %d", n)
	}
	got, err := poller.RevocationsSince(t.Context(), 0, t0, 0)
	if err != nil || len(got) != 2 || got[0].Seq != lost.Seq || got[1].Seq != landed.Seq {
		t.Fatalf("RevocationsSince = %v, %v; want entries %d and %d", got, err, lost.Seq, landed.Seq)
	}
	// Reading the tail copied the missing entry into Redis and verified
	// both: a replay now comes from Redis alone.
	if n := b.Redis().ZCard(t.Context(), "{"+prefix+":r}").Val(); n != 2 {
		t.Errorf("after the read Redis holds %d entries, want 2", n)
	}
	rows := log.rows.Load()
	if got, err := poller.RevocationsSince(t.Context(), 0, t0, 0); err != nil || len(got) != 2 {
		t.Errorf("the replay = %v, %v", got, err)
	}
	if n := log.rows.Load() - rows; n != 0 {
		t.Errorf("the replay read %d entries from the log, want 0", n)
	}
}
