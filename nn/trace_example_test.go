package nn_test

import (
	"fmt"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"

	"github.com/vidssl/vidssl/nn"
)

// ExampleGraph_Trace lists the ops of a small model as an engine other
// than gorgonia's sees them: kinds, value ids and Params.
func ExampleGraph_Trace() {
	rng := rand.New(rand.NewPCG(1, 2))
	conv := nn.NewConv3dLayer("conv", 1, 2, [3]int{3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}, false, rng)
	bn := nn.NewBatchNorm3dLayer("bn", 2)
	fc := nn.NewLinearLayer("fc", 2, 1, true, rng)

	g := nn.NewGraph(true, nil)
	x := g.Input("x", 2, 1, 4, 8, 8)
	y, err := conv.Forward(g, x)
	if err == nil {
		y, err = bn.ForwardReLU(g, y)
	}
	if err == nil {
		y, err = nn.GlobalAvgPool3d(y, "pool")
	}
	if err == nil {
		y, err = nn.Flatten(y)
	}
	if err == nil {
		y, err = fc.Forward(g, y)
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	tape, err := g.Trace([]*G.Node{x}, y)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, op := range tape.Ops {
		fmt.Printf("%v %s %v -> %d %v relu=%v\n", op.Kind, op.Name, op.In, op.Out, tape.Shapes[op.Out], op.ReLU)
	}
	fmt.Println("params:", len(tape.Params()))
	// Output:
	// Conv3d conv [0] -> 1 [2 2 4 8 8] relu=false
	// BatchNorm3d bn [1] -> 2 [2 2 4 8 8] relu=true
	// GlobalAvgPool3d pool [2] -> 3 [2 2 1 1 1] relu=false
	// Reshape Reshape[2 2 1 1 1]->[2 2](%6) [3] -> 4 [2 2] relu=false
	// Linear fc.weight [4] -> 5 [2 1] relu=false
	// params: 8
}
