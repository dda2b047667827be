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

// Build torchvision's R(2+1)D-18 as a configuration of the same builder as
// R3D-18: the table differs only in its stem and conv makers. Its
// parameters carry torchvision's r2plus1d_18 names, so its .pth loads with
// LoadWeights. Here it classifies one clip of 8 frames of 32x32 with its
// random initial weights.
func ExampleR2Plus1D18() {
	cfg := resnet3d.R2Plus1D18(400)
	fmt.Println(cfg.Stem, cfg.Block, cfg.Convs)
	m, err := resnet3d.New(cfg, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		fmt.Println(err)
		return
	}
	var learnable int
	for _, p := range m.Params() {
		if !p.Buffer {
			learnable += len(p.Data())
		}
	}
	ps := m.Params()
	fmt.Println("learnable values:", learnable)
	fmt.Println("first names:", ps[0].Name, ps[0].Shape(), ps[6].Name, ps[6].Shape())

	shape := [5]int{1, 3, 8, 32, 32}
	if err := cfg.CheckInput(shape); err != nil {
		fmt.Println(err)
		return
	}
	g := nn.NewGraph(false, nil)
	x := g.Input("clip", shape[:]...)
	logits, err := m.Forward(g, x)
	if err != nil {
		fmt.Println(err)
		return
	}
	prog := nn.NewEvaluator(g)
	defer prog.Close()
	if _, err := prog.Run(context.Background(), nn.Feed{Node: x, Data: make([]float32, 3*8*32*32)}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("logits shape:", logits.Shape())
	// Output:
	// R2Plus1dStem BasicBlock [Conv2Plus1D Conv2Plus1D Conv2Plus1D Conv2Plus1D]
	// learnable values: 31505325
	// first names: stem.0.weight [45 3 1 7 7] stem.3.weight [64 45 3 1 1]
	// logits shape: (1, 400)
}
