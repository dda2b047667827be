package resnet3d

import (
	"fmt"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"

	"github.com/vidssl/vidssl/nn"
)

// NewClassifierTrainer compiles a binary-classification training step for
// batches of n clips of t x h x w: forward in training mode, BCEWithLogits
// with posWeight on the single logit, backward and opt's update. It returns
// the program and its two input nodes: x (n, InChannels, t, h, w) and the 0/1
// targets y (n). The model must have NumClasses == 1. rng drives dropout
// (none in the plain model); it may be nil.
func NewClassifierTrainer(m *Model, n, t, h, w int, posWeight float32, opt nn.Optimizer, rng *rand.Rand) (tr *nn.Program, x, y *G.Node, err error) {
	if m == nil {
		return nil, nil, nil, fmt.Errorf("resnet3d: classifier trainer: nil model")
	}
	if m.Config.NumClasses != 1 {
		return nil, nil, nil, fmt.Errorf("resnet3d: classifier trainer: model has %d classes, want 1", m.Config.NumClasses)
	}
	if err := m.Config.CheckInput([5]int{n, m.Config.InChannels, t, h, w}); err != nil {
		return nil, nil, nil, fmt.Errorf("resnet3d: classifier trainer: %w", err)
	}
	g := nn.NewGraph(true, rng)
	x = g.Input("x", n, m.Config.InChannels, t, h, w)
	y = g.Input("y", n)
	logits, err := m.Forward(g, x)
	if err != nil {
		return nil, nil, nil, err
	}
	if logits, err = nn.Reshape(logits, n); err != nil {
		return nil, nil, nil, err
	}
	loss, err := nn.BCEWithLogits(logits, y, posWeight)
	if err != nil {
		return nil, nil, nil, err
	}
	tr, err = nn.NewTrainer(g, loss, opt)
	if err != nil {
		return nil, nil, nil, err
	}
	return tr, x, y, nil
}
