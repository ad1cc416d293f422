// Package browsertest drives sessiond's web UIs — the admin console and the
// demo shop — in their tests, as a browser would: Chrome is a real
// headless Chromium, for what a user sees and what the browser really does
// with a cookie; Client is a plain HTTP client that keeps a session cookie
// the way a browser does, for the many cases a real browser would only slow
// down. It is imported by tests only.
package browsertest

// User-Agent headers of three everyday devices, which the UIs name
// "Firefox 128 on Linux", "Safari 17 on iPhone" and "Chrome 126 on
// Windows".
const (
	UAFirefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	UAIPhone  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	UAChrome  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)

// tokenPrefix starts every sessiond token, so secret scanners can recognise
// a leaked one; a session cookie that lacks it holds no token of ours.
const tokenPrefix = "sess_"
