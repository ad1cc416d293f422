package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCommand is a command like the admin ones: store flags, --config, an
// operand, and a few settings of its own.
type testCommand struct {
	*command
	out                       bytes.Buffer
	store                     storeFlags
	addr, cookie, metricsAddr string
	idle                      time.Duration
	user                      *string
}

func newTestCommand(t *testing.T) *testCommand {
	t.Helper()
	tc := &testCommand{}
	tc.command = newCommand("test", "test [flags]", &tc.out)
	tc.StringVar(&tc.addr, "addr", "default-addr", "")
	tc.StringVar(&tc.cookie, "cookie-name", "default-cookie", "")
	tc.StringVar(&tc.metricsAddr, "metrics-addr", "default-metrics", "")
	tc.DurationVar(&tc.idle, "idle-timeout", time.Minute, "")
	tc.store.register(tc.command)
	tc.user = tc.operand("user", "")
	tc.secretSettings("secret")
	// No variable of the machine running the tests may leak in.
	for _, name := range []string{"addr", "cookie-name", "metrics-addr", "idle-timeout", "store", "data-dir", "config", "user", "secret"} {
		t.Setenv(envName(name), "")
	}
	return tc
}

func writeConfig(t *testing.T, text string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sessiond.conf")
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

// Precedence: command line > environment > config file > default.
func TestConfigPrecedence(t *testing.T) {
	tc := newTestCommand(t)
	path := writeConfig(t, `
# every setting of the file
addr = file-addr
cookie-name = file-cookie
  idle-timeout=   15m  
store = postgres://u:p#ss@db/x
`, 0o600)
	t.Setenv("SESSIOND_COOKIE_NAME", "env-cookie")
	t.Setenv("SESSIOND_ADDR", "env-addr")
	if err := tc.parse([]string{"--addr", "flag-addr", "--config", path}); err != nil {
		t.Fatalf("%v\n%s", err, tc.out.String())
	}
	for name, c := range map[string]struct{ got, want string }{
		"flag over env and file": {tc.addr, "flag-addr"},
		"env over file":          {tc.cookie, "env-cookie"},
		"file over default":      {tc.idle.String(), "15m0s"},
		"value taken whole":      {tc.store.url, "postgres://u:p#ss@db/x"},
		"default":                {tc.metricsAddr, "default-metrics"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", name, c.got, c.want)
		}
	}
}

// $SESSIOND_CONFIG names the file like --config does.
func TestConfigFromEnvironment(t *testing.T) {
	tc := newTestCommand(t)
	t.Setenv("SESSIOND_CONFIG", writeConfig(t, "addr = file-addr\n", 0o644))
	if err := tc.parse(nil); err != nil {
		t.Fatalf("%v\n%s", err, tc.out.String())
	}
	if tc.addr != "file-addr" {
		t.Errorf("addr %q", tc.addr)
	}
}

// Operands and flags mix in any order, and --config after an operand
// still applies.
func TestConfigAfterOperand(t *testing.T) {
	tc := newTestCommand(t)
	path := writeConfig(t, "addr = file-addr\n", 0o600)
	if err := tc.parse([]string{"key_1", "--config", path, "--", "--not-a-flag"}); err != nil {
		t.Fatalf("%v\n%s", err, tc.out.String())
	}
	if tc.addr != "file-addr" || strings.Join(tc.args, " ") != "key_1 --not-a-flag" {
		t.Errorf("addr %q, args %q", tc.addr, tc.args)
	}
}

// A secret setting from the file goes to the environment, where the code
// that needs it reads it, unless the environment has it already; a file
// holding one must be private.
func TestConfigSecrets(t *testing.T) {
	t.Run("exported", func(t *testing.T) {
		tc := newTestCommand(t)
		if err := tc.parse([]string{"--config", writeConfig(t, "secret = from-the-file\n", 0o600)}); err != nil {
			t.Fatalf("%v\n%s", err, tc.out.String())
		}
		if got := os.Getenv("SESSIOND_SECRET"); got != "from-the-file" {
			t.Errorf("$SESSIOND_SECRET = %q", got)
		}
	})
	t.Run("environment wins", func(t *testing.T) {
		tc := newTestCommand(t)
		t.Setenv("SESSIOND_SECRET", "from-the-env")
		if err := tc.parse([]string{"--config", writeConfig(t, "secret = from-the-file\n", 0o600)}); err != nil {
			t.Fatal(err)
		}
		if got := os.Getenv("SESSIOND_SECRET"); got != "from-the-env" {
			t.Errorf("$SESSIOND_SECRET = %q", got)
		}
	})
	for _, mode := range []os.FileMode{0o640, 0o604, 0o620} {
		t.Run("mode "+mode.String(), func(t *testing.T) {
			tc := newTestCommand(t)
			err := tc.parse([]string{"--config", writeConfig(t, "addr = a\nsecret = from-the-file\n", mode)})
			if !errors.Is(err, errUsage) || !strings.Contains(tc.out.String(), "chmod 600") || !strings.Contains(tc.out.String(), ":2:") {
				t.Errorf("%v\n%s", err, tc.out.String())
			}
			if strings.Contains(tc.out.String(), "from-the-file") {
				t.Error("the secret was printed")
			}
			if os.Getenv("SESSIOND_SECRET") != "" {
				t.Error("the secret of a refused file was exported")
			}
		})
	}
}

// Settings of serve that this command does not take are skipped; names no
// command takes are errors, with the line.
func TestConfigOtherCommandsSettings(t *testing.T) {
	tc := newTestCommand(t)
	path := writeConfig(t, "near-cache = false\ntoken-key = abc\nlifetime = 1h\n", 0o600)
	if err := tc.parse([]string{"--config", path}); err != nil {
		t.Fatalf("%v\n%s", err, tc.out.String())
	}
	if os.Getenv("SESSIOND_TOKEN_KEY") != "" {
		t.Error("a secret this command does not take was exported")
	}
}

func TestConfigErrors(t *testing.T) {
	for name, c := range map[string]struct {
		text, want string
	}{
		"unknown name":   {"addr = x\n\n# fine\nadr = y\n", `:4: unknown setting "adr"`},
		"operand":        {"user = alice\n", ":1: user names what the command acts on"},
		"config in file": {"config = other.conf\n", ":1: a config file cannot name another"},
		"bad value":      {"idle-timeout = soon\n", ":1: idle-timeout: "},
		"no equals sign": {"addr x\n", `:1: "addr x" is not name = value`},
		"dashes":         {"--addr = x\n", `:1: write "--addr" without its dashes`},
		"no name":        {" = x\n", ":1: a setting needs a name"},
		"set twice":      {"addr = x\naddr = y\n", ":2: addr is already set on line 1"},
		"long bad line":  {strings.Repeat("z", 500) + "\n", "..."},
	} {
		t.Run(name, func(t *testing.T) {
			tc := newTestCommand(t)
			path := writeConfig(t, c.text, 0o600)
			err := tc.parse([]string{"--config", path})
			out := tc.out.String()
			if !errors.Is(err, errUsage) || !strings.Contains(out, path+c.want) && !strings.Contains(out, c.want) {
				t.Errorf("%v\n%s", err, out)
			}
			if !strings.Contains(out, "usage: sessiond test") {
				t.Errorf("no usage:\n%s", out)
			}
			if len(out) > 8000 {
				t.Errorf("the error quotes the whole line: %d bytes", len(out))
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		tc := newTestCommand(t)
		if err := tc.parse([]string{"--config", filepath.Join(t.TempDir(), "none")}); !errors.Is(err, errUsage) {
			t.Errorf("%v", err)
		}
	})
	t.Run("not a regular file", func(t *testing.T) {
		tc := newTestCommand(t)
		if err := tc.parse([]string{"--config", os.DevNull}); !errors.Is(err, errUsage) || !strings.Contains(tc.out.String(), "not a regular file") {
			t.Errorf("%v %s", err, tc.out.String())
		}
	})
	t.Run("too large", func(t *testing.T) {
		tc := newTestCommand(t)
		path := writeConfig(t, strings.Repeat("# comment\n", maxConfigSize/10+1), 0o600)
		if err := tc.parse([]string{"--config", path}); !errors.Is(err, errUsage) || !strings.Contains(tc.out.String(), "larger than") {
			t.Errorf("%v %s", err, tc.out.String())
		}
	})
}

// serve --help lists every flag of serve, each with its variable, and
// explains the config file; every flag can be set in the file.
func TestServeHelpListsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	if err := serve([]string{"--help"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	help := out.String()
	var cfg serveConfig
	c := cfg.command(io.Discard)
	n := 0
	c.VisitAll(func(f *flag.Flag) {
		n++
		if !strings.Contains(help, "\n  -"+f.Name+" ") && !strings.Contains(help, "\n  -"+f.Name+"\n") {
			t.Errorf("help lacks -%s", f.Name)
		}
		if !strings.Contains(help, "[$"+envName(f.Name)+"]") {
			t.Errorf("help lacks $%s", envName(f.Name))
		}
	})
	if n < 15 {
		t.Errorf("only %d flags", n)
	}
	for _, want := range []string{"config file (--config FILE, or $SESSIOND_CONFIG)", "name = value", "chmod 600", "secret, token-key, assertion-key"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q", want)
		}
	}

	// Every flag is a valid name in the file.
	var lines []string
	c.VisitAll(func(f *flag.Flag) {
		if f.Name != configFlag {
			lines = append(lines, f.Name+" = "+f.DefValue)
		}
	})
	c.VisitAll(func(f *flag.Flag) { t.Setenv(envName(f.Name), "") })
	var cfg2 serveConfig
	c2 := cfg2.command(io.Discard)
	c2.SetOutput(&out)
	if err := c2.parse([]string{"--config", writeConfig(t, strings.Join(lines, "\n")+"\n", 0o600)}); err != nil {
		t.Errorf("the defaults, written to a file, are refused: %v\n%s", err, out.String())
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:7070": true, "[::1]:7070": true, "localhost:7070": true,
		"0.0.0.0:7070": false, ":7070": false, "10.0.0.5:7070": false, "example.com:80": false, "nonsense": false,
	} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%q) = %v", addr, got)
		}
	}
}

// $SESSIOND_SECRET and the secret file: comma-separated, current first;
// base64 of 32 bytes or more is decoded, anything else is taken as text,
// empty entries are dropped.
func TestParseSecrets(t *testing.T) {
	got := parseSecrets(" q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80= , plain text secret that is long enough!! ,\n")
	if len(got) != 2 || len(got[0]) != 32 || string(got[1]) != "plain text secret that is long enough!!" {
		t.Fatalf("parseSecrets = %q", got)
	}
	if got := parseSecrets(" , ,"); len(got) != 0 {
		t.Errorf("parseSecrets of empty entries = %q", got)
	}
}

// A session id on the command line is checked for its shape before the
// store is opened.
func TestSessionIDShape(t *testing.T) {
	for id, want := range map[string]bool{
		"q83vEjRWeJq83vEjRWeJqw": true,
		"AAAAAAAAAAAAAAAAAAAAAA": true,
		"AAAAAAAAAAAAAAAAAAAAAB": false, // not canonical
		"q83vEjRWeJq83vEjRWeJq":  false,
		"q83vEjRWeJq83vEjRWeJq+": false,
		strings.Repeat("a", 64):  false, // an id of the previous version
		"":                       false,
	} {
		if got := sessionIDShape(id); got != want {
			t.Errorf("sessionIDShape(%q) = %v", id, got)
		}
	}
}
