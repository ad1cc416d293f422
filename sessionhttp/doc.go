// Package sessionhttp is net/http middleware over a *sessiond.Manager: it
// loads the session a request carries (a cookie, or an Authorization: Bearer
// header) into the request's context, and gives handlers Login, Logout,
// Rotate, atomic data changes (UpdateData, PatchData) and the Require and
// RequireRole guards. Its verbs are the Manager's: Rotate calls
// Manager.Rotate, UpdateData Manager.UpdateData, and so on.
//
// Protecting a route:
//
//	sessions := sessionhttp.New(manager, sessionhttp.Options{})
//	mux.Handle("GET /account", sessions.Require(accountPage))
//	http.ListenAndServe(addr, sessions.Handler(mux))
//
// and in a handler:
//
//	session, user, ok := sessionhttp.FromContext(r.Context())
//
// What it guarantees, following OWASP's Session Management Cheat Sheet:
//
//   - The cookie is HttpOnly (no script reads it), Secure, SameSite=Lax,
//     Path=/ with no Domain, and named with the __Host- prefix so that the
//     browser enforces those last three even against a sibling subdomain.
//   - Roles and bans are read from the user record on every request (or
//     from the Manager's near cache, which every write invalidates), so a
//     change is seen by the very next request.
//   - What FromContext returns are values, the handler's own copies: a
//     handler that edits them (a field, the slice Roles returned, the bytes
//     Data returned) cannot grant itself a role or change what another
//     request sees.
//   - Login revokes the session the request carried before and starts a new
//     one (session fixation); Rotate gives the session a new token on
//     privilege change, keeping its id; Logout revokes on the server, so a
//     replayed cookie is refused afterwards.
//   - Unsafe requests that a browser could send cross-site are refused with
//     http.CrossOriginProtection (CSRF defence).
//   - A store that cannot answer fails closed: 503, never anonymous.
//   - Tokens are never logged; the session id (Session.ID) is safe to show,
//     log and put in a URL, since it does not let anyone use the session.
//
// TokenFrom (which credential a request carries) and ErrorStatus (which
// status an error gets) are exported so that the sessiond server reads
// requests and answers errors exactly as this package does.
package sessionhttp
