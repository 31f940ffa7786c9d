// Package jose signs and verifies latch's access tokens (RFC 9068 JWTs),
// generates and seals signing keys, and publishes the JWKS.
//
// # The pieces
//
//   - [GenerateKey] makes a signing key (EdDSA, ES256 or RS256) as a
//     latch.SigningKey row; a [Sealer] ([NewSealer], from --master-key)
//     encrypts its private half at rest.
//   - [NewKeySet] turns the stored rows into the key that signs and the keys
//     that verify; [KeySet.Reload] applies a rotation, [KeySet.JWKS] is the
//     document served at /.well-known/jwks.json. [NewPublicKeySet] builds a
//     verification-only set from such a document (a resource server's
//     view); [NewHMACKeySet] is the HS256 alternative.
//   - [NewSigner] signs access tokens (latch.TokenSigner) with the current
//     key: header exactly {"alg","typ":"at+jwt","kid"}, no personal data in
//     the claims.
//   - [NewVerifier] checks them strictly (latch.TokenVerifier); with
//     [WithCache] a token verified before is answered from memory, about
//     450 times faster than a signature check (BENCHMARKS.md). Every
//     refusal wraps latch.ErrUnauthenticated and one reason: [ErrExpired],
//     [ErrAlgorithm], [ErrIssuer], [ErrSignature]…
//
// The examples show a token's whole life, the refusals, a rotation and a
// verifier built from a JWKS.
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
