package cuda_test

import (
	"fmt"

	"github.com/vidssl/vidssl/internal/cuda"
)

// Libraries loads the driver, cuBLAS and cuDNN, or says which is missing;
// on a machine without them that is an error to report, not a crash.
func ExampleLibraries() {
	_, _, _, err := cuda.Libraries()
	switch {
	case err == nil:
		fmt.Println("CUDA, cuBLAS and cuDNN loaded")
	case cuda.IsNotFound(err):
		fmt.Println("no GPU stack here:", err)
	default:
		fmt.Println(err)
	}
}
