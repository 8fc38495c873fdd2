// Package testnode finds Node.js and the modules of the protocol referee
// (testdata/conformance) for tests that need them. It is test support: only
// _test.go files import it.
//
// The rule is the project's one rule for the referee: when node or the npm
// modules are missing, a test skips with a message that says how to install
// them, except when MESSAGING_CONFORMANCE=required (as `make test` sets),
// where it fails.
package testnode

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// EnvRequired names the variable that turns a missing referee from a skip
// into a failure, when it is set to "required".
const EnvRequired = "MESSAGING_CONFORMANCE"

// modules are the npm packages the tests use.
var modules = [...]string{"socket.io", "socket.io-client"}

// Require returns the path of the node executable, after checking that the
// referee's modules are installed in conformanceDir (the path of
// testdata/conformance relative to the test's package). It skips or fails
// the test, as described in the package documentation, when they are not.
func Require(t testing.TB, conformanceDir string) string {
	t.Helper()
	missing := func(why string) {
		msg := why + "; install the referee with: npm ci --prefix testdata/conformance"
		if os.Getenv(EnvRequired) == "required" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node not found in PATH")
	}
	for _, m := range modules {
		if _, err := os.Stat(filepath.Join(conformanceDir, "node_modules", m, "package.json")); err != nil {
			missing("node module " + m + " missing")
		}
	}
	return node
}
