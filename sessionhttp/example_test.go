package sessionhttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessionhttp"
	"github.com/sessiond/sessiond/stores/memory"
)

// newManager returns a Manager on an in-memory store. A real program takes
// its key (32 random bytes or more) from its secret store or environment,
// and opens a persistent store: see examples/minimal.
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
			fmt.Fprintf(w, "%s %s", session.UserID, session.Data())
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

// PatchData merges a JSON object into the session's data (RFC 7396),
// atomically: concurrent requests adding to one cart never lose each
// other's items.
func ExampleSessions_PatchData() {
	manager := newManager()
	sessions := sessionhttp.New(manager, sessionhttp.Options{})
	mux := http.NewServeMux()
	mux.Handle("POST /cart/add", sessions.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		patch := fmt.Appendf(nil, `{"cart":{%q:1}}`, r.FormValue("product"))
		session, err := sessions.PatchData(r, patch)
		if err != nil {
			sessions.Error(w, r, err)
			return
		}
		fmt.Fprintf(w, "%s", session.Data())
	})))
	mux.Handle("POST /cart/clear", sessions.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session, err := sessions.PatchData(r, []byte(`{"cart":null}`))
		if err != nil {
			sessions.Error(w, r, err)
			return
		}
		fmt.Fprintf(w, "%s", session.Data())
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
	token, _, err := manager.Create(ctx, sessiond.NewSession{UserID: "bob"})
	if err != nil {
		panic(err)
	}
	cookie := &http.Cookie{Name: sessionhttp.DefaultCookieName, Value: token}
	fmt.Println(send(handler, "GET", "/admin", cookie).StatusCode)
	bob := sessiond.User{ID: "bob", Status: sessiond.UserActive}.WithRoles("admin")
	if _, err := manager.PutUser(ctx, bob); err != nil {
		panic(err)
	}
	fmt.Println(send(handler, "GET", "/admin", cookie).StatusCode)
	// Output:
	// 403
	// 200
}

// Rotate gives the session a new token when the user's privileges change:
// the session keeps its id (a "this device" marker or an audit trail keeps
// track of it) and the old cookie is refused from then on.
func ExampleSessions_Rotate() {
	sessions := sessionhttp.New(newManager(), sessionhttp.Options{})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if _, err := sessions.Login(w, r, "alice", nil); err != nil {
			sessions.Error(w, r, err)
		}
	})
	mux.Handle("POST /sudo", sessions.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Check the password again, raise the privilege, then:
		if err := sessions.Rotate(w, r); err != nil {
			sessions.Error(w, r, err)
		}
	})))
	mux.Handle("GET /id", sessions.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session, _, _ := sessionhttp.FromContext(r.Context())
		fmt.Fprint(w, session.ID)
	})))
	handler := sessions.Handler(mux)

	before := send(handler, "POST", "/login", nil).Cookies()[0]
	id := body(send(handler, "GET", "/id", before))
	after := send(handler, "POST", "/sudo", before).Cookies()[0]
	fmt.Println(after.Value != before.Value)
	fmt.Println(body(send(handler, "GET", "/id", after)) == id)
	fmt.Println(send(handler, "GET", "/id", before).StatusCode)
	// Output:
	// true
	// true
	// 401
}

// What FromContext returns is the handler's own copy: editing it grants
// nothing and changes nothing that the next request sees.
func ExampleFromContext() {
	manager := newManager()
	sessions := sessionhttp.New(manager, sessionhttp.Options{})
	handler := sessions.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session, user, ok := sessionhttp.FromContext(r.Context())
		if !ok {
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "%s %v %v %s\n", user.ID, user.Roles(), user.HasRole("admin"), session.Data())
		roles := user.Roles()
		roles = append(roles[:0], "admin") // edits a copy
		session.UserID = "root"            // likewise
	}))

	token, _, err := manager.Create(context.Background(), sessiond.NewSession{UserID: "carol", Data: []byte(`{"theme":"dark"}`)})
	if err != nil {
		panic(err)
	}
	cookie := &http.Cookie{Name: sessionhttp.DefaultCookieName, Value: token}
	fmt.Print(body(send(handler, "GET", "/", cookie)))
	fmt.Print(body(send(handler, "GET", "/", cookie)))
	// Output:
	// carol [] false {"theme":"dark"}
	// carol [] false {"theme":"dark"}
}

// TokenFrom is the credential parser Handler uses: a bearer header wins
// over the cookie, and an empty one is no credential.
func ExampleTokenFrom() {
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: sessionhttp.DefaultCookieName, Value: "sess_from_cookie"})
	fmt.Println(sessionhttp.TokenFrom(r, sessionhttp.DefaultCookieName))
	r.Header.Set("Authorization", "Bearer sess_from_header")
	fmt.Println(sessionhttp.TokenFrom(r, sessionhttp.DefaultCookieName))
	// Output:
	// sess_from_cookie false
	// sess_from_header true
}

// ErrorStatus is the status table Sessions.Error answers with; anything
// that is not a sessiond domain error fails closed.
func ExampleErrorStatus() {
	fmt.Println(sessionhttp.ErrorStatus(sessiond.ErrUserBanned))
	fmt.Println(sessionhttp.ErrorStatus(errors.New("redis: i/o timeout")))
	// Output:
	// 403 user_banned the user is banned
	// 503 store_unavailable the session store is unavailable
}

func body(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
