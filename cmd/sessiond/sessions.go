package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/sessiond/sessiond"
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
	if err := sessiond.ValidateUserID(*user); err != nil {
		return c.usageError("--user: %v", err)
	}
	ctx, cancel := adminContext()
	defer cancel()
	store, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	list, err := adminManager(store).ListUser(ctx, *user)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	for _, s := range list {
		if err := enc.Encode(s); err != nil {
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
	case *user != "":
		if err := sessiond.ValidateUserID(*user); err != nil {
			return c.usageError("--user: %v", err)
		}
	case !sessiond.ValidSessionID(*session):
		return c.usageError("--session: a session id is 64 lower-case hex characters")
	}
	ctx, cancel := adminContext()
	defer cancel()
	store, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	m := adminManager(store)
	n := 0
	if *user != "" {
		n, err = m.RevokeUser(ctx, *user, "")
	} else if err = m.RevokeID(ctx, *session); err == nil {
		n = 1
	} else if sessiond.ErrorCode(err) == sessiond.CodeNotFound {
		err = nil // already gone: nothing to revoke
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked %d\n", n)
	return nil
}
