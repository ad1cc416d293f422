package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// The config file (--config FILE, or $SESSIOND_CONFIG) sets any flag, one
// "name = value" per line:
//
//	# /etc/sessiond.conf
//	addr = 10.0.0.5:7070
//	store = postgres://sessiond@db/sessiond
//	idle-timeout = 15m
//	secret = 0b7c...        # not a comment: values are taken whole
//
// Names are flag names without their dashes; lines whose first non-blank
// character is # are comments, and blank lines are skipped. The value is
// the rest of the line with surrounding blanks trimmed: no quoting, no
// trailing comments, so that a password holding a # survives. A name that
// no sessiond command takes is an error, reported with its line; a name of
// `sessiond serve` that the running command does not take is skipped, so
// that the admin commands read the server's file for its --store and
// --data-dir. Precedence: command line > environment > file > default.
//
// The file may hold secrets — the secret settings of serve (the token
// keys: never flags, as command lines are visible to every user of the
// machine), and a store URL's password. A file holding a secret setting is
// refused if anyone but its owner may read or write it, as OpenSSH refuses
// such a private key (OWASP: Secrets Management, protect secrets at rest).

// configFlag is the flag naming the config file.
const configFlag = "config"

// maxConfigSize bounds the config file: a setting is a line, and a path
// that names a device or a huge file must fail rather than hang.
const maxConfigSize = 1 << 20

// configHelp follows the flags in the usage of a command that takes
// --config; %s lists the command's secret settings.
const configHelp = `
config file (--config FILE, or $SESSIOND_CONFIG):
  Sets any flag above that has a $SESSIOND_ variable, one "name = value" per
  line, the name without its dashes (data-dir = /var/lib/sessiond). Lines
  starting with # and blank lines are skipped; the value is the rest of the
  line, blanks trimmed, not quoted. A name no sessiond command takes is an
  error; a setting of "sessiond serve" that this command does not take is
  skipped, so one file serves every command. The command line wins over the
  environment, which wins over the file.%s
`

// defineConfig adds --config to c. Every command that touches the store
// takes it, so that the admin commands find the server's store.
func (c *command) defineConfig() {
	c.String(configFlag, "", `file of "name = value" settings (see below); readable by its owner only (chmod 600) if it holds a secret`)
}

// secretSettings declares settings that are read from the environment
// (SESSIOND_<NAME>) or the config file, never from the command line. A
// value from the file is put in the environment, where the code that needs
// it reads it, unless the environment sets it already.
func (c *command) secretSettings(names ...string) {
	c.secrets = append(c.secrets, names...)
}

// configSecretsHelp is the part of configHelp about c's secret settings.
func (c *command) configSecretsHelp() string {
	if len(c.secrets) == 0 {
		return ""
	}
	return `
  The file may also hold these secrets, which are never flags:
    ` + strings.Join(c.secrets, ", ") + ` ($` + envName(c.secrets[0]) + `, ...)
  sessiond then refuses the file unless only its owner can read and write
  it (chmod 600). Make it 600 too if the store URL holds a password.`
}

// setting is one line of a config file.
type setting struct {
	name, value string
	line        int
}

// readConfig reads and parses a config file.
func readConfig(path string) ([]setting, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, nil, err
	}
	if len(b) > maxConfigSize {
		return nil, nil, fmt.Errorf("%s is larger than %d bytes", path, maxConfigSize)
	}
	settings, err := parseConfig(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s:%w", path, err)
	}
	return settings, info, nil
}

// parseConfig parses the text of a config file. Its errors start with the
// line number.
func parseConfig(b []byte) ([]setting, error) {
	var out []setting
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxConfigSize)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch {
		case !ok:
			return nil, fmt.Errorf("%d: %q is not name = value", n, clipText(line))
		case strings.HasPrefix(name, "-"):
			return nil, fmt.Errorf("%d: write %q without its dashes", n, clipText(name))
		case name == "":
			return nil, fmt.Errorf("%d: a setting needs a name", n)
		case seen[name] != 0:
			return nil, fmt.Errorf("%d: %s is already set on line %d", n, clipText(name), seen[name])
		}
		seen[name] = n
		out = append(out, setting{name, value, n})
	}
	return out, sc.Err()
}

// clipText keeps error messages about a bad line short: the line may be a
// secret in the wrong place.
func clipText(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// applyConfig sets, from the file named by --config, the flags that
// neither the command line nor the environment set, and exports the
// secret settings the environment lacks.
func (c *command) applyConfig(explicit map[string]bool) error {
	f := c.Lookup(configFlag)
	if f == nil || f.Value.String() == "" {
		return nil
	}
	path := f.Value.String()
	settings, info, err := readConfig(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	known, secret := c.knownSettings()
	for _, s := range settings {
		if secret[s.name] && info.Mode().Perm()&0o077 != 0 {
			return fmt.Errorf("%s:%d: the file holds the secret %s but others may access it (mode %04o): chmod 600 %s", path, s.line, s.name, info.Mode().Perm(), path)
		}
	}
	for _, s := range settings {
		at := fmt.Sprintf("%s:%d", path, s.line)
		switch fl := c.Lookup(s.name); {
		case s.name == configFlag:
			return fmt.Errorf("%s: a config file cannot name another", at)
		case fl != nil && c.operands[s.name]:
			return fmt.Errorf("%s: %s names what the command acts on: give it as --%s on the command line", at, s.name, s.name)
		case fl != nil:
			if explicit[s.name] {
				continue
			}
			if err := c.Set(s.name, s.value); err != nil {
				return fmt.Errorf("%s: %s: %v", at, s.name, err)
			}
		case slices.Contains(c.secrets, s.name):
			if os.Getenv(envName(s.name)) == "" {
				os.Setenv(envName(s.name), s.value)
			}
		case !known[s.name]:
			return fmt.Errorf("%s: unknown setting %q (see sessiond serve --help)", at, clipText(s.name))
		}
	}
	return nil
}

// knownSettings returns the names a config file may hold, and which of
// them are secrets: those of serve, which takes every setting, and of this
// command.
func (c *command) knownSettings() (known, secret map[string]bool) {
	known, secret = map[string]bool{}, map[string]bool{}
	add := func(c *command) {
		c.VisitAll(func(f *flag.Flag) {
			if !c.operands[f.Name] {
				known[f.Name] = true
			}
		})
		for _, s := range c.secrets {
			known[s], secret[s] = true, true
		}
	}
	add(c)
	var cfg serveConfig
	add(cfg.command(io.Discard))
	return known, secret
}
