package conv3d_test

import (
	"fmt"

	"github.com/vidssl/vidssl/internal/blas"
	"github.com/vidssl/vidssl/internal/conv3d"
)

// A 1x2x2 averaging kernel over a 1x3x3 frame, no padding, stride 1, and
// the two backward passes for an output gradient of ones.
func Example() {
	x := []float32{
		1, 2, 3,
		4, 5, 6,
		7, 8, 9,
	}
	w := []float32{0.25, 0.25, 0.25, 0.25}
	g := conv3d.New([5]int{1, 1, 1, 3, 3}, [5]int{1, 1, 1, 2, 2}, [3]int{1, 1, 1}, [3]int{0, 0, 0})
	bl := blas.Go()
	y := make([]float32, 4)
	conv3d.Forward(bl, &g, x, w, nil, y)
	fmt.Println("output shape", g.Y(), "y", y)

	dy := []float32{1, 1, 1, 1}
	dx := make([]float32, len(x))
	dw := make([]float32, len(w))
	conv3d.BackwardData(bl, &g, w, dy, dx)
	conv3d.BackwardFilter(bl, &g, x, dy, dw)
	fmt.Println("dx", dx)
	fmt.Println("dw", dw)
	// Output:
	// output shape [1 1 1 2 2] y [3 4 6 7]
	// dx [0.25 0.5 0.25 0.5 1 0.5 0.25 0.5 0.25]
	// dw [12 16 24 28]
}
