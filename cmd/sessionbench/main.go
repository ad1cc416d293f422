// Command sessionbench measures sessiond as a server, the figures that `go
// test -bench` cannot give: how fast a revocation reaches the other nodes,
// forward-auth requests per second against a JWT-verifying peer, and what a
// session costs in Redis and on the wire. Every subcommand starts what it
// measures (a throwaway redis-server, sessiond nodes built from this
// checkout, the peer) on free loopback ports and stops it afterwards, so a
// figure in BENCHMARKS.md is reproduced with one command.
//
//	go run ./cmd/sessionbench propagation   # 3 nodes on one Redis: revoke → refused elsewhere
//	go run ./cmd/sessionbench throughput    # wrk: /v1/auth vs an HS256 JWT server
//	go run ./cmd/sessionbench memory        # Redis bytes per session; token and cookie bytes
//	go run ./cmd/sessionbench chart         # docs/bench.svg from the results
//
// Like the benchmarks in ./bench, it prints ratios against a peer measured in
// the same run and asserts nothing: the numbers are read, not tested. It is
// a command, not a test, so that `go test ./...` never starts servers.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

const usage = `usage: go run ./cmd/sessionbench <command> [flags]

commands:
  propagation  3 sessiond nodes on one throwaway Redis: time from a revoke on
               node 1 until nodes 2 and 3 refuse the token; the same with
               the invalidation channel killed, and with the announcement
               missing altogether (the staleness bound)
  throughput   wrk against one node's GET /v1/auth (near cache, Redis) and
               against a Go HS256 JWT-verifying server; Redis calls per
               forged token and writes per validated request
  memory       Redis memory per session for 1,000,000 sessions; token and
               Set-Cookie bytes vs a session JWT
  chart        render docs/bench.svg from the results file and a
               go test -bench output
  jwt-server   the JWT peer of throughput (started by it)

Run "go run ./cmd/sessionbench <command> -h" for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	commands := map[string]func([]string) error{
		"propagation": propagation,
		"throughput":  throughput,
		"memory":      memory,
		"chart":       chart,
		"jwt-server":  jwtServer,
	}
	run, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "sessionbench: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "sessionbench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// errUsage is a flag error already printed by the flag package.
var errUsage = errors.New("usage")

// parseFlags parses a subcommand's flags, refusing positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}
