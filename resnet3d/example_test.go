package resnet3d_test

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/vidssl/vidssl/nn"
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

// Build a video ResNet, load torchvision weights (here a width-4 VideoResNet
// saved with torch.save; torchvision's r3d_18 file loads the same way into
// R3D18(400)), and classify one clip of 8 frames of 32x32 in evaluation mode.
func Example() {
	cfg := resnet3d.Config{InChannels: 3, Width: 4, Blocks: [4]int{1, 1, 1, 1}, NumClasses: 3}
	m, err := resnet3d.New(cfg, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, err := m.LoadWeights("testdata/small.pth", resnet3d.LoadOptions{Strict: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("weights:", rep)

	shape := [5]int{1, 3, 8, 32, 32} // N, C, T, H, W
	if err := cfg.CheckInput(shape); err != nil {
		fmt.Println(err)
		return
	}
	clip := make([]float32, 3*8*32*32)
	for i := range clip {
		clip[i] = float32(i%7) / 7
	}
	g := nn.NewGraph(false, nil) // evaluation mode: batch norm uses running statistics
	x := g.Input("clip", shape[:]...)
	logits, err := m.Forward(g, x)
	if err != nil {
		fmt.Println(err)
		return
	}
	prog := nn.NewEvaluator(g)
	defer prog.Close()
	if _, err := prog.Run(context.Background(), nn.Feed{Node: x, Data: clip}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("logits shape:", logits.Shape())
	// Output:
	// weights: 74 loaded
	// logits shape: (1, 3)
}
