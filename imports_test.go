package sessiond_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The library — this package, sessionhttp, the stores, the near cache and
// the conformance suite — must not pull in what only the server, the
// browser tests or the benchmarks need: an application that imports it
// gets sessions, not Prometheus, PASETO or a headless browser.
func TestLibraryImportGraph(t *testing.T) {
	library := []string{".", "./sessionhttp", "./stores/...", "./nearcache", "./storetest"}
	out, err := exec.Command("go", append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, library...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/prometheus/", "github.com/chromedp/", "aidanwoods.dev/go-paseto",
		"github.com/golang-jwt/", "github.com/lestrrat-go/", "github.com/alexedwards/scs",
		"github.com/sessiond/sessiond/server", "github.com/sessiond/sessiond/internal/testserver",
		"github.com/sessiond/sessiond/internal/browsertest", "github.com/sessiond/sessiond/bench",
		"github.com/sessiond/sessiond/cmd/",
	}
	// server/apikey is the API-key record, without dependencies, so that the
	// stores can keep the server's keys.
	allowed := "github.com/sessiond/sessiond/server/apikey"
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) && dep != allowed {
				t.Errorf("the library depends on %s", dep)
			}
		}
	}
}
