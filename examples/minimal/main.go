// Command minimal is the smallest complete sessiond application: sign-in, a protected page,
// sign-out, sessions in SQLite. `go run ./examples/minimal`, then open http://localhost:8080.
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"html"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessionhttp"
	"github.com/sessiond/sessiond/stores/sqlite"
)

func main() {
	// The token key: 32+ random bytes from your secret store, the same on every node. Without
	// SESSION_KEY a random one is made up, so each restart signs everyone out: for a try only.
	keys, err := sessiond.NewKeyring([]byte(cmp.Or(os.Getenv("SESSION_KEY"), rand.Text()+rand.Text())))
	if err != nil {
		log.Fatal(err)
	}
	store, err := sqlite.Open(context.Background(), "sessions.db", sqlite.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	h := newHandler(sessiond.NewManager(store, keys, sessiond.Config{}))
	log.Print((&http.Server{Addr: "localhost:8080", Handler: h, ReadHeaderTimeout: 5 * time.Second}).ListenAndServe())
}

// newHandler serves the pages: over plain http on localhost only, as the cookie is Secure.
func newHandler(m *sessiond.Manager) http.Handler {
	s, mux := sessionhttp.New(m, sessionhttp.Options{LoginURL: "/"}), http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<!doctype html><form method="post" action="/login"><input name="user"><button>Sign in</button></form>`)
	})
	mux.Handle("GET /account", s.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session, _, _ := sessionhttp.FromContext(r.Context())
		io.WriteString(w, "<!doctype html>Hello, "+html.EscapeString(session.UserID)+`. <form method="post" action="/logout"><button>Sign out</button></form>`)
	})))
	done := func(w http.ResponseWriter, r *http.Request, err error, next string) {
		if err != nil {
			s.Error(w, r, err) // JSON: 400 bad user name, 403 banned, 503 store down
			return
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	}
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		_, err := s.Login(w, r, r.FormValue("user"), nil) // check a password first: this takes any name
		done(w, r, err, "/account")
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) { done(w, r, s.Logout(w, r), "/") })
	return s.Handler(mux)
}
