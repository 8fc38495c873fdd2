package testnode

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that records how Require ended the test.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}
func (r *recorder) Skip(args ...any) {
	r.skipped, r.msg = true, args[0].(string)
	panic(r)
}
func (r *recorder) Fatal(args ...any) {
	r.failed, r.msg = true, args[0].(string)
	panic(r)
}

func run(t *testing.T, dir string) *recorder {
	r := &recorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != nil && p != r {
				panic(p)
			}
		}()
		Require(r, dir)
	}()
	return r
}

func TestMissingModulesSkipOrFail(t *testing.T) {
	empty := t.TempDir()

	t.Setenv(EnvRequired, "")
	r := run(t, empty)
	if !r.skipped || r.failed {
		t.Fatalf("without %s=required: skipped=%v failed=%v, want a skip", EnvRequired, r.skipped, r.failed)
	}
	if want := "npm ci --prefix testdata/conformance"; !strings.Contains(r.msg, want) {
		t.Errorf("skip message %q does not say how to install (%q)", r.msg, want)
	}

	t.Setenv(EnvRequired, "required")
	r = run(t, empty)
	if !r.failed || r.skipped {
		t.Fatalf("with %s=required: skipped=%v failed=%v, want a failure", EnvRequired, r.skipped, r.failed)
	}
}

func TestInstalledModulesPass(t *testing.T) {
	dir := t.TempDir()
	for _, m := range modules {
		p := filepath.Join(dir, "node_modules", m)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "package.json"), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(EnvRequired, "required")
	r := run(t, dir)
	if r.failed || r.skipped {
		// node itself may be absent on this machine; that is the one
		// acceptable reason.
		if !strings.Contains(r.msg, "node not found") {
			t.Fatalf("modules installed, yet: %s", r.msg)
		}
	}
}
