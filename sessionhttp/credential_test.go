package sessionhttp_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sessiond/sessiond/sessionhttp"
)

func TestTokenFrom(t *testing.T) {
	const cookie = "__Host-session"
	for _, tc := range []struct {
		name          string
		authorization string
		cookie        *string
		token         string
		bearer        bool
	}{
		{name: "nothing"},
		{name: "cookie", cookie: ptr("sess_c"), token: "sess_c"},
		{name: "bearer", authorization: "Bearer sess_b", token: "sess_b", bearer: true},
		{name: "scheme is case-insensitive", authorization: "bEARER sess_b", token: "sess_b", bearer: true},
		{name: "spaces after the scheme", authorization: "Bearer   sess_b", token: "sess_b", bearer: true},
		{name: "bearer wins over the cookie", authorization: "Bearer sess_b", cookie: ptr("sess_c"), token: "sess_b", bearer: true},
		{name: "a bad bearer still wins", authorization: "Bearer garbage", cookie: ptr("sess_c"), token: "garbage", bearer: true},
		{name: "empty bearer is none", authorization: "Bearer ", cookie: ptr("sess_c"), token: "sess_c"},
		{name: "scheme alone is none", authorization: "Bearer", cookie: ptr("sess_c"), token: "sess_c"},
		{name: "another scheme is none", authorization: "Basic YWxpY2U6cHc=", cookie: ptr("sess_c"), token: "sess_c"},
		{name: "a scheme that only starts with Bearer", authorization: "Bearerx sess_b", token: ""},
		{name: "empty cookie is none", cookie: ptr("")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tc.authorization != "" {
				r.Header.Set("Authorization", tc.authorization)
			}
			if tc.cookie != nil {
				r.AddCookie(&http.Cookie{Name: cookie, Value: *tc.cookie})
			}
			r.AddCookie(&http.Cookie{Name: "other", Value: "sess_other"})
			token, bearer := sessionhttp.TokenFrom(r, cookie)
			if token != tc.token || bearer != tc.bearer {
				t.Errorf("TokenFrom = %q, %v; want %q, %v", token, bearer, tc.token, tc.bearer)
			}
		})
	}
}

func ptr(s string) *string { return &s }
