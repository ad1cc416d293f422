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
// SESSIOND_<FLAG> from the environment and the config file (config.go);
// its operands (which user, which session) do not, so that a variable left
// in a shell or a file can never silently pick the target of a revocation.
type command struct {
	*flag.FlagSet
	synopsis string
	footer   string // printed after the flags
	operands map[string]bool
	secrets  []string // settings read from the environment or the config file only
	args     []string // the positional arguments, wherever they stood
}

func newCommand(name, synopsis string, stderr io.Writer) *command {
	c := &command{FlagSet: flag.NewFlagSet("sessiond "+name, flag.ContinueOnError), synopsis: synopsis, operands: map[string]bool{}}
	c.SetOutput(stderr)
	c.Usage = func() {
		fmt.Fprintf(c.Output(), "usage: sessiond %s\n", c.synopsis)
		if c.hasFlags() {
			fmt.Fprint(c.Output(), "\nflags (a flag on the command line wins over its environment variable, which wins over the config file):\n")
			c.PrintDefaults()
		}
		if c.Lookup(configFlag) != nil {
			fmt.Fprintf(c.Output(), configHelp, c.configSecretsHelp())
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

// parse reads the command line, then the environment for the flags the
// command line left unset, then the config file for those still unset.
// Empty variables count as unset.
func (c *command) parse(args []string) error {
	c.VisitAll(func(f *flag.Flag) {
		if !c.operands[f.Name] {
			f.Usage += " [$" + envName(f.Name) + "]"
		}
	})
	if err := c.parseArgs(args); err != nil {
		return err
	}
	explicit := map[string]bool{}
	c.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	var envErr error
	c.VisitAll(func(f *flag.Flag) {
		if c.operands[f.Name] || explicit[f.Name] || envErr != nil {
			return
		}
		env := envName(f.Name)
		if v := os.Getenv(env); v != "" {
			explicit[f.Name] = true
			if err := c.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("$%s: %v", env, err)
			}
		}
	})
	if envErr != nil {
		return c.usageError("%v", envErr)
	}
	if err := c.applyConfig(explicit); err != nil {
		return c.usageError("%v", err)
	}
	return nil
}

// parseArgs parses the command line into the flags and c.args, with
// positional arguments before, between or after the flags (`apikey revoke
// ID --data-dir D`); "--" ends the flags.
func (c *command) parseArgs(args []string) error {
	for {
		if err := c.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return errUsage // flag has printed the error and the usage
		}
		rest := c.Args()
		if len(rest) == 0 {
			return nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			c.args = append(c.args, rest...)
			return nil
		}
		c.args = append(c.args, rest[0])
		args = rest[1:]
	}
}

// usageError prints a message and the usage, and returns errUsage.
func (c *command) usageError(format string, args ...any) error {
	fmt.Fprintf(c.Output(), "%s: %s\n", c.Name(), fmt.Sprintf(format, args...))
	c.Usage()
	return errUsage
}

// noArgs refuses positional arguments the command does not take.
func (c *command) noArgs() error {
	if len(c.args) > 0 {
		return c.usageError("unexpected argument %q", c.args[0])
	}
	return nil
}
