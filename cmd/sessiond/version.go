package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

func printVersion(args []string, stdout, stderr io.Writer) error {
	c := newCommand("version", "version", stderr)
	if err := c.parse(args); err != nil {
		return err
	}
	if err := c.noArgs(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sessiond %s\n", version())
	return nil
}

// version is the module version the binary was built from (go install
// module@v1.2.3), else the VCS revision, else "dev".
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "-dirty"
			}
		}
	}
	if len(rev) >= 12 {
		return "dev-" + rev[:12] + modified
	}
	return "dev"
}
