package pool3d_test

import (
	"fmt"

	"github.com/vidssl/vidssl/internal/pool3d"
)

// Max and average pooling of one 1x4x4 plane with a 1x2x2 window at stride
// 2, and max pooling's gradient, which goes to each window's maximum.
func Example() {
	x := []float32{
		1, 2, 0, 0,
		3, 4, 0, 8,
		5, 0, 1, 1,
		0, 0, 1, 1,
	}
	g := pool3d.New([5]int{1, 1, 1, 4, 4}, [3]int{1, 2, 2}, [3]int{1, 2, 2}, [3]int{0, 0, 0})
	y := make([]float32, 4)
	pool3d.MaxForward(&g, x, y)
	fmt.Println("output shape", g.Y(), "max", y)
	pool3d.AvgForward(&g, x, y)
	fmt.Println("average", y)
	dx := make([]float32, len(x))
	pool3d.MaxBackward(&g, x, []float32{1, 1, 1, 1}, dx)
	fmt.Println("max's gradient", dx)
	// Output:
	// output shape [1 1 1 2 2] max [4 8 5 1]
	// average [2.5 2 1.25 1]
	// max's gradient [0 0 0 0 0 1 0 1 1 0 1 0 0 0 0 0]
}
