// Command sessiond serves the sessiond JSON API and administers its store.
//
//	sessiond serve                      # http://127.0.0.1:7070, SQLite in the data dir
//	sessiond apikey create --name NAME  # prints the new key alone on the last line
//	sessiond apikey list | revoke ID
//	sessiond sessions list --user U     # one JSON session per line
//	sessiond revoke --user U | --session ID
//	sessiond version
//
// Every flag of the configuration (--addr, --store, --data-dir, ...) can
// also be set in the environment as SESSIOND_<FLAG> (SESSIOND_DATA_DIR for
// --data-dir), or in the file named by --config as "data-dir = ..." lines
// (config.go); the command line wins over the environment, which wins over
// the file. This package only parses configuration and wires: every flag
// of serve goes into one serveConfig (settings.go), the keys are read in
// keys.go, and runServe (serve.go) builds the server from them in one
// place. The API is package server, the console server/admin, the policy
// package sessiond.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usageText = `usage: sessiond <command> [flags]

commands:
  serve                          run the JSON API server
  apikey create --name NAME      create an API key (printed once, alone on the last line)
  apikey list                    list API keys: id, name, created
  apikey revoke ID               delete an API key
  sessions list --user U         a user's live sessions, one JSON object per line
  revoke --user U | --session ID revoke a user's sessions, or one session
  version                        print the version

Run "sessiond <command> --help" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes a command and returns the process's exit status: 0, 1 for a
// failure, 2 for a usage error.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = serve(rest, stderr)
	case "apikey":
		err = apikeyCommand(rest, stdout, stderr)
	case "sessions":
		err = sessions(rest, stdout, stderr)
	case "revoke":
		err = revoke(rest, stdout, stderr)
	case "version":
		err = printVersion(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usageText)
	default:
		fmt.Fprintf(stderr, "sessiond: unknown command %q\n\n%s", cmd, usageText)
		return 2
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errExit):
		return 1
	}
	fmt.Fprintf(stderr, "sessiond: %v\n", err)
	return 1
}
