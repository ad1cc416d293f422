// Package sessiond is stateful session management: an opaque token held by
// the client (a cookie or a bearer header) points at a session record kept in
// a Store (memory, SQLite, Redis, PostgreSQL, MySQL).
//
// The root package holds the domain and little else: the Session and User
// records (values: what a caller gets is its own copy), tokens and their
// Keyring, the Store contract, the Cache the Manager can put in front of a
// store, and the Manager that applies the policy (idle and absolute expiry,
// throttled sliding, rotation, revocation, atomic data updates).
//
// The repository's folders follow the architecture. The library: this
// package, sessionhttp (net/http middleware), stores/* (one package per
// engine, each built from the application's own client; stores.Open builds
// one from a URL), nearcache (the near cache) and storetest (the conformance
// suite every store passes). The server product: server (the JSON API and
// forward auth) and what only it uses (server/admin, server/onetime,
// server/assertion, server/apikey), wired by cmd/sessiond. Code that exists
// for tests and benchmarks: internal/testserver, internal/browsertest, bench,
// integration, deploy's tests and cmd/sessionbench.
//
// A session has one id for its whole life, through every rotation; the id is
// safe to show and log, because the token proves possession with a secret
// of which the store keeps only a SHA-256. Why not JWTs as session tokens:
// they cannot be revoked before they expire, the roles inside them go stale,
// and they grow large. A session check here is one store read (or a
// near-cache hit) and a revocation takes effect on the next request. See
// OWASP's Session Management Cheat Sheet for the rules this package follows:
// 256-bit random tokens, server-side expiry, rotation on privilege change,
// and tokens never stored or logged.
package sessiond
