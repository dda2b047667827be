package gpu

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/nn"
)

// Trainer is a binary classifier's training step on an Engine: forward in
// training mode, BCEWithLogits with pos_weight on the single logit per
// clip, backward and an optimiser step (nn.Adam's or nn.SGD's). The model is any nn.Module built from nn's
// layers (resnet3d's R3D, MC3 and R(2+1)D, or a model of the caller's): it
// runs on the engine as a one-view ViewTrainer, and the loss (nn's
// BCEWithLogitsGrad, after dropout when SetLogitDropout asks for it) is
// computed on the host from the step's logits, one value per clip. The
// model's parameters, batch-norm buffers and optimiser state (Adam's
// moments, SGD's momentum buffers) live on the engine between steps;
// SyncToHost copies them back into the model's Params and the optimiser, so
// that checkpoints and CPU evaluation see the trained state.
type Trainer struct {
	*net
	vt        *ViewTrainer
	posWeight float32
	loss      func(*Outputs) error // tr.bce
	y         []float32            // the step's targets
	last      float64              // the step's loss

	// Dropout on the logit (SetLogitDropout).
	dropP   float64
	dropRng *rand.Rand
	mask    []float32
}

// NewTrainer prepares a binary-classification training step on e for
// batches of up to batch[0] clips of shape batch[1:] (C, T, H, W), as
// resnet3d.NewClassifierTrainer does on the CPU: m must map such a batch to
// one logit per clip (N, 1), through nn's layers only (Conv3d without bias,
// BatchNorm3d, ReLU, Add, pooling, Flatten, Linear). It traces m, uploads
// the Params the model uses and opt's state when it has one for every
// parameter (for Adam all at the same step), and allocates every
// activation, so that a batch that does not fit in device memory fails
// here. opt is an *nn.Adam or an *nn.SGD, whose update the engine applies
// exactly as the optimiser does on the CPU (Engine.Adam, Engine.SGD); its
// hyperparameters are read at every Step, so a learning-rate schedule may
// change them.
func NewTrainer(e *Engine, m nn.Module, batch [5]int, posWeight float32, opt nn.Optimizer) (*Trainer, error) {
	if pw := float64(posWeight); math.IsNaN(pw) || math.IsInf(pw, 0) || pw < 0 {
		return nil, fmt.Errorf("gpu: trainer: pos_weight %v: want a finite value >= 0", posWeight)
	}
	if m == nil {
		return nil, fmt.Errorf("gpu: trainer: nil model")
	}
	vt, err := NewViewTrainer(e, MultiHead{Trunk: m}, batch, 1, opt)
	if err != nil {
		return nil, err
	}
	t := vt.views[0].tape
	if s := t.Shapes[t.Outputs[0]]; len(s) != 2 || s[1] != 1 {
		vt.Close()
		return nil, fmt.Errorf("gpu: trainer: the model's output is %v, want (%d, 1): one logit per clip", s, batch[0])
	}
	tr := &Trainer{net: vt.net, vt: vt, posWeight: posWeight}
	tr.loss = tr.bce
	return tr, nil
}

// traceModule builds m's training (or evaluation) graph for an input of
// the given shape and traces it (without allocating the input), checking
// that every Param the graph uses is one of m.Params().
func traceModule(m nn.Module, shape []int, training bool) (*nn.Tape, error) {
	if m == nil {
		return nil, fmt.Errorf("gpu: trainer: nil model")
	}
	return trace(m.Params(), shape, training, func(g *nn.Graph, x *G.Node) ([]*G.Node, error) {
		out, err := m.Forward(g, x)
		return []*G.Node{out}, err
	})
}

// trace builds a training (or evaluation) graph with forward for an input
// of the given shape and traces it from the input to forward's outputs,
// checking that every Param the graph uses is in params.
func trace(params []*nn.Param, shape []int, training bool, forward func(*nn.Graph, *G.Node) ([]*G.Node, error)) (*nn.Tape, error) {
	if err := checkShape(shape); err != nil {
		return nil, fmt.Errorf("gpu: trainer: batch: %w", err)
	}
	// The graph is traced, never run: its random source only lets a
	// Dropout layer be built, so that the trace can name it (an
	// evaluation graph has no Dropout op).
	g := nn.NewGraph(training, rand.New(rand.NewPCG(0, 0)))
	x := G.NewTensor(g.Exp, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName("x"))
	outs, err := forward(g, x)
	if err != nil {
		return nil, fmt.Errorf("gpu: trainer: %w", err)
	}
	tape, err := g.Trace([]*G.Node{x}, outs...)
	if err != nil {
		return nil, fmt.Errorf("gpu: trainer: %w", err)
	}
	own := map[*nn.Param]bool{}
	for _, p := range params {
		own[p] = true
	}
	for _, p := range tape.Params() {
		if !own[p] {
			return nil, fmt.Errorf("gpu: trainer: the model's graph uses %q, which is not among its Params", p.Name)
		}
	}
	return tape, nil
}

// SetLogitDropout makes every following Step drop the logit of each clip
// with probability p (scaling the others by 1/(1-p)) before the loss, as
// nn.Dropout on the CPU, with masks drawn from rng by nn.DropoutMask: with
// an rng seeded like the CPU graph's Rand, the GPU drops the same clips.
// p = 0 turns dropout off.
func (tr *Trainer) SetLogitDropout(p float64, rng *rand.Rand) error {
	if !(p >= 0 && p < 1) {
		return fmt.Errorf("gpu: trainer: logit dropout %v, want [0, 1)", p)
	}
	if p > 0 && rng == nil {
		return fmt.Errorf("gpu: trainer: logit dropout %v without a random source", p)
	}
	tr.dropP, tr.dropRng = p, rng
	return nil
}

// bce is the step's loss: BCEWithLogits of the logits, after dropout,
// against the targets, with its gradient masked like the logits.
func (tr *Trainer) bce(o *Outputs) error {
	z, dz := o.Values[0][0], o.Grads[0][0]
	if tr.dropP > 0 {
		tr.mask = growTo(tr.mask, len(z))
		nn.DropoutMask(tr.dropRng, tr.dropP, tr.mask)
		for i := range z {
			z[i] *= tr.mask[i]
		}
	}
	loss, err := nn.BCEWithLogitsGrad(z, tr.y, tr.posWeight, 1, dz)
	if err != nil {
		return fmt.Errorf("gpu: trainer: %w; no parameter was updated", err)
	}
	if tr.dropP > 0 {
		for i := range dz {
			dz[i] *= tr.mask[i]
		}
	}
	tr.last = loss
	return nil
}

// Step runs one training step on a batch: x holds m <= n clips (m,
// InChannels, t, h, w) in NCDHW order and y their m 0/1 (or soft) targets.
// It returns the loss. As on the CPU, a NaN or infinite loss or gradient is
// an error and leaves the parameters unchanged (the batch-norm running
// statistics are updated by the forward pass all the same).
func (tr *Trainer) Step(ctx context.Context, x, y []float32) (float32, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	p := tr.vt.views[0]
	clipShape, clip := p.clip()
	if m := len(y); m < 1 || m > p.n || len(x) != m*clip {
		return 0, fmt.Errorf("gpu: trainer: batch of %d values and %d targets, want m x %d values (clips of %v) and m targets, 1 <= m <= %d", len(x), len(y), clip, clipShape, p.n)
	}
	tr.y, tr.last = y, 0
	err := tr.vt.Step(ctx, [][]float32{x}, tr.loss)
	return float32(tr.last), err
}

// Predict runs the model in evaluation mode (batch norm with the running
// statistics, no dropout) on the device's current weights and writes the
// logit of each clip of x into logits: x holds len(logits) clips, any
// number, which go through the network up to n at a time. It changes no
// weight or statistic.
func (tr *Trainer) Predict(ctx context.Context, x, logits []float32) error {
	return predict(ctx, tr.e, tr.vt.views[0], x, logits)
}
