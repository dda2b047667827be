package nn_test

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/nn"
)

// ExampleMaxPool3d max-pools a 1x1x2x4x4 tensor holding 0..31 with a
// 1x2x2 window, then averages it to one value per channel.
func ExampleMaxPool3d() {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 5, G.WithShape(1, 1, 2, 4, 4), G.WithName("x"),
		G.WithInit(G.RangedFrom(0)))
	y, err := nn.MaxPool3d(x, nn.PoolConfig{Name: "maxpool", Kernel: [3]int{1, 2, 2}})
	if err != nil {
		fmt.Println(err)
		return
	}
	z, err := nn.GlobalAvgPool3d(y, "avgpool")
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
	fmt.Println(y.Shape(), y.Value().Data())
	fmt.Println(z.Shape(), z.Value().Data())
	// Output:
	// (1, 1, 2, 2, 2) [5 7 13 15 21 23 29 31]
	// (1, 1, 1, 1, 1) [18]
}
