package vidssl_test

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestOutsideModule builds and runs testdata/outside/main.go.txt as a user's
// program in a module of its own (with a replace directive to this one): data
// -> file check -> pretraining -> fine-tuning from the checkpoint ->
// evaluation -> Grad-CAM of one clip, through the public API only. It fails
// when the program imports gorgonia or an internal package, or stops working.
func TestOutsideModule(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and runs a program")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	src, err := os.ReadFile("testdata/outside/main.go.txt")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", src, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if strings.Contains(p, "gorgonia") || strings.Contains(p, "/internal") {
			t.Errorf("the program imports %s", p)
		}
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sum, err := os.ReadFile("go.sum")
	if err != nil {
		t.Fatal(err)
	}
	gomod := "module example.com/outside\n\ngo 1.26\n\nrequire github.com/vidssl/vidssl v0.0.0\n\nreplace github.com/vidssl/vidssl => " + root + "\n"
	for name, data := range map[string][]byte{"main.go": src, "go.mod": []byte(gomod), "go.sum": sum} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out")
	cmd := exec.CommandContext(t.Context(), goBin, "run", ".", out)
	cmd.Dir = dir
	// -mod=mod lets go add the indirect requirements, which it finds in
	// the module cache that building this module filled.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go run: %v\n%s", err, got)
	}
	t.Logf("%s", got)
	if !strings.Contains(string(got), "CAM [1 4 32 32]") {
		t.Errorf("output %q lacks the Grad-CAM of one clip", got)
	}
	if _, err := os.Stat(filepath.Join(out, "cam.png")); err != nil {
		t.Error(err)
	}
}
