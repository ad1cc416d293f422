// Package sessiond is stateful session management: an opaque token held by
// the client (a cookie or a bearer header) points at a session record kept in
// a Store (memory, SQLite, Redis, PostgreSQL, MySQL).
//
// The root package holds the domain: the Session and User records, tokens and
// their keys, the Store contract and the Manager that applies the policy
// (idle and absolute expiry, throttled sliding, rotation, revocation, atomic
// data updates). Stores live in one subpackage per dependency; the HTTP
// pieces live in sessionhttp (library middleware) and server (the sessiond
// JSON API).
//
// Why not JWTs as session tokens: they cannot be revoked before they expire,
// the roles inside them go stale, and they grow large. A session check here is
// one store read (or a near-cache hit) and a revocation takes effect on the
// next request. See OWASP's Session Management Cheat Sheet for the rules this
// package follows: 256-bit random tokens, server-side expiry, rotation on
// privilege change, and tokens never stored or logged (only their SHA-256).
package sessiond
