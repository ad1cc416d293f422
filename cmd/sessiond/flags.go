package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// errUsage reports a usage error whose message and usage text have already
// been printed; the process exits with status 2.
var errUsage = errors.New("usage error")

// command is a subcommand's flag set. Its configuration flags also read
// SESSIOND_<FLAG> from the environment; its operands (which user, which
// session) do not, so that a variable left in a shell can never silently
// pick the target of a revocation.
type command struct {
	*flag.FlagSet
	synopsis string
	footer   string // printed after the flags
	operands map[string]bool
}

func newCommand(name, synopsis string, stderr io.Writer) *command {
	c := &command{FlagSet: flag.NewFlagSet("sessiond "+name, flag.ContinueOnError), synopsis: synopsis, operands: map[string]bool{}}
	c.SetOutput(stderr)
	c.Usage = func() {
		fmt.Fprintf(c.Output(), "usage: sessiond %s\n", c.synopsis)
		if c.hasFlags() {
			fmt.Fprint(c.Output(), "\nflags (a flag on the command line wins over its environment variable):\n")
			c.PrintDefaults()
		}
		fmt.Fprint(c.Output(), c.footer)
	}
	return c
}

func (c *command) hasFlags() (any bool) {
	c.VisitAll(func(*flag.Flag) { any = true })
	return any
}

// operand defines a string flag that names what the command acts on; it is
// not read from the environment.
func (c *command) operand(name, usage string) *string {
	c.operands[name] = true
	return c.String(name, "", usage)
}

// envName is the environment variable of a configuration flag.
func envName(flagName string) string {
	return "SESSIOND_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parse applies the environment, then the command line. Empty variables
// count as unset.
func (c *command) parse(args []string) error {
	var envErr error
	c.VisitAll(func(f *flag.Flag) {
		if c.operands[f.Name] {
			return
		}
		env := envName(f.Name)
		f.Usage += " [$" + env + "]"
		if v := os.Getenv(env); v != "" && envErr == nil {
			if err := c.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("$%s: %v", env, err)
			}
		}
	})
	if envErr != nil {
		return c.usageError("%v", envErr)
	}
	if err := c.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage // flag has printed the error and the usage
	}
	return nil
}

// usageError prints a message and the usage, and returns errUsage.
func (c *command) usageError(format string, args ...any) error {
	fmt.Fprintf(c.Output(), "%s: %s\n", c.Name(), fmt.Sprintf(format, args...))
	c.Usage()
	return errUsage
}

// noArgs refuses positional arguments the command does not take.
func (c *command) noArgs() error {
	if c.NArg() > 0 {
		return c.usageError("unexpected argument %q", c.Arg(0))
	}
	return nil
}
