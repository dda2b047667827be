package gpu

import (
	"fmt"
	"slices"

	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/resnet3d"
)

// The trainer walks a resnet3d.Model by its Config and torchvision's
// parameter names rather than through a gorgonia graph. plan mirrors
// resnet3d.New: the R3D stem Conv3d(3x7x7, stride 1x2x2, padding 1x3x3) +
// BatchNorm3d + ReLU, four stages of BasicBlocks (the first block of stages
// 2-4 with stride 2 and a 1x1x1 downsample), global average pooling and fc.

// convSpec is one Conv3d layer (no bias) followed by its BatchNorm3d.
type convSpec struct {
	conv, bn            string // state_dict prefixes, e.g. "stem.0" and "stem.1"
	cin, cout           int
	kernel, stride, pad [3]int
}

func (c convSpec) params() ConvParams { return ConvParams{Stride: c.stride, Padding: c.pad} }

// blockSpec is one BasicBlock.
type blockSpec struct {
	name         string // e.g. "layer2.0"
	conv1, conv2 convSpec
	down         *convSpec
}

// r3dPlan is a video ResNet's layers in order.
type r3dPlan struct {
	stem     convSpec
	blocks   []blockSpec
	features int // fc input: the last stage's channels
	classes  int // fc output; 0 for no fc
}

func planR3D(cfg resnet3d.Config) r3dPlan {
	p := r3dPlan{
		stem:     convSpec{conv: "stem.0", bn: "stem.1", cin: cfg.InChannels, cout: cfg.Width, kernel: [3]int{3, 7, 7}, stride: [3]int{1, 2, 2}, pad: [3]int{1, 3, 3}},
		features: cfg.FeatureDim(),
		classes:  cfg.NumClasses,
	}
	cin := cfg.Width
	for s := range 4 {
		cout := cfg.Width << s
		for i := 0; i < cfg.Blocks[s]; i++ {
			st := 1
			if s > 0 && i == 0 {
				st = 2
			}
			name := fmt.Sprintf("layer%d.%d", s+1, i)
			b := blockSpec{
				name:  name,
				conv1: convSpec{conv: name + ".conv1.0", bn: name + ".conv1.1", cin: cin, cout: cout, kernel: [3]int{3, 3, 3}, stride: [3]int{st, st, st}, pad: [3]int{1, 1, 1}},
				conv2: convSpec{conv: name + ".conv2.0", bn: name + ".conv2.1", cin: cout, cout: cout, kernel: [3]int{3, 3, 3}, stride: [3]int{1, 1, 1}, pad: [3]int{1, 1, 1}},
			}
			if st != 1 || cin != cout {
				b.down = &convSpec{conv: name + ".downsample.0", bn: name + ".downsample.1", cin: cin, cout: cout, kernel: [3]int{1, 1, 1}, stride: [3]int{st, st, st}}
			}
			p.blocks = append(p.blocks, b)
			cin = cout
		}
	}
	return p
}

// convs returns every conv+bn of the plan in forward order.
func (p r3dPlan) convs() []convSpec {
	out := []convSpec{p.stem}
	for _, b := range p.blocks {
		out = append(out, b.conv1, b.conv2)
		if b.down != nil {
			out = append(out, *b.down)
		}
	}
	return out
}

// expectedParams returns the shape of every state entry the plan uses, by
// name, with whether it is a buffer.
func (p r3dPlan) expectedParams() map[string][]int {
	want := map[string][]int{}
	for _, c := range p.convs() {
		want[c.conv+".weight"] = []int{c.cout, c.cin, c.kernel[0], c.kernel[1], c.kernel[2]}
		for _, s := range []string{".weight", ".bias", ".running_mean", ".running_var"} {
			want[c.bn+s] = []int{c.cout}
		}
		want[c.bn+".num_batches_tracked"] = []int{1}
	}
	if p.classes > 0 {
		want["fc.weight"] = []int{p.classes, p.features}
		want["fc.bias"] = []int{p.classes}
	}
	return want
}

// checkParams verifies that params are exactly the plan's, with its shapes:
// a model of another structure is an error, never a silently wrong step.
func (p r3dPlan) checkParams(params []*nn.Param) (map[string]*nn.Param, error) {
	byName, err := nn.ParamsByName(params)
	if err != nil {
		return nil, fmt.Errorf("gpu: %w", err)
	}
	want := p.expectedParams()
	for name, shape := range want {
		q, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("gpu: the model has no %q, which an R3D of its Config has", name)
		}
		if !slices.Equal(q.Shape(), shape) {
			return nil, fmt.Errorf("gpu: %q has shape %v, want %v", name, q.Shape(), shape)
		}
	}
	for _, q := range params {
		if _, ok := want[q.Name]; !ok {
			return nil, fmt.Errorf("gpu: the model has %q, which the R3D structure of the GPU trainer does not", q.Name)
		}
	}
	return byName, nil
}
