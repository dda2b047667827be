package nn

import (
	"fmt"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Param is a named tensor of a model's state: a learnable parameter or a buffer
// (running statistics, counters) that the optimiser leaves alone.
type Param struct {
	// Name is the torchvision-style state_dict name, e.g. "stem.0.weight".
	Name string
	// Value holds the data: a float32 *tensor.Dense of the parameter's shape.
	Value *tensor.Dense
	// Buffer is true for state that is not trained by gradient descent.
	Buffer bool
}

// NewParam returns a zero-filled float32 parameter of the given shape.
func NewParam(name string, shape ...int) *Param {
	return &Param{Name: name, Value: tensor.New(tensor.WithShape(shape...), tensor.Of(tensor.Float32))}
}

// NewBuffer returns a zero-filled float32 buffer of the given shape.
func NewBuffer(name string, shape ...int) *Param {
	p := NewParam(name, shape...)
	p.Buffer = true
	return p
}

// Data returns the parameter's values as a flat slice (not a copy).
func (p *Param) Data() []float32 { return p.Value.Data().([]float32) }

// Shape returns the parameter's shape.
func (p *Param) Shape() []int { return p.Value.Shape().Clone() }

// Module is a layer or a model: it adds its computation on x to x's graph.
type Module interface {
	// Forward returns the node computing the module's output for input x,
	// which must belong to g.
	Forward(g *Graph, x *G.Node) (*G.Node, error)
	// Params returns the module's parameters and buffers, in a fixed order,
	// under their full state_dict names.
	Params() []*Param
}

// Graph is a gorgonia expression graph under construction together with the
// mode it computes in and the Params bound into it.
type Graph struct {
	// Exp is the underlying gorgonia graph.
	Exp *G.ExprGraph
	// Training selects training mode: batch statistics in batch norm (and
	// running-statistics updates), active dropout.
	Training bool
	// Rand drives dropout masks. It must be set when a training graph has
	// dropout layers.
	Rand *rand.Rand

	nodes  map[*Param]*G.Node
	params []*Param
}

// NewGraph returns an empty graph in training or evaluation mode.
func NewGraph(training bool, rng *rand.Rand) *Graph {
	return &Graph{Exp: G.NewGraph(), Training: training, Rand: rng, nodes: map[*Param]*G.Node{}}
}

// Bind returns p's node in g, creating it on first use. The node shares p's
// tensor, so changes to p.Value are seen by the graph and vice versa.
func (g *Graph) Bind(p *Param) *G.Node {
	if n, ok := g.nodes[p]; ok {
		return n
	}
	s := p.Value.Shape()
	n := G.NewTensor(g.Exp, tensor.Float32, s.Dims(), G.WithShape(s.Clone()...), G.WithName(p.Name), G.WithValue(p.Value))
	g.nodes[p] = n
	g.params = append(g.params, p)
	return n
}

// Learnables returns the non-buffer Params bound into g, in binding order,
// with their nodes: the arguments for gorgonia.Grad.
func (g *Graph) Learnables() ([]*Param, G.Nodes) {
	var ps []*Param
	var ns G.Nodes
	for _, p := range g.params {
		if !p.Buffer {
			ps = append(ps, p)
			ns = append(ns, g.nodes[p])
		}
	}
	return ps, ns
}

// Input adds a float32 input node of the given shape and name to g, bound to
// a zeroed tensor that a Program's Feed (or the caller) fills before each run.
func (g *Graph) Input(name string, shape ...int) *G.Node {
	v := tensor.New(tensor.WithShape(shape...), tensor.Of(tensor.Float32))
	return G.NewTensor(g.Exp, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(v))
}

// StateDict maps each Param of m by name, checking that names are unique.
func StateDict(m Module) (map[string]*Param, error) {
	out := map[string]*Param{}
	for _, p := range m.Params() {
		if _, dup := out[p.Name]; dup {
			return nil, fmt.Errorf("nn: state dict: duplicate name %q", p.Name)
		}
		out[p.Name] = p
	}
	return out, nil
}

// OutputShape returns the shape of m's output for an input of the given
// shape, from m's evaluation graph built but never run: the input node has
// no value, so nothing of the input's size is allocated. A model that does
// not take such an input is an error here, from its layers' own checks,
// rather than in a running graph (whose goroutines cannot recover a panic).
func OutputShape(m Module, shape ...int) ([]int, error) {
	if m == nil {
		return nil, fmt.Errorf("nn: output shape: nil module")
	}
	if len(shape) == 0 {
		return nil, fmt.Errorf("nn: output shape: no input dimensions")
	}
	for i, d := range shape {
		if d < 1 {
			return nil, fmt.Errorf("nn: output shape for an input of %v: dimension %d is %d, want positive", shape, i, d)
		}
	}
	g := NewGraph(false, nil)
	x := G.NewTensor(g.Exp, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName("x"))
	out, err := m.Forward(g, x)
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, fmt.Errorf("nn: output shape for an input of %v: the module returned no node", shape)
	}
	return shapeOf(out), nil
}

// shapeOf returns the shape of a node as a plain slice, for error messages.
func shapeOf(n *G.Node) []int { return []int(n.Shape().Clone()) }
