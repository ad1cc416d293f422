package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestKeyFileIsCreatedOnceAndKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sessiond-shop")
	first, err := loadSecrets(env(nil), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 1 || len(first[0]) != 32 {
		t.Fatalf("want one 32-byte key, got %d keys", len(first))
	}
	st, err := os.Stat(filepath.Join(dir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	again, err := loadSecrets(env(nil), dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first[0], again[0]) {
		t.Fatal("a restart made a new key: everybody would be signed out")
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".secret-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary key files left behind: %v", leftovers)
	}
}

func TestSecretFromTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	secrets, err := loadSecrets(env(map[string]string{"SESSIOND_SECRET": testSecret + ",an older secret of 32 bytes or more"}), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets) != 2 || string(secrets[0]) != testSecret {
		t.Fatalf("secrets %q", secrets)
	}
	if _, err := os.Stat(filepath.Join(dir, "secret.key")); err == nil {
		t.Error("a key file was written although SESSIOND_SECRET is set")
	}
	if _, err := loadSecrets(env(map[string]string{"SESSIOND_SECRET": " , "}), dir); err == nil {
		t.Error("an empty SESSIOND_SECRET was accepted")
	}
	if _, err := loadSecrets(env(nil), ""); err == nil {
		t.Error("no secret and no data directory was accepted")
	}
}

func TestDefaultDataDir(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_DATA_HOME": "/xdg", "HOME": "/home/u"}, "/xdg/sessiond-shop"},
		{map[string]string{"XDG_DATA_HOME": "relative", "HOME": "/home/u"}, "/home/u/.local/share/sessiond-shop"},
		{map[string]string{"HOME": "/home/u"}, "/home/u/.local/share/sessiond-shop"},
	} {
		if got, err := defaultDataDir(env(tc.env)); err != nil || got != tc.want {
			t.Errorf("defaultDataDir(%v) = %q, %v; want %q", tc.env, got, err, tc.want)
		}
	}
	if _, err := defaultDataDir(env(nil)); err == nil {
		t.Error("no HOME and no XDG_DATA_HOME gave a data directory")
	}
}

func TestRunRefusesBadInvocations(t *testing.T) {
	vars := env(map[string]string{"SESSIOND_SECRET": testSecret, "HOME": t.TempDir()})
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, vars, &out); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	for _, args := range [][]string{
		{"--no-such-flag"},
		{"extra"},
		{"--store", "nonsense"},
		{"--store", "gopher://x"},
		{"--store", "memory://", "--addr", "256.0.0.1:99999"},
	} {
		if err := run(context.Background(), args, vars, &out); err == nil {
			t.Errorf("run %q succeeded", args)
		}
	}
}
