package http

import (
	"sync"
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

// The frame cache must hand every follower of one live revocation the
// same frame, encode it once, and never answer for another entry: a
// replayed copy, or a later entry in the same slot.
func TestFrameCache(t *testing.T) {
	exp := time.Unix(1790000000, 0)
	jti := &latch.Revocation{Seq: 7, Kind: latch.RevokeJTI, Value: "j1", Expires: exp}
	sameSlot := &latch.Revocation{Seq: 7 + 64, Kind: latch.RevokeSID, Value: "s1", Expires: exp}
	replayed := *jti
	replayed.Value = "j2" // a copy with other content must not get jti's frame
	sub := &latch.Revocation{Seq: 8, Kind: latch.RevokeSub, Value: "u1", NotBefore: exp.Add(-time.Hour), Expires: exp}

	var c frameCache
	for _, tt := range []struct {
		rev  *latch.Revocation
		want string
	}{
		{jti, "id: 7\nevent: revoke\ndata: {\"jti\":\"j1\",\"exp\":1790000000}\n\n"},
		{&replayed, "id: 7\nevent: revoke\ndata: {\"jti\":\"j2\",\"exp\":1790000000}\n\n"},
		{sameSlot, "id: 71\nevent: revoke\ndata: {\"sid\":\"s1\",\"exp\":1790000000}\n\n"},
		{jti, "id: 7\nevent: revoke\ndata: {\"jti\":\"j1\",\"exp\":1790000000}\n\n"},
		{sub, "id: 8\nevent: revoke\ndata: {\"sub\":\"u1\",\"not_before\":1789996400,\"exp\":1790000000}\n\n"},
	} {
		if got := string(c.frame(tt.rev)); got != tt.want {
			t.Errorf("frame(seq %d %s) = %q, want %q", tt.rev.Seq, tt.rev.Value, got, tt.want)
		}
	}

	// Many followers at once: one frame, shared.
	first := c.frame(sub)
	var wg sync.WaitGroup
	frames := make([][]byte, 64)
	for i := range frames {
		wg.Go(func() { frames[i] = c.frame(sub) })
	}
	wg.Wait()
	for i, f := range frames {
		if &f[0] != &first[0] {
			t.Fatalf("follower %d got a frame of its own, not the cached one", i)
		}
	}
}
