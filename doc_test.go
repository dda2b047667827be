package vidssl_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocListsEveryPackage fails when a library package (not a command, not
// under internal, examples or docs) is missing from the package list in
// doc.go's overview.
func TestDocListsEveryPackage(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	doc := f.Doc.Text()
	// The list: lines starting "  - " up to the next blank line.
	var list strings.Builder
	in := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "  - ") {
			in = true
		} else if strings.TrimSpace(line) == "" {
			in = false
		}
		if in {
			list.WriteString(line + "\n")
		}
	}
	if list.Len() == 0 {
		t.Fatal("doc.go has no package list")
	}
	found := 0
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		switch top := strings.Split(path, string(filepath.Separator))[0]; {
		case path == ".":
			return nil
		case strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || top == "internal" || top == "examples" || top == "docs" || top == "cmd" || d.Name() == "cmd":
			return filepath.SkipDir
		}
		name, ok := libraryPackage(t, path)
		if !ok {
			return nil
		}
		found++
		rel := filepath.ToSlash(path)
		if !regexp.MustCompile(`(^|[\s,])` + regexp.QuoteMeta(rel) + `([\s,:]|$)`).MatchString(list.String()) {
			t.Errorf("package %s (%s) is not in doc.go's list:\n%s", rel, name, list.String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 10 {
		t.Errorf("found only %d packages; the walk is wrong", found)
	}
}

// libraryPackage returns the package name of the Go files in dir, and
// whether they make a library package (not main).
func libraryPackage(t *testing.T, dir string) (string, bool) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, e.Name()), nil, parser.PackageClauseOnly)
		if err != nil {
			t.Fatal(err)
		}
		return f.Name.Name, f.Name.Name != "main"
	}
	return "", false
}
