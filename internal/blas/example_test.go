package blas_test

import (
	"fmt"

	"github.com/vidssl/vidssl/internal/blas"
)

// C = A*B for a 2x3 A and a 3x2 B, row-major, with vidssl's own SGEMM (the
// same call runs on every implementation; Default picks one for the CPU).
func Example() {
	a := []float32{
		1, 2, 3,
		4, 5, 6,
	}
	b := []float32{
		1, 0,
		0, 1,
		1, 1,
	}
	c := make([]float32, 4)
	blas.Go().Sgemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2)
	fmt.Println(c)
	// Output: [4 5 10 11]
}
