// Package latch is the domain of the latch authentication server: users,
// cookie sessions, refresh-token families, access tokens and their
// revocation, and the Service that does signup, login, refresh and logout
// against store interfaces. It imports only the standard library; the
// stores, the JOSE code and the HTTP server live in the packages named
// after what they adapt (memory, sqlite, postgres, redis, jose, http).
//
// Most people run the server (cmd/latch, docs/quickstart.md) and verify
// its tokens elsewhere (package verify, docs/guide-go-service.md). This
// package is for Go programs that embed the service itself, and for
// reading how latch works.
//
// # Three ways to be logged in
//
// A [Session] is one login. Its [SessionKind] says how the client holds it:
//
//   - [KindSession]: a cookie. [Service.Login] returns a 256-bit random
//     secret (the cookie value) and a CSRF token; the store keeps only
//     their SHA-256 ([HashSecret]). [Service.AuthenticateSession] resolves
//     the cookie on each request, sliding its idle deadline
//     ([Config.SessionIdleTimeout]) up to the absolute one
//     ([Config.SessionAbsoluteTimeout]); [Service.CheckCSRF] checks the
//     header of a state-changing request.
//   - [KindToken]: a refresh family. Login returns a refresh token and a
//     first access token ([IssuedToken], a JWT after RFC 9068, signed by a
//     [TokenSigner]). [Service.AuthenticateToken] checks an access token
//     with the [TokenVerifier] and then against the revocation list.
//     [Service.Refresh] spends a refresh token and returns its successor;
//     a spent token presented again is [ErrRefreshReused], and the whole
//     family is revoked.
//   - Both: [Service.Exchange] issues an access token bound to a cookie
//     session, for a server-rendered page that calls an API.
//
// docs/choosing.md compares them with measured numbers.
//
// # Revocation
//
// Logging out deletes a session or family, but an access token is
// self-contained, so every revocation is also an entry in a durable log
// ([Revocation], [RevocationStore]) of one of three kinds: a token
// ([RevokeJTI]), a login ([RevokeSID]), or every token of a user issued
// before a time ([RevokeSub]). Each Service keeps the live entries in
// memory ([RevocationList]) and checks every access token against them; a
// [RevocationBus] (Redis pub/sub) or polling spreads entries between
// instances, and [Service.Subscribe] feeds the stream that resource
// servers follow (GET /v1/revocations). [Service.Logout],
// [Service.LogoutAll], [Service.DeleteSession], [Service.ChangePassword],
// [Service.RevokeToken] and the admin methods all end in this log.
//
// # Building a Service
//
// [New] takes a [Config] (issuer, lifetimes, limits; zero fields get the
// defaults) and [Deps]: the stores ([UserStore], [SessionStore],
// [RevocationStore]), a [PasswordHasher], a [TokenSigner] and
// [TokenVerifier], and the email and password rules. It validates them and
// fails fast; then [Service.Start] loads the revocation log, and
// [Service.Close] stops. See the example of New for a complete in-memory
// service, and cmd/latch for the production wiring on SQLite or
// PostgreSQL + Redis.
//
// # Errors and events
//
// Methods return sentinel errors ([ErrInvalidCredentials],
// [ErrUnauthenticated], [ErrRefreshReused], [ErrUnavailable]…) wrapped
// with %w and checked with errors.Is; the http package maps each to one
// status and problem code. Every security event (signup, login by outcome,
// logout, reuse detection, revocation, admin action) is an [Event] passed
// to [Deps.OnEvent]; [AuditLogger] writes them as JSON lines, never with a
// secret in them.
package latch
