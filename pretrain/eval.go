package pretrain

import (
	"context"
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/vidssl/vidssl/nn"
)

// Evaluator runs a model forward in evaluation mode (batch norm with its
// running statistics, no updates) on batches of one shape: the frozen
// features h of a pretrained encoder and, with an order head, its frame-order
// logits.
type Evaluator struct {
	shape    [5]int
	prog     *nn.Program
	x        *G.Node
	features *G.Node
	order    *G.Node
}

// NewEvaluator builds the evaluation graph of m for batches of shape (N, C,
// T, H, W).
func NewEvaluator(m *Model, shape [5]int) (*Evaluator, error) {
	if m == nil || m.Encoder == nil {
		return nil, fmt.Errorf("pretrain: evaluator: no model")
	}
	if err := checkEncoder(m.Encoder, shape); err != nil {
		return nil, fmt.Errorf("pretrain: evaluator: %w", err)
	}
	g := nn.NewGraph(false, nil)
	e := &Evaluator{shape: shape, x: g.Input("clips", shape[:]...)}
	var err error
	if e.features, err = m.Encoder.Forward(g, e.x); err != nil {
		return nil, fmt.Errorf("pretrain: evaluator: %w", err)
	}
	if m.Order != nil {
		if e.order, err = m.Order.Forward(g, e.features); err != nil {
			return nil, fmt.Errorf("pretrain: evaluator: %w", err)
		}
	}
	e.prog = nn.NewEvaluator(g)
	return e, nil
}

// Shape returns the batch shape the evaluator takes.
func (e *Evaluator) Shape() [5]int { return e.shape }

// Run returns copies of the features (N x F, row-major) and, when the model
// has an order head, the order logits (N x K!; nil otherwise) for data, a
// batch of the evaluator's shape (such as video.Batch.Data).
func (e *Evaluator) Run(ctx context.Context, data []float32) (features, order []float32, err error) {
	if _, err := e.prog.Run(ctx, nn.Feed{Node: e.x, Data: data}); err != nil {
		return nil, nil, fmt.Errorf("pretrain: evaluator: %w", err)
	}
	features = append([]float32(nil), e.features.Value().Data().([]float32)...)
	if e.order != nil {
		order = append([]float32(nil), e.order.Value().Data().([]float32)...)
	}
	return features, order, nil
}

// Close releases the evaluator's machine.
func (e *Evaluator) Close() error { return e.prog.Close() }
