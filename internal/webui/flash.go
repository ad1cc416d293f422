package webui

import (
	"net/http"
	"net/url"
)

// FlashURL builds the page a POST redirects to, with a message code and its
// arguments in the query (POST/redirect/GET); args are key, value pairs.
// The page turns the code back into a sentence from its own list, never
// showing the query's text, so a crafted link cannot make a UI display
// text of the link author's choosing.
func FlashURL(page, code string, args ...string) string {
	q := url.Values{"m": {code}}
	for i := 0; i+1 < len(args); i += 2 {
		q.Set(args[i], args[i+1])
	}
	return page + "?" + q.Encode()
}

// SeeOther answers a successful POST with 303 See Other, so that reloading
// the next page does not submit the form again (POST/redirect/GET).
func SeeOther(w http.ResponseWriter, r *http.Request, url string) {
	http.Redirect(w, r, url, http.StatusSeeOther)
}
