package password

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// ErrMalformedHash is wrapped by every error about a stored PHC string that
// cannot be used: wrong syntax, another algorithm or version, or parameters
// out of bounds. It is an internal fault (a corrupt or tampered database),
// never a mismatch, so callers must not count it as a wrong password.
var ErrMalformedHash = errors.New("password: malformed hash")

// ErrInvalidParams is wrapped by every error of [Params.Validate], and so of
// [New] given parameters out of bounds.
var ErrInvalidParams = errors.New("password: invalid argon2id parameters")

// Bounds on argon2id parameters, for parameters given to [New] and, above
// all, for those read back from a stored hash: a tampered hash claiming
// m=4 GiB or t=10^6 would otherwise make every login against it a denial of
// service, and t=0 or p=0 would make argon2 panic.
const (
	// MaxMemory is the largest memory cost accepted, in KiB (1 GiB).
	MaxMemory = 1 << 20
	// MaxTime is the largest number of passes accepted.
	MaxTime = 100
	// MaxThreads is the largest degree of parallelism accepted; each thread
	// is a goroutine per pass.
	MaxThreads = 64
	// MinSaltLen and MaxSaltLen bound the salt length in bytes; 8 is the
	// reference implementation's minimum.
	MinSaltLen, MaxSaltLen = 8, 64
	// MinKeyLen and MaxKeyLen bound the hash length in bytes. Below 16 bytes
	// a tag is short enough to be worth attacking directly.
	MinKeyLen, MaxKeyLen = 16, 64
)

// maxPHCLen is longer than any PHC string within the bounds above, so longer
// input is refused before it is split.
const maxPHCLen = 256

const (
	phcVariant = "argon2id"
	phcVersion = "v=19" // argon2.Version (0x13), the only version accepted
)

// b64 is the encoding of the reference implementation's PHC strings: standard
// alphabet, no padding. Strict refuses non-zero trailing bits, so every hash
// has exactly one spelling.
var b64 = base64.RawStdEncoding.Strict()

// Params are argon2id cost parameters. The zero value is not valid; start
// from [DefaultParams].
type Params struct {
	// Memory is the memory cost in KiB. Every computation allocates it all.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the degree of parallelism.
	Threads uint8
	// SaltLen is the length in bytes of the random salt of a new hash.
	SaltLen uint32
	// KeyLen is the length in bytes of the hash.
	KeyLen uint32
}

// DefaultParams returns OWASP's first recommended argon2id configuration
// (m=19 MiB, t=2, p=1) with a 16-byte salt and a 32-byte hash; SECURITY.md
// treats it as the floor for production.
func DefaultParams() Params {
	return Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Validate reports whether p is within the bounds this package accepts; the
// error wraps [ErrInvalidParams].
func (p Params) Validate() error {
	switch {
	case p.Time < 1 || p.Time > MaxTime:
		return fmt.Errorf("%w: t=%d outside [1, %d]", ErrInvalidParams, p.Time, MaxTime)
	case p.Threads < 1 || p.Threads > MaxThreads:
		return fmt.Errorf("%w: p=%d outside [1, %d]", ErrInvalidParams, p.Threads, MaxThreads)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > MaxMemory:
		// argon2 needs 8 KiB per lane; the Go implementation would silently
		// round a smaller value up, the reference one refuses it.
		return fmt.Errorf("%w: m=%d outside [8p, %d]", ErrInvalidParams, p.Memory, MaxMemory)
	case p.SaltLen < MinSaltLen || p.SaltLen > MaxSaltLen:
		return fmt.Errorf("%w: salt of %d bytes outside [%d, %d]", ErrInvalidParams, p.SaltLen, MinSaltLen, MaxSaltLen)
	case p.KeyLen < MinKeyLen || p.KeyLen > MaxKeyLen:
		return fmt.Errorf("%w: hash of %d bytes outside [%d, %d]", ErrInvalidParams, p.KeyLen, MinKeyLen, MaxKeyLen)
	}
	return nil
}

// weakerThan reports whether a hash made with p should be redone with cur.
// Threads do not count: with the same memory and passes, parallelism does not
// change what an attacker has to compute.
func (p Params) weakerThan(cur Params) bool {
	return p.Memory < cur.Memory || p.Time < cur.Time || p.SaltLen < cur.SaltLen || p.KeyLen < cur.KeyLen
}

// ParseParams returns the parameters of a PHC string after the same strict
// checks as Compare; any error wraps [ErrMalformedHash].
func ParseParams(phc string) (Params, error) {
	p, _, _, err := parsePHC(phc)
	return p, err
}

// encodePHC formats a hash the way the reference implementation does.
func encodePHC(p Params, salt, key []byte) string {
	return fmt.Sprintf("$%s$%s$m=%d,t=%d,p=%d$%s$%s",
		phcVariant, phcVersion, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// parsePHC splits and checks a PHC string. It accepts exactly the canonical
// form encodePHC writes (and the reference implementation writes): one
// variant, one version, m, t and p in that order without leading zeros, and
// no optional fields. Being strict costs nothing, since latch only reads what
// it wrote, and leaves no room for ambiguous spellings of one hash.
func parsePHC(phc string) (p Params, salt, key []byte, err error) {
	if len(phc) > maxPHCLen {
		return Params{}, nil, nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformedHash, maxPHCLen)
	}
	// "$argon2id$v=19$m=…,t=…,p=…$salt$hash" splits into six fields, the first empty.
	f := strings.Split(phc, "$")
	if len(f) != 6 || f[0] != "" {
		return Params{}, nil, nil, fmt.Errorf("%w: not a PHC string of five fields", ErrMalformedHash)
	}
	if f[1] != phcVariant {
		return Params{}, nil, nil, fmt.Errorf("%w: algorithm is not argon2id", ErrMalformedHash)
	}
	if f[2] != phcVersion {
		return Params{}, nil, nil, fmt.Errorf("%w: version is not 19", ErrMalformedHash)
	}
	kv := strings.Split(f[3], ",")
	if len(kv) != 3 {
		return Params{}, nil, nil, fmt.Errorf("%w: parameters are not exactly m, t, p", ErrMalformedHash)
	}
	var (
		vals [3]uint64
		ok   bool
	)
	for i, name := range [3]string{"m=", "t=", "p="} {
		var digits string
		digits, ok = strings.CutPrefix(kv[i], name)
		if !ok {
			return Params{}, nil, nil, fmt.Errorf("%w: parameters are not exactly m, t, p", ErrMalformedHash)
		}
		if vals[i], ok = parseDecimal(digits); !ok {
			return Params{}, nil, nil, fmt.Errorf("%w: parameter %s is not a canonical decimal", ErrMalformedHash, name[:1])
		}
	}
	// Range-check in uint64 before narrowing, so that 2^32+1 cannot wrap to 1.
	if vals[0] > MaxMemory || vals[1] > MaxTime || vals[2] > MaxThreads {
		return Params{}, nil, nil, fmt.Errorf("%w: parameters out of bounds", ErrMalformedHash)
	}
	if salt, ok = decodeB64(f[4]); !ok {
		return Params{}, nil, nil, fmt.Errorf("%w: salt is not canonical unpadded base64", ErrMalformedHash)
	}
	if key, ok = decodeB64(f[5]); !ok {
		return Params{}, nil, nil, fmt.Errorf("%w: hash is not canonical unpadded base64", ErrMalformedHash)
	}
	p = Params{
		Memory:  uint32(vals[0]),
		Time:    uint32(vals[1]),
		Threads: uint8(vals[2]),
		SaltLen: uint32(len(salt)),
		KeyLen:  uint32(len(key)),
	}
	if err := p.Validate(); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	return p, salt, key, nil
}

// decodeB64 decodes s only if it is exactly how b64 encodes the result: the
// decoder alone would skip '\r' and '\n', letting one hash have many spellings.
func decodeB64(s string) ([]byte, bool) {
	b, err := b64.DecodeString(s)
	return b, err == nil && b64.EncodeToString(b) == s
}

// parseDecimal accepts only canonical unsigned decimals: no sign, no leading
// zero, no underscore, at most 10 digits (so the result fits in a uint64).
func parseDecimal(s string) (uint64, bool) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// derive runs argon2id; it is the only place that does.
func derive(password string, salt []byte, p Params) []byte {
	return argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
}
