package messaging_test

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's Go snippets are copies of regions of tests and runnable
// examples, so that each one compiles and runs with the tests. A ```go
// block of README.md is preceded by a line
//
//	<!-- readme: NAME -->
//
// and its text is exactly the region of a _test.go file (anywhere in the
// module) between the lines
//
//	// readme:begin NAME
//	// readme:end
//
// with the common indentation removed. The region lies in an Example
// function that has an "// Output:" comment (so that it runs and its
// output is checked), or in a Test function, or holds whole Test
// functions.

var (
	readmeMarker = regexp.MustCompile(`^<!-- readme: ([\w.-]+) -->$`)
	regionBegin  = regexp.MustCompile(`^\s*// readme:begin ([\w.-]+)$`)
	regionEnd    = regexp.MustCompile(`^\s*// readme:end$`)
)

type readmeBlock struct {
	name string
	line int
	text string
}

type snippetRegion struct {
	file       string
	line       int
	text       string
	runs       bool   // in an Example with output, in a Test, or holding Tests
	enclosedBy string // the function the region lies in, if any
}

func TestREADMESnippets(t *testing.T) {
	t.Parallel()
	blocks := readmeBlocks(t, "README.md")
	regions := snippetRegions(t, ".")
	used := make(map[string]bool)
	for _, b := range blocks {
		if b.name == "" {
			t.Errorf("README.md:%d: a ```go block without a <!-- readme: NAME --> line before it; "+
				"copy it from a region of a runnable Example (// readme:begin NAME ... // readme:end)", b.line)
			continue
		}
		r, ok := regions[b.name]
		if !ok {
			t.Errorf("README.md:%d: no region %q (// readme:begin %s) in any _test.go file", b.line, b.name, b.name)
			continue
		}
		used[b.name] = true
		if !r.runs {
			t.Errorf("%s:%d: region %q is not run: put it in an Example with an // Output: comment, or in a Test", r.file, r.line, b.name)
		}
		if b.text != r.text {
			t.Errorf("README.md:%d: block %q differs from %s:%d%s", b.line, b.name, r.file, r.line, firstDifference(b.text, r.text))
		}
	}
	for name, r := range regions {
		if !used[name] {
			t.Errorf("%s:%d: region %q is not in README.md", r.file, r.line, name)
		}
	}
}

// readmeBlocks returns the ```go blocks of a Markdown file, each with the
// name of the marker line before it (blank lines between allowed).
func readmeBlocks(t *testing.T, path string) []readmeBlock {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []readmeBlock
	var cur *readmeBlock
	var lines []string
	marker := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur != nil && line == "```":
			cur.text = strings.Trim(strings.Join(lines, "\n"), "\n")
			blocks = append(blocks, *cur)
			cur, lines = nil, nil
		case cur != nil:
			lines = append(lines, strings.TrimRight(line, " \t"))
		case line == "```go":
			cur = &readmeBlock{name: marker, line: n}
			marker = ""
		case readmeMarker.MatchString(line):
			marker = readmeMarker.FindStringSubmatch(line)[1]
		case strings.TrimSpace(line) != "":
			marker = ""
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: unterminated ```go block", path, cur.line)
	}
	return blocks
}

// testedModules are the modules of the repository, besides the root,
// whose tests `make test` runs too (the Makefile's otel-unit), so a README
// snippet may be a region of their examples.
var testedModules = map[string]bool{"otel": true}

// snippetRegions returns the readme regions of the module's _test.go files
// and of the testedModules'.
func snippetRegions(t *testing.T, root string) map[string]snippetRegion {
	t.Helper()
	regions := make(map[string]snippetRegion)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if path != root && !testedModules[filepath.ToSlash(path)] {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir // another module, which make test does not run
				}
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !bytes.Contains(src, []byte("// readme:begin ")) {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
		if err != nil {
			return err
		}
		lines := strings.Split(string(src), "\n")
		for i := 0; i < len(lines); i++ {
			m := regionBegin.FindStringSubmatch(lines[i])
			if m == nil {
				continue
			}
			name, begin := m[1], i+1
			end := begin
			for end < len(lines) && !regionEnd.MatchString(lines[end]) {
				end++
			}
			if end == len(lines) {
				t.Errorf("%s:%d: region %q has no // readme:end", path, begin, name)
				break
			}
			if prev, dup := regions[name]; dup {
				t.Errorf("%s:%d: region %q again (first at %s:%d)", path, begin, name, prev.file, prev.line)
			}
			r := snippetRegion{file: path, line: begin, text: dedent(lines[begin:end])}
			r.runs, r.enclosedBy = regionRuns(fset, f, src, begin, r.text)
			regions[name] = r
			i = end
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return regions
}

// regionRuns reports whether the region starting at line (1-based) runs
// with the tests.
func regionRuns(fset *token.FileSet, f *ast.File, src []byte, line int, text string) (bool, string) {
	for _, decl := range f.Decls {
		fd, ok := decl.(*ast.FuncDecl)
		if !ok || fd.Recv != nil {
			continue
		}
		from, to := fset.Position(fd.Pos()), fset.Position(fd.End())
		if line < from.Line || line > to.Line {
			continue
		}
		name := fd.Name.Name
		switch {
		case strings.HasPrefix(name, "Test"):
			return true, name
		case strings.HasPrefix(name, "Example"):
			body := src[from.Offset:to.Offset]
			return bytes.Contains(body, []byte("// Output:")) || bytes.Contains(body, []byte("// Unordered output:")), name
		}
		return false, name
	}
	return strings.Contains(text, "\nfunc Test") || strings.HasPrefix(text, "func Test"), ""
}

// dedent joins lines without their common leading tabs and spaces, without
// trailing blanks, and without blank lines at either end.
func dedent(lines []string) string {
	prefix := ""
	first := true
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if first {
			prefix, first = indent, false
			continue
		}
		for !strings.HasPrefix(indent, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.TrimRight(strings.TrimPrefix(l, prefix), " \t")
	}
	return strings.Trim(strings.Join(out, "\n"), "\n")
}

// firstDifference describes where two texts part.
func firstDifference(readme, region string) string {
	a, b := strings.Split(readme, "\n"), strings.Split(region, "\n")
	for i := range max(len(a), len(b)) {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Sprintf(" at its line %d:\n README: %q\n region: %q", i+1, x, y)
		}
	}
	return ""
}

// TestREADMECheckerReadsBlocks checks the checker itself: markers name the
// next block only, and indentation and blank edges do not count.
func TestREADMECheckerReadsBlocks(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "R.md")
	md := "text\n<!-- readme: a -->\n\n```go\n\nx := 1\n```\n```go\ny := 2\n```\n<!-- readme: b -->\nprose\n```go\nz\n```\n"
	if err := os.WriteFile(path, []byte(md), 0o600); err != nil {
		t.Fatal(err)
	}
	got := readmeBlocks(t, path)
	want := []readmeBlock{{"a", 4, "x := 1"}, {"", 8, "y := 2"}, {"", 13, "z"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("blocks %v, want %v", got, want)
	}
	if d := dedent([]string{"", "\t\tif x {", "\t\t\ty()", "\t\t}", ""}); d != "if x {\n\ty()\n}" {
		t.Errorf("dedent: %q", d)
	}
}
