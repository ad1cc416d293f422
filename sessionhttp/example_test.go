package sessionhttp_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memory"
	"github.com/sessiond/sessiond/sessionhttp"
)

// newManager returns a Manager on an in-memory store. A real program loads
// its secret from the environment (sessiond.ParseSecrets) and opens a
// persistent store.
func newManager() *sessiond.Manager {
	keys, err := sessiond.NewKeyring([]byte("example secret: at least 32 bytes"))
	if err != nil {
		panic(err)
	}
	return sessiond.NewManager(memory.New(), keys, sessiond.Config{})
}

// send runs one request through h, carrying cookie if it is not nil, and
// returns the response.
func send(h http.Handler, method, target string, cookie *http.Cookie) *http.Response {
	r := httptest.NewRequest(method, target, nil)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

// Protecting a route: Handler loads the session on every request, Require
// lets only signed-in users through.
func Example() {
	sessions := sessionhttp.New(newManager(), sessionhttp.Options{})
	mux := http.NewServeMux()
	mux.Handle("GET /account", sessions.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session, _, _ := sessionhttp.FromContext(r.Context())
		fmt.Fprintf(w, "signed in as %s", session.UserID)
	})))
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		// Check the password first, then:
		if _, err := sessions.Login(w, r, "alice", nil); err != nil {
			sessions.Error(w, r, err)
		}
	})
	handler := sessions.Handler(mux) // http.ListenAndServe(addr, handler)

	anonymous := send(handler, "GET", "/account", nil)
	fmt.Println(anonymous.StatusCode)
	cookie := send(handler, "POST", "/login", nil).Cookies()[0]
	signedIn := send(handler, "GET", "/account", cookie)
	fmt.Println(signedIn.StatusCode)
	// Output:
	// 401
	// 200
}

// Login sets the session cookie; Logout revokes the session on the server
// and clears the cookie, so a copy of the cookie is useless afterwards.
func ExampleSessions_Login() {
	sessions := sessionhttp.New(newManager(), sessionhttp.Options{})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if _, err := sessions.Login(w, r, r.FormValue("user"), []byte(`{"theme":"dark"}`)); err != nil {
			sessions.Error(w, r, err)
		}
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.Logout(w, r); err != nil {
			sessions.Error(w, r, err)
		}
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		if session, _, ok := sessionhttp.FromContext(r.Context()); ok {
			fmt.Fprintf(w, "%s %s", session.UserID, session.Data)
			return
		}
		fmt.Fprint(w, "anonymous")
	})
	handler := sessions.Handler(mux)

	login := send(handler, "POST", "/login?user=alice", nil)
	cookie := login.Cookies()[0]
	fmt.Println(cookie.Name, cookie.HttpOnly, cookie.Secure, cookie.SameSite == http.SameSiteLaxMode, cookie.Path)
	fmt.Println(login.Header.Get("Cache-Control"))
	fmt.Println(body(send(handler, "GET", "/whoami", cookie)))

	logout := send(handler, "POST", "/logout", cookie)
	fmt.Println(logout.Cookies()[0].MaxAge < 0)
	fmt.Println(body(send(handler, "GET", "/whoami", cookie))) // the old cookie, replayed
	// Output:
	// __Host-session true true true /
	// no-store
	// alice {"theme":"dark"}
	// true
	// anonymous
}

// Patch merges a JSON object into the session's data (RFC 7396), atomically:
// concurrent requests adding to one cart never lose each other's items.
func ExampleSessions_Patch() {
	manager := newManager()
	sessions := sessionhttp.New(manager, sessionhttp.Options{})
	mux := http.NewServeMux()
	mux.Handle("POST /cart/add", sessions.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		patch := fmt.Appendf(nil, `{"cart":{%q:1}}`, r.FormValue("product"))
		session, err := sessions.Patch(r, patch)
		if err != nil {
			sessions.Error(w, r, err)
			return
		}
		fmt.Fprintf(w, "%s", session.Data)
	})))
	mux.Handle("POST /cart/clear", sessions.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session, err := sessions.Patch(r, []byte(`{"cart":null}`))
		if err != nil {
			sessions.Error(w, r, err)
			return
		}
		fmt.Fprintf(w, "%s", session.Data)
	})))
	handler := sessions.Handler(mux)

	token, _, err := manager.Create(context.Background(), sessiond.NewSession{UserID: "alice", Data: []byte(`{"theme":"dark"}`)})
	if err != nil {
		panic(err)
	}
	cookie := &http.Cookie{Name: sessionhttp.DefaultCookieName, Value: token}
	fmt.Println(body(send(handler, "POST", "/cart/add?product=tea", cookie)))
	fmt.Println(body(send(handler, "POST", "/cart/add?product=mug", cookie)))
	fmt.Println(body(send(handler, "POST", "/cart/clear", cookie)))
	// Output:
	// {"cart":{"tea":1},"theme":"dark"}
	// {"cart":{"mug":1,"tea":1},"theme":"dark"}
	// {"theme":"dark"}
}

// RequireRole reads the roles from the user record on every request, so a
// change made with Manager.PutUser applies to the user's next request.
func ExampleSessions_RequireRole() {
	manager := newManager()
	sessions := sessionhttp.New(manager, sessionhttp.Options{})
	mux := http.NewServeMux()
	mux.Handle("GET /admin", sessions.RequireRole("admin", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "admin area")
	})))
	handler := sessions.Handler(mux)

	ctx := context.Background()
	token, _, _ := manager.Create(ctx, sessiond.NewSession{UserID: "bob"})
	cookie := &http.Cookie{Name: sessionhttp.DefaultCookieName, Value: token}
	fmt.Println(send(handler, "GET", "/admin", cookie).StatusCode)
	manager.PutUser(ctx, &sessiond.User{ID: "bob", Status: sessiond.UserActive, Roles: []string{"admin"}})
	fmt.Println(send(handler, "GET", "/admin", cookie).StatusCode)
	// Output:
	// 403
	// 200
}

func body(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
