package admin_test

import (
	"net/http"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/server/admin"
	"github.com/sessiond/sessiond/stores/memory"
)

// Mounting the console next to an API: it serves everything under /admin/
// and shares the API's manager, so that a ban or a revocation made in the
// console goes through the same store (and near cache) as the API's
// validations.
func ExampleNew() {
	store := memory.New() // a real server opens its --store
	keys, err := sessiond.NewKeyring([]byte("example secret: at least 32 bytes"))
	if err != nil {
		panic(err)
	}
	manager := sessiond.NewManager(store, keys, sessiond.Config{})

	mux := http.NewServeMux()
	mux.Handle("/admin/", admin.New(admin.Options{Manager: manager, APIKeys: store}))
	mux.Handle("/", http.NotFoundHandler()) // the JSON API
	_ = http.Server{Addr: "127.0.0.1:7070", Handler: mux}
}
