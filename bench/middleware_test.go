package bench

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/alexedwards/scs/v2"

	"github.com/sessiond/sessiond/sessionhttp"
	"github.com/sessiond/sessiond/stores/memory"
)

// BenchmarkMiddleware measures what the session middleware adds to a
// request that carries a valid session cookie, through to a handler that
// reads the user id: sessiond's Handler on the memory store against
// alexedwards/scs LoadAndSave on its memstore. Both use a fresh
// ResponseRecorder per request; the request itself is reused, as neither
// middleware changes it.
func BenchmarkMiddleware(b *testing.B) {
	b.Run("sessiond", func(b *testing.B) {
		m := newManager(b, memory.New())
		token := liveSession(b, m)
		s := sessionhttp.New(m, sessionhttp.Options{})
		h := s.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if sess, _, ok := sessionhttp.FromContext(r.Context()); !ok || sess.UserID != "user-42" {
				b.Fatal("no session")
			}
			w.WriteHeader(http.StatusNoContent)
		}))
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(&http.Cookie{Name: sessionhttp.DefaultCookieName, Value: token})
		benchHandler(b, h, r)
	})
	b.Run("scs", func(b *testing.B) {
		sm := scs.New() // memstore
		login := sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sm.Put(r.Context(), "user_id", "user-42")
		}))
		w := httptest.NewRecorder()
		login.ServeHTTP(w, httptest.NewRequest("POST", "/login", nil))
		cookies := w.Result().Cookies()
		if len(cookies) != 1 {
			b.Fatalf("scs login set %d cookies", len(cookies))
		}
		h := sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if sm.GetString(r.Context(), "user_id") != "user-42" {
				b.Fatal("no session")
			}
			w.WriteHeader(http.StatusNoContent)
		}))
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(cookies[0])
		benchHandler(b, h, r)
	})
}

func benchHandler(b *testing.B, h http.Handler, r *http.Request) {
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusNoContent {
			b.Fatalf("status %d", w.Code)
		}
	}
}
