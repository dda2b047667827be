package atomicfile_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/vidssl/vidssl/internal/atomicfile"
)

// A checkpoint is either the old file or the new one, never half of each:
// a write that fails leaves the target as it was.
func Example() {
	dir, err := os.MkdirTemp("", "atomicfile")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "state.txt")

	if err := atomicfile.WriteBytes(path, 0o644, []byte("epoch 1\n")); err != nil {
		fmt.Println(err)
		return
	}
	err = atomicfile.Write(path, 0o644, func(w io.Writer) error {
		io.WriteString(w, "epoch 2, half")
		return fmt.Errorf("disk full")
	})
	fmt.Println("write:", err)
	b, _ := os.ReadFile(path)
	fmt.Printf("file: %q\n", b)
	left, _ := os.ReadDir(dir)
	fmt.Println("files in the directory:", len(left))
	// Output:
	// write: disk full
	// file: "epoch 1\n"
	// files in the directory: 1
}
