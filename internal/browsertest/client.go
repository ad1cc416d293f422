package browsertest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// Client is a browser reduced to what a server sees. It sends what a
// browser sends (Accept: text/html, a User-Agent), keeps the one session
// cookie the way a browser would — set by Set-Cookie, dropped when the
// server expires it — and does not follow redirects, so that a test checks
// each one. A copy of a Client is another tab of the same browser: it
// starts with the same cookie and records its own.
type Client struct {
	// Cookie is the session cookie the client holds, or nil. A test may
	// plant one, a stolen value say.
	Cookie *http.Cookie

	t          testing.TB
	base       string
	http       *http.Client
	cookieName string
	userAgent  string
}

// NewClient returns a client of srv that keeps the cookie called
// cookieName and sends userAgent.
func NewClient(t testing.TB, srv *httptest.Server, cookieName, userAgent string) *Client {
	client := *srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{t: t, base: srv.URL, http: &client, cookieName: cookieName, userAgent: userAgent}
}

// Response is a response read in full.
type Response struct {
	*http.Response
	// Body is the response's body; the embedded Response's is closed.
	Body string

	t testing.TB
}

// Do sends a request with form, if not nil, as its body; headers are name,
// value pairs that replace the defaults ("" removes one).
func (c *Client) Do(method, path string, form url.Values, headers ...string) *Response {
	t := c.t
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
	req.Header.Set("User-Agent", c.userAgent)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	if c.Cookie != nil {
		req.AddCookie(&http.Cookie{Name: c.Cookie.Name, Value: c.Cookie.Value})
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == c.cookieName {
			if ck.MaxAge < 0 {
				c.Cookie = nil
			} else {
				c.Cookie = ck
			}
		}
	}
	return &Response{Response: resp, Body: string(raw), t: t}
}

// Get sends a GET; headers as for Do.
func (c *Client) Get(path string, headers ...string) *Response {
	c.t.Helper()
	return c.Do("GET", path, nil, headers...)
}

// Post sends a form, empty if nil; headers as for Do.
func (c *Client) Post(path string, form url.Values, headers ...string) *Response {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	return c.Do("POST", path, form, headers...)
}

// WantStatus checks the status code.
func (r *Response) WantStatus(code int) *Response {
	r.t.Helper()
	if r.StatusCode != code {
		r.t.Fatalf("%s %s: status %d, want %d; body:\n%s", r.Request.Method, r.Request.URL.Path, r.StatusCode, code, r.Body)
	}
	return r
}

// WantRedirect checks a 303 to a location (its path, and query if given).
func (r *Response) WantRedirect(location string) *Response {
	r.t.Helper()
	r.WantStatus(http.StatusSeeOther)
	got := r.Header.Get("Location")
	if !strings.Contains(location, "?") {
		got, _, _ = strings.Cut(got, "?")
	}
	if got != location {
		r.t.Fatalf("%s %s: redirect to %q, want %q", r.Request.Method, r.Request.URL.Path, r.Header.Get("Location"), location)
	}
	return r
}

// WantPage checks an HTML page with status code that says each of
// substrings.
func (r *Response) WantPage(code int, substrings ...string) *Response {
	r.t.Helper()
	r.WantStatus(code)
	if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		r.t.Fatalf("%s %s: Content-Type %q, want an HTML page:\n%s", r.Request.Method, r.Request.URL.Path, ct, r.Body)
	}
	return r.WantBody(substrings...)
}

// WantBody checks that the body says each of substrings.
func (r *Response) WantBody(substrings ...string) *Response {
	r.t.Helper()
	for _, s := range substrings {
		if !strings.Contains(r.Body, s) {
			r.t.Fatalf("%s %s: body lacks %q:\n%s", r.Request.Method, r.Request.URL.Path, s, r.Body)
		}
	}
	return r
}

// WantNoBody checks that the body says none of substrings.
func (r *Response) WantNoBody(substrings ...string) *Response {
	r.t.Helper()
	for _, s := range substrings {
		if strings.Contains(r.Body, s) {
			r.t.Fatalf("%s %s: body has %q:\n%s", r.Request.Method, r.Request.URL.Path, s, r.Body)
		}
	}
	return r
}
