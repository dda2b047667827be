package nn_test

import (
	"fmt"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/nn"
)

// ExampleConv3d convolves a batch of two 3-channel 8-frame 16x16 clips with
// R3D-18's stem kernel (3x7x7, stride 1x2x2, padding 1x3x3) and pools it.
func ExampleConv3d() {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 5, G.WithShape(2, 3, 8, 16, 16), G.WithName("x"),
		G.WithInit(G.RangedFrom(0)))
	w := G.NewTensor(g, tensor.Float32, 5, G.WithShape(4, 3, 3, 7, 7), G.WithName("stem.0.weight"),
		G.WithInit(G.Ones()))
	y, err := nn.Conv3d(x, w, nil, nn.ConvConfig{Name: "stem.0", Stride: [3]int{1, 2, 2}, Padding: [3]int{1, 3, 3}})
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := nn.GlobalAvgPool3d(y, "avgpool")
	if err != nil {
		fmt.Println(err)
		return
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("conv:", y.Shape())
	fmt.Println("pool:", p.Shape())

	// Mismatched channels are an error naming the layer and the shapes.
	bad := G.NewTensor(g, tensor.Float32, 5, G.WithShape(2, 1, 8, 16, 16), G.WithName("gray"))
	_, err = nn.Conv3d(bad, w, nil, nn.ConvConfig{Name: "stem.0"})
	fmt.Println(err)
	// Output:
	// conv: (2, 4, 8, 8, 8)
	// pool: (2, 4, 1, 1, 1)
	// nn: Conv3d "stem.0": input (2, 1, 8, 16, 16) has 1 channels but weight (4, 3, 3, 7, 7) expects 3
}

// ExampleNewConv3dLayer builds R3D-18's stem convolution as a Module.
func ExampleNewConv3dLayer() {
	rng := rand.New(rand.NewPCG(1, 2))
	stem := nn.NewConv3dLayer("stem.0", 3, 64, [3]int{3, 7, 7}, [3]int{1, 2, 2}, [3]int{1, 3, 3}, false, rng)
	g := nn.NewGraph(true, rng)
	x := g.Input("clips", 2, 3, 16, 112, 112)
	y, err := stem.Forward(g, x)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range stem.Params() {
		fmt.Println(p.Name, p.Shape())
	}
	fmt.Println(y.Shape())
	// Output:
	// stem.0.weight [64 3 3 7 7]
	// (2, 64, 16, 56, 56)
}
