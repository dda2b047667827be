package resnet3d_test

import (
	"fmt"

	"github.com/vidssl/vidssl/resnet3d"
)

// Check a batch shape before building a graph with it: frames smaller than
// the network's stride are fine, an empty batch or the wrong channel count is
// an error.
func ExampleConfig_CheckInput() {
	cfg := resnet3d.R3D18(1)
	fmt.Println(cfg.CheckInput([5]int{1, 3, 1, 1, 1}))
	fmt.Println(cfg.CheckInput([5]int{0, 3, 16, 112, 112}))
	fmt.Println(cfg.CheckInput([5]int{2, 1, 16, 112, 112}))
	// Output:
	// <nil>
	// resnet3d: input shape [0 3 16 112 112]: dimension 0 (N) is 0, want positive
	// resnet3d: input shape [2 1 16 112 112]: 1 channels, the model takes 3
}
