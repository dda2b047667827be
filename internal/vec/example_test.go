package vec_test

import (
	"fmt"
	"math"

	"github.com/vidssl/vidssl/internal/vec"
)

// One Adam step (lr 0.1, PyTorch's defaults) moves each parameter by about
// the learning rate against its gradient's sign, whatever the gradient's
// size.
func ExampleAdam() {
	p := []float32{1, 1, 1}
	g := []float32{0.001, -2, 30}
	m := make([]float32, 3)
	v := make([]float32, 3)
	vec.Adam(p, g, m, v, vec.NewAdamCoeffs(0.1, 0.9, 0.999, 1e-8, 0, 1))
	fmt.Printf("%.3f\n", p)
	// Output: [0.900 1.100 0.900]
}

func ExampleFirstNonFinite() {
	x := []float32{0, 1, float32(math.Inf(1)), float32(math.NaN())}
	fmt.Println(vec.FirstNonFinite(x), vec.FirstNonFinite(x[:2]))
	// Output: 2 -1
}
