// Package redis puts latch's hot state on Redis (--redis), shared by every
// instance: the hot copy of sessions and their idle deadlines, the live
// revocation set, the login rate limits, and the fan-out of revocation
// events. The database (PostgreSQL) stays the source of truth: SessionStore
// and RevocationStore decorate its stores, and everything they keep in
// Redis can be rebuilt from it.
//
// # Connecting
//
// Open takes the URL forms of --redis, through go-redis's UniversalClient:
//
//	redis://[user:pass@]host[:port][/N]                        one node
//	redis+sentinel://[user:pass@]h1[:p1],h2[:p2][/N]?master=NAME  Sentinel
//	redis+cluster://[user:pass@]h1[:p1],h2[:p2],…              Cluster (no /N)
//
// (rediss… for TLS). Timeouts are a few hundred milliseconds and go-redis
// retries nothing, so an outage is noticed at once; a health loop PINGs
// every 250 ms, so it is noticed, and so is the recovery, without traffic.
//
// # Keys
//
// Every key starts with a prefix P (WithPrefix, default "latch") and
// carries a hash tag, so that the keys of each Lua script lie in one
// Cluster slot while different sessions and accounts spread over all:
//
//	{P:s:<hex token hash>}      a session copy, expiring at its deadline (PXAT)
//	{P:s:<hex token hash>}:x    tombstone of an invalidated token hash (1 min)
//	{P:r}                       revocations: sorted set, score Seq, member the JSON entry
//	{P:r}:e                     the same Seqs scored by Expires (µs), for pruning
//	{P:r}:ok                    set when a refill from the database completed
//	{P:t:<hash of account>}     login failures: sorted set, score time (µs)
//	{P:l:<hash of client IP>}   rate limit: when the bucket is full again (µs)
//	P:revocations               the Pub/Sub channel of the Bus (not a key)
//
// Hashes of accounts and IPs are truncated SHA-256, so key names hold no
// e-mail address or IP; token hashes are already SHA-256 of the secrets.
//
// # Outages
//
// Nothing is ever authenticated on a guess, and nothing fails because Redis
// alone does:
//
//   - Redis stops: the first failed command (or PING) marks it unreachable.
//     Session lookups go to the database, writes go to the database only,
//     revocation reads go to the durable log, the Bus fails fast (the
//     Service then polls the log), and LoginThrottle and RateLimiter use
//     their in-memory fallbacks (limits per instance). Client.Healthy is
//     false: /readyz reports "degraded".
//   - Redis answers again: before SessionStore trusts a session copy, it
//     deletes every copy under the prefix (SCAN and UNLINK on every master),
//     since deletions and token replacements made meanwhile never reached
//     Redis; RevocationStore refills the revocation set from the log. Both
//     also run at start. Then Healthy is true again, with no restart.
//   - Redis restarts empty: no session is lost (copies reload from the
//     database) and no revocation either (the set is refilled; a read that
//     finds the refill marker gone refills it, even if no command failed).
//     Idle deadlines are written back to the database every second, so at
//     most about a second of sliding is lost, and only if this process dies
//     too: the pending deadlines are kept in process.
//   - One instance loses Redis while the others keep it: its writes never
//     reach Redis, and it cannot tell the others. Revocations are safe: the
//     RevocationStore serves from Redis only what it has checked against
//     the log, and reads the rest from the log, so a revocation missing
//     from Redis still reaches every instance's next poll. A session
//     deletion is refused everywhere through its sid revocation, and a
//     replaced session secret (password change) through a secret
//     revocation (latch.RevokeSecret): the others may keep the stale copy
//     under the old secret until the cut-off instance reconnects, but they
//     refuse it from their next poll of the log (within 250 ms; tested with
//     a proxy that cuts one instance's link, scale/partition_test.go).
package redis
