package nn

import (
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"
)

// TapeKind is the kind of a [TapeOp].
type TapeKind int

const (
	// TapeConv3d is Conv3d: In[0] is x; Weight (and Bias, nil without one)
	// are its Params; Stride and Padding its attributes.
	TapeConv3d TapeKind = iota + 1
	// TapeBatchNorm3d is BatchNorm3d (followed by ReLU when ReLU is set):
	// In[0] is x; Weight and Bias are gamma and beta; BatchNorm is the layer
	// whose running statistics, Eps and Momentum it uses.
	TapeBatchNorm3d
	// TapeReLU is ReLU of In[0].
	TapeReLU
	// TapeAdd is In[0] + In[1] (followed by ReLU when ReLU is set).
	TapeAdd
	// TapeMaxPool3d is MaxPool3d of In[0] with Kernel, Stride and Padding.
	TapeMaxPool3d
	// TapeAvgPool3d is AvgPool3d of In[0] with Kernel, Stride and Padding.
	TapeAvgPool3d
	// TapeGlobalAvgPool3d is GlobalAvgPool3d of In[0]: (N, C, 1, 1, 1).
	TapeGlobalAvgPool3d
	// TapeReshape is Reshape (or Flatten) of In[0] to the shape of Out: the
	// same values in the same order.
	TapeReshape
	// TapeLinear is Linear: In[0] is x (N, in); Weight (out, in) and Bias
	// (out; nil without one) are its Params.
	TapeLinear
)

var tapeKindNames = [...]string{"", "Conv3d", "BatchNorm3d", "ReLU", "Add", "MaxPool3d", "AvgPool3d", "GlobalAvgPool3d", "Reshape", "Linear"}

// String returns the name of the op kind, e.g. "Conv3d".
func (k TapeKind) String() string {
	if k > 0 && int(k) < len(tapeKindNames) {
		return tapeKindNames[k]
	}
	return fmt.Sprintf("TapeKind(%d)", int(k))
}

// TapeOp is one op of a [Tape]: what it computes, from which values into
// which value, with which Params and attributes. Fields that do not apply
// to its Kind are zero.
type TapeOp struct {
	// Kind is what the op computes.
	Kind TapeKind
	// Name is the layer's name (e.g. "layer1.0.conv1.0"; the weight's name
	// for Linear, the node's for unnamed ops), for errors.
	Name string
	// In are the ids of the op's data inputs (values of the Tape), Out the
	// id of its output.
	In  []int
	Out int
	// Weight and Bias are the Params of Conv3d, Linear and BatchNorm3d
	// (gamma and beta); Bias is nil for a layer without one.
	Weight, Bias *Param
	// BatchNorm is the layer of a TapeBatchNorm3d: its running statistics,
	// NumBatchesTracked, Eps and Momentum.
	BatchNorm *BatchNorm3dLayer
	// ReLU is set when a ReLU is fused into a BatchNorm3d or Add.
	ReLU bool
	// Kernel is a pooling window; Stride and Padding are a convolution's or
	// a pooling window's, per dimension (T, H, W), with zero strides
	// resolved.
	Kernel, Stride, Padding [3]int
	// NoInputGrad is set for a convolution whose input gradient nobody
	// needs (Conv3dLayer.NoInputGrad).
	NoInputGrad bool
}

// Tape is a model's forward computation as a flat list of ops over
// numbered values, in an order in which every op's inputs are computed
// before it: what an engine other than gorgonia's (the gpu package's
// executor, say) needs to run the model forward and backward with its own
// kernels. Values are numbered from 0; Shapes[v] is value v's shape.
// Inputs are the ids of the graph inputs Trace was given, Outputs those of
// the requested outputs, in the same order. A tape records no mode: the
// engine that runs it chooses training (batch statistics) or evaluation
// (running statistics) for its batch norms.
type Tape struct {
	// Ops are the ops in execution order.
	Ops []TapeOp
	// Shapes are the values' shapes, by id.
	Shapes [][]int
	// Inputs and Outputs are value ids.
	Inputs, Outputs []int
}

// Params returns every Param the tape uses, learnable ones and batch-norm
// buffers (running_mean, running_var, num_batches_tracked), each once, in
// order of first use.
func (t *Tape) Params() []*Param {
	var out []*Param
	seen := map[*Param]bool{}
	add := func(ps ...*Param) {
		for _, p := range ps {
			if p != nil && !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	for _, op := range t.Ops {
		add(op.Weight, op.Bias)
		if l := op.BatchNorm; l != nil {
			add(l.RunningMean, l.RunningVar, l.NumBatchesTracked)
		}
	}
	return out
}

// Trace returns the tape of the computation of outputs from inputs in g:
// every op between them, which must be one of nn's layers listed by
// [TapeKind], over inputs, Params bound into g (Graph.Bind) and values
// computed from them. Gradient nodes already in g are ignored. An op of
// another kind (a gorgonia arithmetic op, Dropout, a loss) or a leaf node
// that is neither an input nor a bound Param is an error naming it.
func (g *Graph) Trace(inputs []*G.Node, outputs ...*G.Node) (*Tape, error) {
	if len(outputs) == 0 {
		return nil, fmt.Errorf("nn: trace: no outputs")
	}
	byNode := make(map[*G.Node]*Param, len(g.nodes))
	for p, n := range g.nodes {
		byNode[n] = p
	}
	t := &Tape{}
	ids := map[*G.Node]int{}
	newValue := func(n *G.Node) int {
		id := len(t.Shapes)
		ids[n] = id
		t.Shapes = append(t.Shapes, []int(n.Shape().Clone()))
		return id
	}
	for i, n := range inputs {
		if n == nil || n.Graph() != g.Exp {
			return nil, fmt.Errorf("nn: trace: input %d is nil or not a node of the graph", i)
		}
		if _, dup := ids[n]; dup {
			return nil, fmt.Errorf("nn: trace: input %q given twice", n.Name())
		}
		if _, isParam := byNode[n]; isParam {
			return nil, fmt.Errorf("nn: trace: input %q is a Param", n.Name())
		}
		t.Inputs = append(t.Inputs, newValue(n))
	}
	// Depth-first, children before parents; onPath catches cycles, which
	// a gorgonia graph cannot have, cheaply.
	var visit func(n *G.Node) error
	visit = func(n *G.Node) error {
		if _, done := ids[n]; done {
			return nil
		}
		if _, isParam := byNode[n]; isParam {
			return fmt.Errorf("nn: trace: Param %q is used as a data input", n.Name())
		}
		if n.Op() == nil {
			return fmt.Errorf("nn: trace: node %q is neither an input nor a bound Param", n.Name())
		}
		var kids []*G.Node
		it := g.Exp.From(n.ID())
		for it.Next() {
			kids = append(kids, it.Node().(*G.Node))
		}
		op, data, err := tapeOp(n, kids, byNode)
		if err != nil {
			return err
		}
		for _, k := range data {
			if err := visit(k); err != nil {
				return err
			}
			op.In = append(op.In, ids[k])
		}
		op.Out = newValue(n)
		t.Ops = append(t.Ops, op)
		return nil
	}
	for i, n := range outputs {
		if n == nil || n.Graph() != g.Exp {
			return nil, fmt.Errorf("nn: trace: output %d is nil or not a node of the graph", i)
		}
		if err := visit(n); err != nil {
			return nil, err
		}
		t.Outputs = append(t.Outputs, ids[n])
	}
	return t, nil
}

// tapeOp describes node n, an application of one of nn's ops to kids, and
// returns its data inputs (the kids that are not Params).
func tapeOp(n *G.Node, kids []*G.Node, byNode map[*G.Node]*Param) (TapeOp, []*G.Node, error) {
	param := func(i int, what string) (*Param, error) {
		if i >= len(kids) {
			return nil, fmt.Errorf("nn: trace: %v has no %s", n.Op(), what)
		}
		p, ok := byNode[kids[i]]
		if !ok {
			return nil, fmt.Errorf("nn: trace: the %s of %v is node %q, not a bound Param", what, n.Op(), kids[i].Name())
		}
		return p, nil
	}
	var op TapeOp
	var err error
	nData := 1
	switch o := n.Op().(type) {
	case *conv3dOp:
		op = TapeOp{Kind: TapeConv3d, Name: o.name, NoInputGrad: o.noInputGrad,
			Stride: o.geo.Stride(), Padding: o.geo.Pad()}
		if op.Weight, err = param(1, "weight"); err == nil && o.bias {
			op.Bias, err = param(2, "bias")
		}
	case *bnOp:
		op = TapeOp{Kind: TapeBatchNorm3d, Name: o.cfg.layer.Name, BatchNorm: o.cfg.layer, ReLU: o.cfg.relu}
		if op.Weight, err = param(1, "weight"); err == nil {
			op.Bias, err = param(2, "bias")
		}
	case *reluOp:
		op = TapeOp{Kind: TapeReLU, Name: o.name}
	case *addOp:
		op, nData = TapeOp{Kind: TapeAdd, Name: o.name, ReLU: o.relu}, 2
	case *maxPool3dOp:
		op = poolTapeOp(TapeMaxPool3d, o.name, o.geo)
	case *avgPool3dOp:
		op = poolTapeOp(TapeAvgPool3d, o.name, o.geo)
	case *globalAvgPool3dOp:
		op = TapeOp{Kind: TapeGlobalAvgPool3d, Name: o.name}
	case *reshapeOp:
		op = TapeOp{Kind: TapeReshape, Name: o.name}
	case *linearOp:
		op = TapeOp{Kind: TapeLinear, Name: o.name}
		if op.Weight, err = param(1, "weight"); err == nil && o.bias {
			op.Bias, err = param(2, "bias")
		}
	default:
		return TapeOp{}, nil, fmt.Errorf("nn: trace: node %q computes %v, which has no tape form (only nn's layers do)", n.Name(), n.Op())
	}
	if err != nil {
		return TapeOp{}, nil, err
	}
	if op.Name == "" && op.Weight != nil {
		op.Name = op.Weight.Name
	} else if op.Name == "" {
		op.Name = n.Name()
	}
	if len(kids) < nData {
		return TapeOp{}, nil, fmt.Errorf("nn: trace: %v has %d inputs, want at least %d", n.Op(), len(kids), nData)
	}
	return op, slices.Clone(kids[:nData]), nil
}

func poolTapeOp(k TapeKind, name string, g poolGeom) TapeOp {
	return TapeOp{Kind: k, Name: name, Kernel: g.Kernel(), Stride: g.Stride(), Padding: g.Pad()}
}
