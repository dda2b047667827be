package nn_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/vidssl/vidssl/nn"
)

// ExampleSequential builds SimCLR's projection head, Linear(512, 256, no
// bias) -> ReLU -> Linear(256, 128, no bias), and lists its Params.
func ExampleSequential() {
	rng := rand.New(rand.NewPCG(1, 2))
	head := nn.NewSequential(
		nn.NewLinearLayer("head.0", 512, 256, false, rng),
		nn.ReLULayer{},
		nn.NewLinearLayer("head.2", 256, 128, false, rng),
	)
	for _, p := range head.Params() {
		fmt.Println(p.Name, p.Shape())
	}
	// Output:
	// head.0.weight [256 512]
	// head.2.weight [128 256]
}

// ExampleOutputShape asks a small 3-D CNN what it outputs for a batch of
// 8 clips of 3 channels, 16 frames of 112x112, without allocating the
// batch or running anything; an input of other channels is an error.
func ExampleOutputShape() {
	rng := rand.New(rand.NewPCG(1, 2))
	model := nn.NewSequential(
		nn.NewConv3dLayer("features.0", 3, 16, [3]int{3, 7, 7}, [3]int{1, 2, 2}, [3]int{1, 3, 3}, false, rng),
		nn.NewBatchNorm3dLayer("features.1", 16),
		nn.ReLULayer{},
		&nn.GlobalAvgPool3dLayer{Name: "pool"},
		nn.FlattenLayer{},
		nn.NewLinearLayer("classifier", 16, 1, true, rng),
	)
	shape, err := nn.OutputShape(model, 8, 3, 16, 112, 112)
	fmt.Println(shape, err)
	_, err = nn.OutputShape(model, 8, 1, 16, 112, 112)
	fmt.Println(err != nil)
	// Output:
	// [8 1] <nil>
	// true
}
