package sessiond_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/stores/memory"
)

// The Manager without HTTP: sign in, check, rotate, change data atomically,
// sign out. The key comes from your secret store in production (32 bytes or
// more from crypto/rand; every node that shares the store shares the key).
func ExampleManager() {
	ctx := context.Background()
	keys, err := sessiond.NewKeyring([]byte("replace with 32+ random bytes from your secret store"))
	if err != nil {
		log.Fatal(err)
	}
	m := sessiond.NewManager(memory.New(), keys, sessiond.Config{})

	// Sign-in: a new session; hand the token to the client, keep the id.
	token, s, err := m.Create(ctx, sessiond.NewSession{UserID: "alice", Data: json.RawMessage(`{"cart":[]}`)})
	if err != nil {
		log.Fatal(err)
	}
	id := s.ID

	// Every request: the token in, the session and the user's record out.
	s, user, err := m.Validate(ctx, token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.UserID, user.Status, s.ID == id)

	// Privilege change: a new token for the same session; the old one dies.
	newToken, s, err := m.Rotate(ctx, token)
	if err != nil {
		log.Fatal(err)
	}
	_, _, err = m.Validate(ctx, token)
	fmt.Println(s.ID == id, errors.Is(err, sessiond.ErrInvalidSession))

	// Concurrent requests may all patch; none loses the others' writes.
	s, err = m.PatchData(ctx, id, json.RawMessage(`{"cart":["book"]}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(s.Data()))

	// Sign-out ends it on the server: the token is refused from now on.
	if err := m.Revoke(ctx, newToken); err != nil {
		log.Fatal(err)
	}
	_, _, err = m.Validate(ctx, newToken)
	fmt.Println(errors.Is(err, sessiond.ErrInvalidSession))
	// Output:
	// alice active true
	// true true
	// {"cart":["book"]}
	// true
}
