package golden_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/vidssl/vidssl/internal/golden"
)

// A golden file as golden.py writes it, read back as float32.
func ExampleLoad() {
	dir, err := os.MkdirTemp("", "golden")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "relu.json")
	if err := os.WriteFile(path, []byte(`{"y": {"shape": [2, 2], "data": [0, 1.5, 0, 2]}}`), 0o644); err != nil {
		fmt.Println(err)
		return
	}
	g, err := golden.Load(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(g["y"].Shape, g["y"].Float32())
	// Output: [2 2] [0 1.5 0 2]
}
