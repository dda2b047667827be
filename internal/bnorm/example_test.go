package bnorm_test

import (
	"fmt"

	"github.com/vidssl/vidssl/internal/bnorm"
)

// Batch normalisation in training of one channel of four values (N=2, C=1,
// S=2): the batch statistics, the normalised output and the gradient of
// the input for an output gradient dy.
func Example() {
	x := []float32{1, 2, 4, 5}
	const n, c, s, ch, eps = 2, 1, 2, 0, 0
	mean, invstd, variance, _ := bnorm.Batch(x, nil, nil, n, c, s, ch, eps)
	fmt.Printf("mean %.2f variance %.2f invstd %.3f\n", mean, variance, invstd)

	y := make([]float32, len(x))
	bnorm.Normalize(y, x, n, c, s, ch, 1, 0, mean, invstd, false)
	fmt.Printf("y %.3f\n", y)

	dy := []float32{1, 0, 0, 0}
	_, _, _, mo := bnorm.Batch(x, dy, nil, n, c, s, ch, eps)
	dx := make([]float32, len(x))
	bnorm.InputGrad(dx, x, dy, nil, n, c, s, ch, 1, mean, invstd, mo)
	fmt.Printf("dx %.3f\n", dx)
	// Output:
	// mean 3.00 variance 2.50 invstd 0.632
	// y [-1.265 -0.632 0.632 1.265]
	// dx [0.221 -0.285 -0.032 0.095]
}
