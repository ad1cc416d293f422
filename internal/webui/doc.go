// Package webui holds what sessiond's two server-rendered web UIs — the
// admin console (package server/admin) and the demo shop (examples/shop) — do
// alike: naming a device from its User-Agent, post/redirect/get flash
// links, the security headers of a page without script, parsing pages with
// a shared layout, reading a form, and the words of a throttled sign-in.
//
// What each UI says (its flash messages, its error pages, its templates and
// stylesheet) stays in the UI: only the mechanics are shared here.
package webui
