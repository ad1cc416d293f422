package webui

import "strings"

// DeviceName summarises a User-Agent header as "Firefox 128 on Linux", so
// that a user recognises their devices at a glance, and an operator on the
// phone with a user can say "your iPhone" rather than read a header; pages
// show the full header on hover. It is a label, never a security decision:
// clients write whatever they like in the header.
func DeviceName(ua string) string {
	browser := "Unknown browser"
	for _, b := range browsers {
		if i := strings.Index(ua, b.token); i >= 0 {
			browser = b.name
			if v := majorVersion(ua[i+len(b.token):]); v != "" {
				browser += " " + v
			}
			break
		}
	}
	for _, o := range systems {
		if strings.Contains(ua, o.token) {
			return browser + " on " + o.name
		}
	}
	return browser
}

// browsers and systems are matched in order: the first token found wins,
// which is why Edge comes before Chrome (whose token it also sends) and
// Android before Linux.
var browsers = []struct{ token, name string }{
	{"Edg/", "Edge"},
	{"OPR/", "Opera"},
	{"Firefox/", "Firefox"},
	{"HeadlessChrome/", "Headless Chrome"},
	{"Chrome/", "Chrome"},
	{"Version/", "Safari"},
	{"curl/", "curl"},
	{"Go-http-client/", "Go HTTP client"},
}

var systems = []struct{ token, name string }{
	{"iPhone", "iPhone"},
	{"iPad", "iPad"},
	{"Android", "Android"},
	{"CrOS", "ChromeOS"},
	{"Windows", "Windows"},
	{"Mac OS X", "macOS"},
	{"Linux", "Linux"},
}

func majorVersion(s string) string {
	end := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(s)
	}
	return s[:end]
}
