package redis

import (
	"errors"
	"strings"
)

// A browser's user agent is the largest field of most sessions (110 bytes
// for a desktop Chrome), yet nearly all of it is one of a few dozen
// fragments that every browser of a family sends alike. So a session keeps
// it packed against a fixed table of those fragments, the way HPACK keeps
// common headers (RFC 7541, its static table): each fragment becomes one
// byte. A desktop Chrome's 111-byte user agent packs into 8 bytes, an
// iPhone Safari's 135 into 15, a Linux Firefox's 70 into 14; text the table
// does not know costs its own length.
//
// The packed form: a byte below 0x80 is itself; 0x80+i is fragment i;
// 0xff escapes the byte after it (a byte of 0x80 or more: non-ASCII text).
//
// The table is part of the stored format: entries may be appended (up to
// 127), never changed, removed or reordered.
var uaFragments = [...]string{
	"Mozilla/5.0 (",
	"Windows NT 10.0; Win64; x64",
	"Windows NT 10.0; WOW64",
	"Windows NT 10.0",
	"Windows NT 6.1; Win64; x64",
	"Windows NT 6.1",
	"Macintosh; Intel Mac OS X 10_15_7",
	"Macintosh; Intel Mac OS X ",
	"X11; Linux x86_64",
	"X11; Ubuntu; Linux x86_64",
	"X11; CrOS x86_64 ",
	"Linux; Android 10; K",
	"Linux; Android ",
	"Linux; U; Android ",
	"iPhone; CPU iPhone OS ",
	"iPad; CPU OS ",
	" like Mac OS X",
	") AppleWebKit/537.36 (KHTML, like Gecko) Chrome/",
	") AppleWebKit/605.1.15 (KHTML, like Gecko)",
	") AppleWebKit/537.36 (KHTML, like Gecko)",
	") Gecko/20100101 Firefox/",
	" Safari/537.36",
	" Safari/604.1",
	" Safari/605.1.15",
	" Mobile/15E148",
	" Mobile Safari/537.36",
	" Version/",
	".0.0.0",
	" Edg/",
	" EdgA/",
	" EdgiOS/",
	" OPR/",
	" CriOS/",
	" FxiOS/",
	" SamsungBrowser/",
	" YaBrowser/",
	" Vivaldi/",
	" Brave/",
	"; rv:",
	"; wv)",
	"; Win64; x64",
	"; x64",
	"; arm64",
	"Chrome/",
	"Firefox/",
	"Safari/",
	"AppleWebKit/",
	"(KHTML, like Gecko)",
	"Gecko/",
	"Mobile",
	"Android ",
	"Linux",
	"Windows",
	"Macintosh",
	"compatible; ",
	"Googlebot/2.1; +http://www.google.com/bot.html)",
	"bingbot/2.0; +http://www.bing.com/bingbot.htm)",
	"curl/",
	"Wget/",
	"python-requests/",
	"okhttp/",
	"Go-http-client/",
	"Dalvik/",
	"PostmanRuntime/",
	"axios/",
	"node-fetch/",
	"Java/",
	"Apache-HttpClient/",
}

const (
	uaFragment = 0x80
	uaEscape   = 0xff
)

func init() {
	if len(uaFragments) > uaEscape-uaFragment {
		panic("redis: too many user-agent fragments")
	}
}

// uaByFirst lists, for each first byte, the fragments that start with it,
// longest first, so packing tries the longest match at each position.
var uaByFirst = func() (by [256][]uint8) {
	for i, f := range uaFragments {
		by[f[0]] = append(by[f[0]], uint8(i))
	}
	for _, list := range by {
		for i := 1; i < len(list); i++ { // insertion sort by length, descending
			for j := i; j > 0 && len(uaFragments[list[j]]) > len(uaFragments[list[j-1]]); j-- {
				list[j], list[j-1] = list[j-1], list[j]
			}
		}
	}
	return by
}()

// appendUserAgent appends the packed form of ua to b.
func appendUserAgent(b []byte, ua string) []byte {
	for i := 0; i < len(ua); {
		c := ua[i]
		matched := false
		for _, f := range uaByFirst[c] {
			if strings.HasPrefix(ua[i:], uaFragments[f]) {
				b = append(b, uaFragment+f)
				i += len(uaFragments[f])
				matched = true
				break
			}
		}
		if matched {
			continue
		}
		if c >= uaFragment {
			b = append(b, uaEscape)
		}
		b = append(b, c)
		i++
	}
	return b
}

var errCorruptUserAgent = errors.New("corrupt user agent")

// unpackUserAgent reverses appendUserAgent.
func unpackUserAgent(p []byte) (string, error) {
	var sb strings.Builder
	sb.Grow(len(p) * 4)
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c < uaFragment:
			sb.WriteByte(c)
		case c == uaEscape:
			if i++; i == len(p) {
				return "", errCorruptUserAgent
			}
			sb.WriteByte(p[i])
		case int(c-uaFragment) < len(uaFragments):
			sb.WriteString(uaFragments[c-uaFragment])
		default:
			return "", errCorruptUserAgent
		}
	}
	return sb.String(), nil
}
