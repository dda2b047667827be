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
