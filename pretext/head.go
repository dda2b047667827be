package pretext

import (
	"fmt"
	"math"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"

	"github.com/vidssl/vidssl/nn"
)

// OrderHeadName is the name of the frame-order head's parameters, the
// attribute name of the public code's model (its state_dict holds
// "reordering_head.weight" and "reordering_head.bias").
const OrderHeadName = "reordering_head"

// OrderHead predicts a clip's frame order from the encoder's feature h:
// Linear(F, K!) with bias, named "reordering_head.weight" (K! x F) and
// "reordering_head.bias" (K!), as in the public code (Linear(512, 24) for
// R3D-18 and 4-frame clips).
type OrderHead struct {
	// Linear is the layer.
	Linear *nn.LinearLayer
	// K is the number of frames of a clip.
	K int
}

// NewOrderHead returns the head for features-dimensional features and
// k-frame clips, initialised as torch.nn.Linear (nn.DefaultUniform) from rng.
func NewOrderHead(features, k int, rng *rand.Rand) (*OrderHead, error) {
	if features < 1 {
		return nil, fmt.Errorf("pretext: order head: %d features, want > 0", features)
	}
	c := Classes(k)
	if c == 0 {
		return nil, fmt.Errorf("pretext: order head: %d frames, want 1..%d", k, MaxFrames)
	}
	return &OrderHead{Linear: nn.NewLinearLayer(OrderHeadName, features, c, true, rng), K: k}, nil
}

// Classes returns K!, the number of logits.
func (h *OrderHead) Classes() int { return Classes(h.K) }

// Forward returns the order logits (N, K!) for features (N, F).
func (h *OrderHead) Forward(g *nn.Graph, x *G.Node) (*G.Node, error) {
	y, err := h.Linear.Forward(g, x)
	if err != nil {
		return nil, fmt.Errorf("pretext: order head: %w", err)
	}
	return y, nil
}

// Params returns the weight and the bias.
func (h *OrderHead) Params() []*nn.Param { return h.Linear.Params() }

var _ nn.Module = (*OrderHead)(nil)

// Loss returns the frame-order loss: the mean cross-entropy of logits (N, K!)
// against labels, a float32 node (N) of classes (nn.CrossEntropy; make its
// value with nn.LabelTensor). The paper's loss for two views is the mean of
// the two views' losses, which equals Loss of both views' logits stacked.
func Loss(logits, labels *G.Node) (*G.Node, error) {
	l, err := nn.CrossEntropy(logits, labels)
	if err != nil {
		return nil, fmt.Errorf("pretext: order loss: %w", err)
	}
	return l, nil
}

// Accuracy returns the fraction of rows of logits (row-major, len(labels) x
// classes) whose largest logit (the first, on ties) is at the row's label.
func Accuracy(logits []float32, labels []int, classes int) (float64, error) {
	n := len(labels)
	if n == 0 || classes < 1 || len(logits) != n*classes {
		return 0, fmt.Errorf("pretext: accuracy: %d logits for %d labels of %d classes", len(logits), n, classes)
	}
	hits := 0
	for i, c := range labels {
		if c < 0 || c >= classes {
			return 0, fmt.Errorf("pretext: accuracy: label %d of row %d outside 0..%d", c, i, classes-1)
		}
		row := logits[i*classes : (i+1)*classes]
		best := 0
		for j, v := range row {
			if math.IsNaN(float64(v)) {
				return 0, fmt.Errorf("pretext: accuracy: logit %d of row %d is NaN", j, i)
			}
			if v > row[best] {
				best = j
			}
		}
		if best == c {
			hits++
		}
	}
	return float64(hits) / float64(n), nil
}
