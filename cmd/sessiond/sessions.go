package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/server"
)

// adminManager is a manager for commands that list and revoke sessions.
// They never issue or verify a token, so the manager has no keys.
func adminManager(store sessiond.Store) *sessiond.Manager {
	return sessiond.NewManager(store, nil, sessiond.Config{})
}

// sessions lists a user's live sessions, one JSON object per line (the API's
// session JSON), so that the output is both greppable and parseable.
func sessions(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "list" {
		fmt.Fprint(stderr, "usage: sessiond sessions list --user U [flags]\n")
		return errUsage
	}
	var sf storeFlags
	c := newCommand("sessions list", "sessions list --user U [flags]", stderr)
	user := c.operand("user", "user id (required)")
	sf.register(c)
	if err := c.parse(args[1:]); err != nil {
		return err
	}
	if err := c.noArgs(); err != nil {
		return err
	}
	if *user == "" {
		return c.usageError("--user: which user? give their id")
	}
	ctx, cancel := adminContext()
	defer cancel()
	store, err := sf.openStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	list, err := adminManager(store).ListUserSessions(ctx, *user)
	if errors.Is(err, sessiond.ErrInvalidRequest) {
		return c.usageError("--user: %s", message(err))
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	for _, s := range list {
		if err := enc.Encode(server.NewSessionJSON(s)); err != nil {
			return err
		}
	}
	return nil
}

// revoke ends all of a user's sessions, or one session by id, and prints
// how many went: "revoked N".
func revoke(args []string, stdout, stderr io.Writer) error {
	var sf storeFlags
	c := newCommand("revoke", "revoke --user U | --session ID [flags]", stderr)
	user := c.operand("user", "revoke every session of this user")
	session := c.operand("session", "revoke this session (its id, not its token)")
	sf.register(c)
	if err := c.parse(args); err != nil {
		return err
	}
	if err := c.noArgs(); err != nil {
		return err
	}
	switch {
	case (*user == "") == (*session == ""):
		return c.usageError("give exactly one of --user and --session")
	case *session != "" && !sessionIDShape(*session):
		return c.usageError("--session: a session id is 22 characters of base64url (sessiond sessions list shows them)")
	}
	ctx, cancel := adminContext()
	defer cancel()
	store, err := sf.openStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	m := adminManager(store)
	n := 0
	if *user != "" {
		n, err = m.RevokeUserSessions(ctx, *user, "")
		if errors.Is(err, sessiond.ErrInvalidRequest) {
			return c.usageError("--user: %s", message(err))
		}
	} else if err = m.RevokeSession(ctx, *session); err == nil {
		n = 1
	} else if errors.Is(err, sessiond.ErrNotFound) {
		err = nil // already gone: nothing to revoke
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked %d\n", n)
	return nil
}

// sessionIDShape reports whether s looks like a session id (22 characters
// of canonical base64url, 16 bytes), so that a mistyped id is a usage
// error rather than "revoked 0". Whether the session exists is the
// store's to say.
func sessionIDShape(s string) bool {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return len(s) == 22 && err == nil && len(b) == 16
}

// message is the text of a domain error, safe to print.
func message(err error) string {
	var e *sessiond.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}
