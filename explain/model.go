package explain

import (
	"context"
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/resnet3d"
)

// CAM is the result of ModelCAM or ResNetCAM for a batch of clips.
type CAM struct {
	// Volumes holds one normalised Grad-CAM volume per clip, upsampled to the
	// clip's T x H x W, with shape Shape (N, T, H, W); values in [0, 1].
	Volumes []float32
	// Shape is (N, T, H, W).
	Shape [4]int
	// Heatmaps holds the temporal maximum of each volume: N maps of H x W.
	Heatmaps []float32
	// Logits are the model's outputs, N x classes, row-major.
	Logits []float32
}

// Split is a model cut at the layer whose activations Grad-CAM weighs:
// Before maps clips (N, C, T, H, W) to the layer's output (N, C', t, h, w)
// and After maps that output to the logits (N, classes). Each is any
// nn.Module (a model of the caller's, nn.Sequential, or a part of a
// resnet3d model); the cut is needed because gorgonia differentiates only
// with respect to a graph's input nodes.
type Split struct {
	Before, After nn.Module
}

// ModelCAM computes Grad-CAM for the model m on clips of shape (N, C, T,
// H, W): the model runs in evaluation mode (batch norm with running
// statistics, no dropout), the target score is the logit of class for each
// clip, and the maps come from the output of m.Before. Batch items are
// independent in evaluation mode, so one backward pass of the summed scores
// gives every clip's map.
//
// Both halves are built before any graph runs, so a nil part, a
// non-positive dimension, clips of another length, a layer output that is
// not (N, C', t, h, w), logits that are not (N, classes) or a class out of
// range is an error, never a run.
func ModelCAM(ctx context.Context, m Split, clips []float32, shape [5]int, class int) (*CAM, error) {
	return modelCAM(ctx, "ModelCAM", m, clips, shape, class)
}

func modelCAM(ctx context.Context, fn string, m Split, clips []float32, shape [5]int, class int) (*CAM, error) {
	if m.Before == nil || m.After == nil {
		return nil, fmt.Errorf("explain: %s: nil model part", fn)
	}
	n, err := volume(fn, shape[:])
	if err != nil {
		return nil, err
	}
	if len(clips) != n {
		return nil, fmt.Errorf("explain: %s: %d clip values, shape %v holds %d", fn, len(clips), shape, n)
	}
	g := nn.NewGraph(false, nil)
	x := g.Input("x", shape[:]...)
	act, err := m.Before.Forward(g, x)
	if err != nil {
		return nil, fmt.Errorf("explain: %s: %w", fn, err)
	}
	ls := act.Shape()
	if ls.Dims() != 5 || ls[0] != shape[0] {
		return nil, fmt.Errorf("explain: %s: the target layer's output is %v, want (%d, C, t, h, w)", fn, []int(ls), shape[0])
	}
	// gorgonia differentiates only with respect to input nodes, so the
	// network is cut at the layer: one graph computes its output, a second
	// takes that as an input and computes the logits and the gradient.
	g2 := nn.NewGraph(false, nil)
	layer := g2.Input("layer", ls...)
	logits, err := m.After.Forward(g2, layer)
	if err != nil {
		return nil, fmt.Errorf("explain: %s: %w", fn, err)
	}
	if logits == nil {
		return nil, fmt.Errorf("explain: %s: the model has no logits", fn)
	}
	k := 0
	if s := logits.Shape(); s.Dims() == 2 && s[0] == shape[0] {
		k = s[1]
	} else {
		return nil, fmt.Errorf("explain: %s: logits of shape %v, want (%d, classes)", fn, []int(s), shape[0])
	}
	if class < 0 || class >= k {
		return nil, fmt.Errorf("explain: %s: class %d, the model has %d classes", fn, class, k)
	}
	// The score is the sum over clips of logits[:, class], written as a
	// product with a one-hot mask: G.Slice of a column panics inside
	// gorgonia's machine when N == 1.
	mask := make([]float32, shape[0]*k)
	for i := range shape[0] {
		mask[i*k+class] = 1
	}
	onehot := G.NewConstant(tensor.New(tensor.WithShape(shape[0], k), tensor.WithBacking(mask)), G.WithName("class_mask"))
	score, err := G.HadamardProd(logits, onehot)
	if err == nil {
		score, err = G.Sum(score)
	}
	if err != nil {
		return nil, fmt.Errorf("explain: %s: target score: %w", fn, err)
	}
	grads, err := G.Grad(score, layer)
	if err != nil {
		return nil, fmt.Errorf("explain: %s: gradient: %w", fn, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	prog := nn.NewEvaluator(g)
	defer prog.Close()
	if _, err := prog.Run(ctx, nn.Feed{Node: x, Data: clips}); err != nil {
		return nil, fmt.Errorf("explain: %s: %w", fn, err)
	}
	acts := act.Value().Data().([]float32)
	prog2 := nn.NewEvaluator(g2)
	defer prog2.Close()
	if _, err := prog2.Run(ctx, nn.Feed{Node: layer, Data: acts}); err != nil {
		return nil, fmt.Errorf("explain: %s: %w", fn, err)
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
	out := append([]float32(nil), logits.Value().Data().([]float32)...)
	return &CAM{Volumes: vol, Shape: us, Heatmaps: heat, Logits: out}, nil
}

// ResNetCAM is ModelCAM for a resnet3d model cut after stage (1-4; 4 is
// torchvision's layer4, the paper's choice). Every argument is checked
// before a graph runs: a nil model, a non-positive dimension, a channel
// count other than the model's, clips of another length, a stage out of
// range or a class the model does not have is an error.
func ResNetCAM(ctx context.Context, m *resnet3d.Model, clips []float32, shape [5]int, stage, class int) (*CAM, error) {
	if m == nil {
		return nil, fmt.Errorf("explain: ResNetCAM: nil model")
	}
	if err := m.Config.CheckInput(shape); err != nil {
		return nil, fmt.Errorf("explain: ResNetCAM: clips: %w", err)
	}
	if stage < 1 || stage > 4 {
		return nil, fmt.Errorf("explain: ResNetCAM: stage %d, want 1 to 4", stage)
	}
	if k := m.Config.NumClasses; class < 0 || class >= k {
		return nil, fmt.Errorf("explain: ResNetCAM: class %d, the model has %d classes", class, k)
	}
	return modelCAM(ctx, "ResNetCAM", Split{Before: resnetBefore{m, stage}, After: resnetAfter{m, stage}}, clips, shape, class)
}

// resnetBefore is a resnet3d model up to the output of a stage (1-4).
type resnetBefore struct {
	m     *resnet3d.Model
	stage int
}

func (r resnetBefore) Forward(g *nn.Graph, x *G.Node) (*G.Node, error) {
	out, err := r.m.ForwardAll(g, x)
	if err != nil {
		return nil, err
	}
	return out.Stages[r.stage-1], nil
}

func (r resnetBefore) Params() []*nn.Param { return r.m.Params() }

// resnetAfter is a resnet3d model from the output of a stage to the logits.
type resnetAfter resnetBefore

func (r resnetAfter) Forward(g *nn.Graph, y *G.Node) (*G.Node, error) {
	out, err := r.m.ForwardFrom(g, y, r.stage)
	if err != nil {
		return nil, err
	}
	return out.Logits, nil
}

func (r resnetAfter) Params() []*nn.Param { return r.m.Params() }
