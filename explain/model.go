package explain

import (
	"context"
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/resnet3d"
)

// CAM is the result of ResNetCAM for a batch of clips.
type CAM struct {
	// Volumes holds one normalised Grad-CAM volume per clip, upsampled to the
	// clip's T x H x W, with shape Shape (N, T, H, W); values in [0, 1].
	Volumes []float32
	// Shape is (N, T, H, W).
	Shape [4]int
	// Heatmaps holds the temporal maximum of each volume: N maps of H x W.
	Heatmaps []float32
	// Logits are the model's outputs, N x NumClasses, row-major.
	Logits []float32
}

// ResNetCAM computes Grad-CAM for a resnet3d model on clips of shape
// (N, C, T, H, W): the model runs in evaluation mode (batch norm with
// running statistics), the target score is the logit of class for each clip,
// and the maps come from the output of stage (1-4; 4 is torchvision's
// layer4, the paper's choice). Batch items are independent in evaluation
// mode, so one backward pass of the summed scores gives every clip's map.
//
// Every argument is checked before a graph runs: a nil model, a
// non-positive dimension, a channel count other than the model's or clips
// of another length is an error.
func ResNetCAM(ctx context.Context, m *resnet3d.Model, clips []float32, shape [5]int, stage, class int) (*CAM, error) {
	if m == nil {
		return nil, fmt.Errorf("explain: ResNetCAM: nil model")
	}
	if err := m.Config.CheckInput(shape); err != nil {
		return nil, fmt.Errorf("explain: ResNetCAM: clips: %w", err)
	}
	if n := shape[0] * shape[1] * shape[2] * shape[3] * shape[4]; len(clips) != n {
		return nil, fmt.Errorf("explain: ResNetCAM: %d clip values, shape %v holds %d", len(clips), shape, n)
	}
	if stage < 1 || stage > 4 {
		return nil, fmt.Errorf("explain: ResNetCAM: stage %d, want 1 to 4", stage)
	}
	if k := m.Config.NumClasses; class < 0 || class >= k {
		return nil, fmt.Errorf("explain: ResNetCAM: class %d, the model has %d classes", class, k)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// gorgonia differentiates only with respect to input nodes, so the
	// network is cut at the stage: one graph computes its output, a second
	// takes that as an input and computes the logits and the gradient.
	g := nn.NewGraph(false, nil)
	x := g.Input("x", shape[:]...)
	out, err := m.ForwardAll(g, x)
	if err != nil {
		return nil, fmt.Errorf("explain: ResNetCAM: %w", err)
	}
	prog := nn.NewEvaluator(g)
	defer prog.Close()
	if _, err := prog.Run(ctx, nn.Feed{Node: x, Data: clips}); err != nil {
		return nil, fmt.Errorf("explain: ResNetCAM: %w", err)
	}
	acts := out.Stages[stage-1].Value().Data().([]float32)

	ls := out.Stages[stage-1].Shape()
	g2 := nn.NewGraph(false, nil)
	layer := g2.Input("layer", ls...)
	out2, err := m.ForwardFrom(g2, layer, stage)
	if err != nil {
		return nil, fmt.Errorf("explain: ResNetCAM: %w", err)
	}
	// The score is the sum over clips of logits[:, class], written as a
	// product with a one-hot mask: G.Slice of a column panics inside
	// gorgonia's machine when N == 1.
	n, k := shape[0], m.Config.NumClasses
	mask := make([]float32, n*k)
	for i := range n {
		mask[i*k+class] = 1
	}
	onehot := G.NewConstant(tensor.New(tensor.WithShape(n, k), tensor.WithBacking(mask)), G.WithName("class_mask"))
	score, err := G.HadamardProd(out2.Logits, onehot)
	if err == nil {
		score, err = G.Sum(score)
	}
	if err != nil {
		return nil, fmt.Errorf("explain: ResNetCAM: target score: %w", err)
	}
	grads, err := G.Grad(score, layer)
	if err != nil {
		return nil, fmt.Errorf("explain: ResNetCAM: gradient: %w", err)
	}
	prog2 := nn.NewEvaluator(g2)
	defer prog2.Close()
	if _, err := prog2.Run(ctx, nn.Feed{Node: layer, Data: acts}); err != nil {
		return nil, fmt.Errorf("explain: ResNetCAM: %w", err)
	}
	actShape := [5]int{ls[0], ls[1], ls[2], ls[3], ls[4]}
	cam, cs, err := GradCAM(acts, grads[0].Value().Data().([]float32), actShape)
	if err != nil {
		return nil, err
	}
	up, us, err := Upsample(cam, cs, [3]int{shape[2], shape[3], shape[4]})
	if err != nil {
		return nil, err
	}
	vol, err := Normalize(up, us[0])
	if err != nil {
		return nil, err
	}
	heat, _, err := TemporalMax(vol, us)
	if err != nil {
		return nil, err
	}
	logits := append([]float32(nil), out2.Logits.Value().Data().([]float32)...)
	return &CAM{Volumes: vol, Shape: us, Heatmaps: heat, Logits: logits}, nil
}
