package nn

import (
	"context"
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Program is a graph compiled once and run many times: a training step
// (forward, loss, backward, optimiser update) or an evaluation forward pass.
// Inputs are fed by copying into the tensors bound to their nodes, so the
// graph and machine are reused across steps.
type Program struct {
	graph  *Graph
	loss   *G.Node
	params []*Param
	grads  G.Nodes
	opt    Optimizer
	vm     G.VM
}

// Feed is a value for an input node of a Program: Data is copied into the
// node's tensor before a run and must hold exactly as many values.
type Feed struct {
	Node *G.Node
	Data []float32
}

// NewTrainer compiles a training program: every run computes loss, its
// gradients with respect to every learnable Param bound into g, and applies
// opt. loss must be a scalar node of g.
func NewTrainer(g *Graph, loss *G.Node, opt Optimizer) (*Program, error) {
	if loss == nil || !loss.IsScalar() {
		return nil, fmt.Errorf("nn: trainer: loss must be a scalar node")
	}
	if opt == nil {
		return nil, fmt.Errorf("nn: trainer: nil optimiser")
	}
	params, nodes := g.Learnables()
	if len(params) == 0 {
		return nil, fmt.Errorf("nn: trainer: the graph has no learnable parameters")
	}
	grads, err := G.Grad(loss, nodes...)
	if err != nil {
		return nil, fmt.Errorf("nn: trainer: gradients: %w", err)
	}
	return &Program{graph: g, loss: loss, params: params, grads: grads, opt: opt, vm: G.NewTapeMachine(g.Exp)}, nil
}

// NewEvaluator compiles a program that only runs g forward (and any
// gradient nodes already added to it, as Grad-CAM does).
func NewEvaluator(g *Graph) *Program {
	return &Program{graph: g, vm: G.NewTapeMachine(g.Exp)}
}

// Run copies the feeds into their nodes, runs the graph and, for a trainer,
// applies the optimiser. It returns the loss (0 for an evaluator). When the
// run or the update fails (a NaN loss, say), no parameter is changed.
//
// nn's large ops (convolution, batch norm, ReLU, Add) compute into the
// tensors they returned on the previous run, so the values of their nodes
// are valid until the next Run: copy what must outlive it.
func (p *Program) Run(ctx context.Context, feeds ...Feed) (float32, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	for _, f := range feeds {
		if err := feed(f); err != nil {
			return 0, err
		}
	}
	p.vm.Reset()
	if err := p.vm.RunAll(); err != nil {
		return 0, fmt.Errorf("nn: run: %w", err)
	}
	if p.loss == nil {
		return 0, nil
	}
	loss, err := ScalarValue(p.loss.Value())
	if err != nil {
		return 0, err
	}
	if err := p.opt.Step(p.params, GradValues(p.grads)); err != nil {
		return loss, err
	}
	return loss, nil
}

// Params returns the learnable Params a trainer updates, in the order of Grads.
func (p *Program) Params() []*Param { return p.params }

// Grads returns a trainer's gradient nodes; their values hold the last run's
// gradients.
func (p *Program) Grads() G.Nodes { return p.grads }

// Close releases the machine.
func (p *Program) Close() error { return p.vm.Close() }

func feed(f Feed) error {
	if f.Node == nil {
		return fmt.Errorf("nn: feed: nil node")
	}
	v := f.Node.Value()
	if v == nil {
		return fmt.Errorf("nn: feed %q: the node has no tensor; make inputs with Graph.Input", f.Node.Name())
	}
	t, ok := v.(*tensor.Dense)
	if !ok {
		return fmt.Errorf("nn: feed %q: the node holds %T, want a float32 tensor", f.Node.Name(), v)
	}
	d, ok := t.Data().([]float32)
	if !ok {
		return fmt.Errorf("nn: feed %q: the node holds %v values, want float32", f.Node.Name(), t.Dtype())
	}
	if len(d) != len(f.Data) {
		return fmt.Errorf("nn: feed %q: %d values for shape %v (%d values)", f.Node.Name(), len(f.Data), t.Shape(), len(d))
	}
	copy(d, f.Data)
	return nil
}
