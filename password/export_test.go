package password

// SetInside makes h call f while it holds a slot, just before argon2, so
// tests can hold slots and count how many are held at once. Call it before
// h is used.
func SetInside(h *Hasher, f func()) { h.inside = f }

// CommonCount returns how many distinct common passwords p refuses.
func CommonCount(p *Policy) int { return len(p.common) }
