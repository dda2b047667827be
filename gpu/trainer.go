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
// clip, backward and Adam, all on the engine. The model is any nn.Module
// built from nn's layers (resnet3d's R3D, MC3 and R(2+1)D, or a model of
// the caller's): its graph is traced once (nn.Graph.Trace) and compiled
// into engine calls, so the engine knows no model. The model's parameters,
// batch-norm buffers and Adam moments live on the engine between steps;
// SyncToHost copies them back into the model's Params and the nn.Adam, so
// that checkpoints and CPU evaluation see the trained state.
type Trainer struct {
	*net
	plan      *tapePlan
	pass      *pass
	posWeight float32

	// The head's tensors, one row per clip.
	y, dropped rows

	// Dropout on the logit (SetLogitDropout).
	dropP         float64
	dropRng       *rand.Rand
	mask, hostBuf []float32
}

// NewTrainer prepares a binary-classification training step on e for
// batches of up to batch[0] clips of shape batch[1:] (C, T, H, W), as
// resnet3d.NewClassifierTrainer does on the CPU: m must map such a batch to
// one logit per clip (N, 1), through nn's layers only (Conv3d without bias,
// BatchNorm3d, ReLU, Add, pooling, Flatten, Linear). It traces m, uploads
// the Params the model uses and opt's state when it has one for every
// parameter (all at the same step), and allocates every activation, so
// that a batch that does not fit in device memory fails here. opt's
// hyperparameters are read at every Step, so a learning-rate schedule may
// change them.
func NewTrainer(e *Engine, m nn.Module, batch [5]int, posWeight float32, opt *nn.Adam) (*Trainer, error) {
	if pw := float64(posWeight); math.IsNaN(pw) || math.IsInf(pw, 0) || pw < 0 {
		return nil, fmt.Errorf("gpu: trainer: pos_weight %v: want a finite value >= 0", posWeight)
	}
	tape, err := traceModule(m, batch[:], true)
	if err != nil {
		return nil, err
	}
	n := batch[0]
	if s := tape.Shapes[tape.Outputs[0]]; len(s) != 2 || s[1] != 1 {
		return nil, fmt.Errorf("gpu: trainer: the model's output is %v, want (%d, 1): one logit per clip", s, n)
	}
	nt, err := newState(e, tape.Params(), 1, opt)
	if err != nil {
		return nil, err
	}
	tr := &Trainer{net: nt, pass: nt.passes[0], posWeight: posWeight}
	if tr.plan, err = compileTape(nt, tr.pass, tape, n); err == nil {
		err = tr.plan.batchNormFits()
	}
	for _, r := range []*rows{&tr.y, &tr.dropped} {
		if err == nil {
			r.full, err = nt.alloc(n, 1)
		}
	}
	if err == nil {
		err = tr.bind(n)
	}
	if err != nil {
		nt.Close()
		return nil, err
	}
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

// bind sizes the model's and the head's tensors for m clips.
func (tr *Trainer) bind(m int) error {
	if err := tr.plan.bind(m); err != nil {
		return err
	}
	for _, r := range []*rows{&tr.y, &tr.dropped} {
		if err := r.bind(m); err != nil {
			return err
		}
	}
	return nil
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

// droppedBCE is BCEWithLogits on the logits after dropout: the m logits
// come to the host, are masked and go back, and the loss's gradient is
// masked on the way back (m values each way; the step waits for the loss
// anyway).
func (tr *Trainer) droppedBCE() (float32, error) {
	e, m := tr.e, tr.plan.bound
	logits, dlogits := tr.plan.output(0), tr.plan.outputGrad(0)
	tr.mask, tr.hostBuf = growTo(tr.mask, m), growTo(tr.hostBuf, m)
	z := tr.hostBuf
	if err := e.Download(z, logits); err != nil {
		return 0, err
	}
	nn.DropoutMask(tr.dropRng, tr.dropP, tr.mask)
	for i := range z {
		z[i] *= tr.mask[i]
	}
	if err := e.Upload(tr.dropped.cur, z); err != nil {
		return 0, err
	}
	loss, err := e.BCEWithLogits(tr.dropped.cur, tr.y.cur, dlogits, tr.posWeight)
	if err != nil {
		return loss, err
	}
	if err := e.Download(z, dlogits); err != nil {
		return loss, err
	}
	for i := range z {
		z[i] *= tr.mask[i]
	}
	return loss, e.Upload(dlogits, z)
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
	clipShape, clip := tr.plan.clip()
	if m := len(y); m < 1 || m > tr.plan.n || len(x) != m*clip {
		return 0, fmt.Errorf("gpu: trainer: batch of %d values and %d targets, want m x %d values (clips of %v) and m targets, 1 <= m <= %d", len(x), len(y), clip, clipShape, tr.plan.n)
	}
	if err := tr.bind(len(y)); err != nil {
		return 0, err
	}
	if err := tr.plan.batchNormFits(); err != nil {
		return 0, err
	}
	step, err := tr.nextAdamStep()
	if err != nil {
		return 0, err
	}
	e, p := tr.e, tr.plan
	if err := e.Upload(p.input(0), x); err != nil {
		return 0, err
	}
	if err := e.Upload(tr.y.cur, y); err != nil {
		return 0, err
	}
	if err := p.forward(true); err != nil {
		return 0, err
	}
	var loss float32
	if tr.dropP > 0 {
		loss, err = tr.droppedBCE()
	} else {
		loss, err = e.BCEWithLogits(p.output(0), tr.y.cur, p.outputGrad(0), tr.posWeight)
	}
	if err != nil {
		return loss, err
	}
	if err := p.backward(); err != nil {
		return loss, err
	}
	return loss, tr.update(step)
}

// Predict runs the model in evaluation mode (batch norm with the running
// statistics, no dropout) on the device's current weights and writes the
// logit of each clip of x into logits: x holds len(logits) clips, any
// number, which go through the network up to n at a time. It changes no
// weight or statistic.
func (tr *Trainer) Predict(ctx context.Context, x, logits []float32) error {
	return predict(ctx, tr.e, tr.plan, x, logits)
}
