// Package jose signs and verifies latch's access tokens (RFC 9068 JWTs),
// generates and seals signing keys, and publishes the JWKS.
//
// # Why golang-jwt
//
// The JWS work is done by github.com/golang-jwt/jwt/v5 (>= 5.2.2, which
// fixes CVE-2025-30204, the header-splitting memory blow-up). It is small,
// has no dependencies beyond the standard library, is the most widely used
// JWT library in Go, and offers exactly the knobs strict verification needs:
// WithValidMethods as an algorithm allow-list, WithIssuer, WithAudience,
// WithExpirationRequired, WithIssuedAt, WithLeeway, WithTimeFunc and
// WithStrictDecoding. A full JOSE suite (go-jose) would bring JWE, JWK
// parsing and key sets we must never take from a token, i.e. more attack
// surface for nothing.
//
// We do not trust any library default, though. The algorithm is pinned per
// deployment (an allow-list of one), and Verifier runs its own strict header
// checks before golang-jwt sees the token: a size bound, the base64url
// alphabet, alg compared exactly, a closed set of header members (so jwk,
// jku, x5u, x5c and crit are refused and nothing is ever fetched), typ
// at+jwt, and a kid that must name one of our own keys. The key handed to
// golang-jwt is checked to be of the type the algorithm expects, so an HS256
// token can never be "verified" with a public key's bytes (key confusion).
// The tests replay the attacks listed under "Access tokens" in the project's
// security requirements, each refused for its own reason (ErrAlgorithm,
// ErrHeader, ErrKid...).
//
// # Keys
//
// Asymmetric keys (EdDSA, the default; ES256; RS256 with 2048-bit moduli)
// are stored as latch.SigningKey rows: PKCS#8 DER private keys, optionally
// sealed with a Sealer derived from --master-key, and PKIX DER public keys.
// A KeySet turns the rows into the current signing key and the published
// verification keys, and is swapped atomically on Reload so verification
// never takes a lock. HS256 uses one shared secret (--hs256-secret) and
// publishes nothing.
package jose
