package redis

import (
	"crypto/rand"
	"testing"
)

// The table spreads token hashes over all its slots (hintKey sets the
// lowest bit of every key, which must not decide the slot).
func TestSlideHints_slots(t *testing.T) {
	var h slideHints
	used := map[*hintSlot]bool{}
	for range 10 * hintSlots {
		hash := make([]byte, 32)
		_, _ = rand.Read(hash)
		used[h.slot(hintKey(hash))] = true
	}
	// 40,960 uniform draws leave about 0.005 % of 4,096 slots empty.
	if len(used) < hintSlots*99/100 {
		t.Errorf("%d random hashes used %d of %d slots", 10*hintSlots, len(used), hintSlots)
	}
}
