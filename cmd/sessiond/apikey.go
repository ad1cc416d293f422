package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/server/apikey"
)

const apikeyUsage = "apikey create --name NAME | list | revoke ID [flags]"

func apikeyCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "usage: sessiond %s\n", apikeyUsage)
		return errUsage
	}
	switch args[0] {
	case "create":
		return apikeyCreate(args[1:], stdout, stderr)
	case "list":
		return apikeyList(args[1:], stdout, stderr)
	case "revoke":
		return apikeyRevoke(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "sessiond apikey: unknown command %q\nusage: sessiond %s\n", args[0], apikeyUsage)
	return errUsage
}

// openKeys opens the store as the home of the API keys, for a one-shot
// command; closeStore closes it.
func (s *storeFlags) openKeys(ctx context.Context) (keys server.APIKeyStore, closeStore func(), err error) {
	store, err := s.openStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	if keys, err = apiKeys(store); err != nil {
		store.Close()
		return nil, nil, err
	}
	return keys, func() { store.Close() }, nil
}

// adminContext is the context of a one-shot command: ^C cancels it.
func adminContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// apikeyCreate prints the new key alone on the last line of stdout, so that
// scripts take it with `tail -1`. Only its hash is stored: it cannot be
// shown again.
func apikeyCreate(args []string, stdout, stderr io.Writer) error {
	var sf storeFlags
	c := newCommand("apikey create", "apikey create --name NAME [flags]", stderr)
	name := c.operand("name", "what the key is for, e.g. the calling service (required)")
	sf.register(c)
	if err := c.parse(args); err != nil {
		return err
	}
	if err := c.noArgs(); err != nil {
		return err
	}
	if err := apikey.ValidateName(*name); err != nil {
		return c.usageError("--name: %v", err)
	}
	ctx, cancel := adminContext()
	defer cancel()
	keys, closeStore, err := sf.openKeys(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	key, rec := apikey.New(*name, time.Now())
	if err := keys.CreateAPIKey(ctx, rec); err != nil {
		return fmt.Errorf("storing the API key: %w", err)
	}
	fmt.Fprintf(stdout, "Created API key %s (%s). It is shown only once:\n%s\n", rec.ID, rec.Name, key)
	return nil
}

// apikeyList prints one key per line: id, name, creation time, tab-separated.
func apikeyList(args []string, stdout, stderr io.Writer) error {
	var sf storeFlags
	c := newCommand("apikey list", "apikey list [flags]", stderr)
	sf.register(c)
	if err := c.parse(args); err != nil {
		return err
	}
	if err := c.noArgs(); err != nil {
		return err
	}
	ctx, cancel := adminContext()
	defer cancel()
	keys, closeStore, err := sf.openKeys(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	list, err := keys.ListAPIKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range list {
		fmt.Fprintf(stdout, "%s\t%s\t%s\n", k.ID, k.Name, k.CreatedAt.UTC().Format(time.RFC3339))
	}
	return nil
}

func apikeyRevoke(args []string, stdout, stderr io.Writer) error {
	var sf storeFlags
	c := newCommand("apikey revoke", "apikey revoke ID [flags]", stderr)
	sf.register(c)
	if err := c.parse(args); err != nil {
		return err
	}
	if len(c.args) == 0 {
		return c.usageError("which key? give its id (see sessiond apikey list)")
	}
	id := c.args[0]
	c.args = c.args[1:]
	if err := c.noArgs(); err != nil {
		return err
	}
	ctx, cancel := adminContext()
	defer cancel()
	keys, closeStore, err := sf.openKeys(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	if err := keys.DeleteAPIKey(ctx, id); err != nil {
		return fmt.Errorf("revoking API key %q: %w", id, err)
	}
	fmt.Fprintf(stdout, "revoked API key %s\n", id)
	return nil
}
