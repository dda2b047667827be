package gpu

import (
	"context"
	"errors"
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/vidssl/vidssl/nn"
)

// MultiHead is a model with one or more outputs: a trunk (an encoder from
// clips to features, say) and heads that each map the trunk's output to an
// output of their own (a projection head, a classifier). Each part is any
// nn.Module built from nn's layers (see NewTrainer). Without heads, the
// trunk's output is the only output.
type MultiHead struct {
	Trunk nn.Module
	Heads []nn.Module
}

// params returns the Params of the trunk and the heads.
func (m MultiHead) params() []*nn.Param {
	ps := m.Trunk.Params()
	for _, h := range m.Heads {
		ps = append(ps, h.Params()...)
	}
	return ps
}

// forward adds the trunk and the heads to g and returns the outputs.
func (m MultiHead) forward(g *nn.Graph, x *G.Node) ([]*G.Node, error) {
	h, err := m.Trunk.Forward(g, x)
	if err != nil || len(m.Heads) == 0 {
		return []*G.Node{h}, err
	}
	outs := make([]*G.Node, len(m.Heads))
	for i, head := range m.Heads {
		if outs[i], err = head.Forward(g, h); err != nil {
			return nil, fmt.Errorf("head %d: %w", i+1, err)
		}
	}
	return outs, nil
}

// Outputs are one step's outputs, copied to the host after the forward
// passes, and the gradients that the caller's loss writes back. The slices
// belong to the trainer and are reused by the next step.
type Outputs struct {
	// Rows is the number of clips in each view.
	Rows int
	// Sizes holds the number of values per clip of each output.
	Sizes []int
	// Values[v][i] is output i of view v: Rows x Sizes[i] values,
	// row-major.
	Values [][][]float32
	// Grads[v][i], the size of Values[v][i], is zero when the loss is
	// called; the loss writes the gradient of the step's loss with
	// respect to Values[v][i] into it.
	Grads [][][]float32
}

// LossFunc computes a step's loss on the host from out.Values and writes
// its gradients into out.Grads. It returns an error (a NaN loss, a bad
// label) to stop the step before the backward pass.
type LossFunc func(out *Outputs) error

// ViewTrainer trains a MultiHead on an Engine with a loss that the caller
// computes on the host, as pretrain does for its self-supervised methods
// (NT-Xent of two views' projections, the frame-order cross-entropy). A
// step runs the model forward in training mode on each of one or more
// views of a batch (the views share the Params; each batch norm normalises
// a view with its own statistics and updates its running statistics once
// per view, in order), copies the outputs to the host, calls the loss,
// uploads the gradients it wrote, runs backward through every view and
// applies one optimiser update (Adam or SGD) of the summed gradients. The
// model is traced once and compiled into engine calls, as for a Trainer;
// only the outputs and their gradients (a few kilobytes for projections and
// logits) cross to the host. SyncToHost copies the model's state and the
// optimiser's back.
type ViewTrainer struct {
	*net
	views []*tapePlan
	out   Outputs
	full  [2][][][]float32 // values and gradients of n rows, by view and output
}

// NewViewTrainer prepares a training step on e for views batches (views >=
// 1) of up to batch[0] clips each of shape batch[1:] (C, T, H, W). It traces
// the model, uploads every Param it uses and opt's state when it has one
// for every parameter (for Adam all at the same step), and allocates every
// activation of every view, so that a batch that does not fit in device
// memory fails here. Every output must have the batch's rows first. opt is
// an *nn.Adam or an *nn.SGD, as for NewTrainer; its hyperparameters are
// read at every Step.
func NewViewTrainer(e *Engine, m MultiHead, batch [5]int, views int, opt nn.Optimizer) (*ViewTrainer, error) {
	if m.Trunk == nil {
		return nil, errors.New("gpu: view trainer: nil trunk")
	}
	if views < 1 {
		return nil, fmt.Errorf("gpu: view trainer: %d views, want at least one", views)
	}
	for i, h := range m.Heads {
		if h == nil {
			return nil, fmt.Errorf("gpu: view trainer: head %d is nil", i+1)
		}
	}
	tape, err := trace(m.params(), batch[:], true, m.forward)
	if err != nil {
		return nil, err
	}
	n := batch[0]
	tr := &ViewTrainer{}
	for _, o := range tape.Outputs {
		tr.out.Sizes = append(tr.out.Sizes, numel(tape.Shapes[o][1:]))
	}
	for k := range tr.full {
		tr.full[k] = make([][][]float32, views)
		for v := range views {
			for _, s := range tr.out.Sizes {
				tr.full[k][v] = append(tr.full[k][v], make([]float32, n*s))
			}
		}
	}
	tr.out.Values, tr.out.Grads = make([][][]float32, views), make([][][]float32, views)
	if tr.net, err = newState(e, tape.Params(), views, opt); err != nil {
		return nil, err
	}
	for k := range views {
		p, err := compileTape(tr.net, tr.passes[k], tape, n)
		if err == nil {
			err = p.batchNormFits()
		}
		if err != nil {
			tr.net.Close()
			return nil, err
		}
		tr.views = append(tr.views, p)
	}
	return tr, nil
}

// Step runs one training step: x[v] holds view v's m clips (NCDHW, 1 <= m
// <= n, the same m for every view), and loss computes the loss from the
// outputs. An error from loss is returned as it is, before the backward
// pass. As on the CPU, a NaN or infinite gradient is an error and changes
// no parameter (the running statistics are updated by the forward passes
// all the same).
func (tr *ViewTrainer) Step(ctx context.Context, x [][]float32, loss LossFunc) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if loss == nil {
		return errors.New("gpu: view trainer: nil loss")
	}
	if len(x) != len(tr.views) {
		return fmt.Errorf("gpu: view trainer: %d views, want %d", len(x), len(tr.views))
	}
	v0 := tr.views[0]
	clipShape, clip := v0.clip()
	m := len(x[0]) / clip
	for k, xk := range x {
		if m < 1 || m > v0.n || len(xk) != m*clip {
			return fmt.Errorf("gpu: view trainer: view %d has %d values, want m x %d values (clips of %v), 1 <= m <= %d, as view 1", k+1, len(xk), clip, clipShape, v0.n)
		}
	}
	for _, v := range tr.views {
		if err := v.bind(m); err != nil {
			return err
		}
		if err := v.batchNormFits(); err != nil {
			return err
		}
	}
	apply, err := tr.nextStep()
	if err != nil {
		return err
	}
	e, out := tr.e, &tr.out
	out.Rows = m
	for k, v := range tr.views {
		if err := e.Upload(v.input(0), x[k]); err != nil {
			return err
		}
		if err := v.forward(true); err != nil {
			return err
		}
		out.Values[k], out.Grads[k] = out.Values[k][:0], out.Grads[k][:0]
		for i, s := range out.Sizes {
			val, grad := tr.full[0][k][i][:m*s], tr.full[1][k][i][:m*s]
			if err := e.Download(val, v.output(i)); err != nil {
				return err
			}
			clear(grad)
			out.Values[k], out.Grads[k] = append(out.Values[k], val), append(out.Grads[k], grad)
		}
	}
	if err := loss(out); err != nil {
		return err
	}
	for k, v := range tr.views {
		for i, s := range out.Sizes {
			g := out.Grads[k][i]
			if len(g) != m*s {
				return fmt.Errorf("gpu: view trainer: the loss left %d gradients of view %d's output %d, want %d x %d", len(g), k+1, i+1, m, s)
			}
			if d := v.outputGrad(i); d != nil {
				if err := e.Upload(d, g); err != nil {
					return err
				}
			}
		}
		if err := v.backward(); err != nil {
			return err
		}
	}
	return tr.update(apply)
}
