package latch

import "bytes"

// Rotate decides a refresh rotation: the one rule behind every store's
// RotateRefresh, which looks the family up and writes the result, and
// leaves the deciding to Rotate.
//
// s is the record in which the store found r.Presented: as its current
// token (TokenHash), or among the tokens it spent. The store reads it
// under the lock (or in the transaction) in which it will write, so that
// the state decided on is the state written over. Rotate returns what
// SessionStore.RotateRefresh returns:
//
//   - the rotated family, when r.Presented is the current token of a live
//     family: r.Next current, the displaced token as PrevHash with a fresh
//     grace (RotatedAt = r.Now, GraceUsed = false);
//   - the rotated family, when r.Presented is the predecessor (PrevHash)
//     within its unused grace: less than r.Grace from RotatedAt, on either
//     side, since the clocks of instances sharing a database differ, and
//     never with a zero grace. r.Next becomes current, PrevHash stays and
//     its grace is used up (GraceUsed = true);
//   - s itself and ErrRefreshReused, when r.Presented was spent in a live
//     family and the grace does not apply;
//   - nil and ErrNotFound, when s is a cookie session (its secret is no
//     refresh token), s is dead at r.Now, or nothing was presented.
//
// A rotation slides IdleExpiresAt to min(r.Now+r.RefreshTTL, ExpiresAt)
// and moves LastSeenAt to r.Now. In both rotations the displaced current
// token, s.TokenHash, is spent: the store records it as such and writes
// the result only if the family's current token is still s.TokenHash.
//
// The result is a new Session; it shares byte slices with s and r, which
// a store that keeps what it is given must copy.
func (s *Session) Rotate(r RefreshRotation) (*Session, error) {
	if len(r.Presented) == 0 || s.Kind != KindToken || !s.Live(r.Now) {
		return nil, ErrNotFound
	}
	n := *s
	switch {
	case bytes.Equal(s.TokenHash, r.Presented):
		n.PrevHash, n.GraceUsed = s.TokenHash, false
	case s.inGrace(r):
		n.GraceUsed = true
	default:
		return s, ErrRefreshReused
	}
	n.TokenHash = r.Next
	n.RotatedAt, n.LastSeenAt = r.Now, r.Now
	n.IdleExpiresAt = r.Now.Add(r.RefreshTTL)
	if n.ExpiresAt.Before(n.IdleExpiresAt) {
		n.IdleExpiresAt = n.ExpiresAt
	}
	return &n, nil
}

// inGrace reports whether r presents the predecessor of the family's
// current token within its unused reuse grace: less than r.Grace from
// RotatedAt, on either side. A zero grace never applies, even at the very
// instant of the rotation.
func (s *Session) inGrace(r RefreshRotation) bool {
	d := r.Now.Sub(s.RotatedAt)
	return !s.GraceUsed && bytes.Equal(s.PrevHash, r.Presented) && -r.Grace < d && d < r.Grace
}
