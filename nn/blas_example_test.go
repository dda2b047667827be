package nn_test

import (
	"fmt"

	"github.com/vidssl/vidssl/nn"
)

// BLAS names the matrix-product implementation in use.
func ExampleBLAS() {
	name := nn.BLAS()
	fmt.Println(name != "")
	// Output: true
}
