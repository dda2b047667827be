package gradcheck_test

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/gradcheck"
)

// Check compares gorgonia's gradient of x*x with central differences.
func ExampleCheck() {
	x := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{0.5, -1, 2, 1.5, -0.25, 3}))
	square := func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) { return G.HadamardProd(in[0], in[0]) }
	fmt.Println(gradcheck.Check(square, []*tensor.Dense{x}, []bool{true}, gradcheck.Options{Tol: 1e-3}))
	// Output: <nil>
}
