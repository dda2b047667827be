package nn

import (
	"fmt"
	"hash"
	"math/rand/v2"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/blas"
)

// Linear returns x W^T + b for x of shape (N, in), weight of shape (out, in)
// and bias of shape (out), as torch.nn.functional.linear. bias may be nil for
// a layer without bias. The products run through the process-wide BLAS
// (internal/blas).
func Linear(x, weight, bias *G.Node) (*G.Node, error) {
	sx, sw := shapeOf(x), shapeOf(weight)
	if len(sx) != 2 || len(sw) != 2 || sx[1] != sw[1] {
		return nil, fmt.Errorf("nn: Linear: input %v and weight %v do not match: want (N, in) and (out, in)", sx, sw)
	}
	op := &linearOp{in: sw[1], out: sw[0], bias: bias != nil}
	args := []*G.Node{x, weight}
	if bias != nil {
		if sb := shapeOf(bias); len(sb) != 1 || sb[0] != sw[0] {
			return nil, fmt.Errorf("nn: Linear: bias %v does not match weight %v: want (%d)", sb, sw, sw[0])
		}
		args = append(args, bias)
	}
	n, err := G.ApplyOp(op, args...)
	if err != nil {
		return nil, fmt.Errorf("nn: Linear of %v by %v: %w", sx, sw, err)
	}
	return n, nil
}

// LinearLayer is a fully connected layer, torch.nn.Linear: y = x W^T + b.
type LinearLayer struct {
	// Name prefixes the parameter names ("fc" gives "fc.weight", "fc.bias").
	Name string
	// Weight has shape (out, in).
	Weight *Param
	// Bias has shape (out); nil for a layer without bias.
	Bias *Param
}

// NewLinearLayer returns a Linear layer from in to out features, initialised as
// PyTorch does by default (see [DefaultUniform]) with draws from rng. bias
// selects whether the layer has a bias.
func NewLinearLayer(name string, in, out int, bias bool, rng *rand.Rand) *LinearLayer {
	l := &LinearLayer{Name: name, Weight: NewParam(name+".weight", out, in)}
	if bias {
		l.Bias = NewParam(name+".bias", out)
	}
	DefaultUniform(l.Weight, l.Bias, rng)
	return l
}

// Forward applies the layer to x of shape (N, in).
func (l *LinearLayer) Forward(g *Graph, x *G.Node) (*G.Node, error) {
	w := g.Bind(l.Weight)
	var b *G.Node
	if l.Bias != nil {
		b = g.Bind(l.Bias)
	}
	y, err := Linear(x, w, b)
	if err != nil {
		return nil, fmt.Errorf("%w (layer %s)", err, l.Name)
	}
	return y, nil
}

// Params returns the weight and, when present, the bias.
func (l *LinearLayer) Params() []*Param {
	if l.Bias == nil {
		return []*Param{l.Weight}
	}
	return []*Param{l.Weight, l.Bias}
}

// linearOp computes x W^T (+ b).
type linearOp struct {
	opBase
	in, out int
	bias    bool
}

func (op *linearOp) Arity() int {
	if op.bias {
		return 3
	}
	return 2
}
func (op *linearOp) Type() hm.Type {
	if op.bias {
		return fnType(3, []int{2, 2, 1}, 2)
	}
	return fnType(2, []int{2, 2}, 2)
}
func (op *linearOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok || len(s) != 2 {
		return nil, fmt.Errorf("nn: Linear: input shape %v, want (N, %d)", in[0], op.in)
	}
	return tensor.Shape{s[0], op.out}, nil
}
func (op *linearOp) String() string {
	return fmt.Sprintf("Linear(%d->%d, bias=%t)", op.in, op.out, op.bias)
}
func (op *linearOp) Hashcode() uint32      { return hashOf(op) }
func (op *linearOp) WriteHash(h hash.Hash) { writeHash(h, op) }

func (op *linearOp) Do(vals ...G.Value) (G.Value, error) {
	if err := checkArity("Linear", op.Arity(), len(vals)); err != nil {
		return nil, err
	}
	x, sx, err := float32s("Linear", vals[0])
	if err != nil {
		return nil, err
	}
	w, sw, err := float32s("Linear", vals[1])
	if err != nil {
		return nil, err
	}
	if len(sx) != 2 || sx[1] != op.in || !sameShape(sw, tensor.Shape{op.out, op.in}) {
		return nil, fmt.Errorf("nn: Linear: input %v and weight %v, want (N, %d) and (%d, %d)", []int(sx), []int(sw), op.in, op.out, op.in)
	}
	n := sx[0]
	out := newFloat32(n, op.out)
	y := out.Data().([]float32)
	if op.bias {
		b, sb, err := float32s("Linear", vals[2])
		if err != nil {
			return nil, err
		}
		if len(b) != op.out {
			return nil, fmt.Errorf("nn: Linear: bias %v, want (%d)", []int(sb), op.out)
		}
		for i := 0; i < n; i++ {
			copy(y[i*op.out:(i+1)*op.out], b)
		}
	}
	beta := float32(0)
	if op.bias {
		beta = 1
	}
	blas.MustDefault().Sgemm(false, true, n, op.out, op.in, 1, x, op.in, w, op.in, beta, y, op.out)
	return out, nil
}

func (op *linearOp) DiffWRT(inputs int) []bool {
	d := make([]bool, inputs)
	for i := range d {
		d[i] = true
	}
	return d
}

func (op *linearOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	x, w := inputs[0], inputs[1]
	dx, err := G.ApplyOp(&linearGradOp{linearOp: *op, wrt: linearWRTInput}, grad, w)
	if err != nil {
		return nil, err
	}
	dw, err := G.ApplyOp(&linearGradOp{linearOp: *op, wrt: linearWRTWeight}, grad, x)
	if err != nil {
		return nil, err
	}
	if !op.bias {
		return G.Nodes{dx, dw}, nil
	}
	db, err := G.ApplyOp(&linearGradOp{linearOp: *op, wrt: linearWRTBias}, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dw, db}, nil
}

// Which gradient a linearGradOp computes.
const (
	linearWRTInput  = iota // dx = dy W, from (dy, W)
	linearWRTWeight        // dW = dy^T x, from (dy, x)
	linearWRTBias          // db = sum over rows of dy, from (dy)
)

// linearGradOp is one part of Linear's backward pass, chosen by wrt.
type linearGradOp struct {
	linearOp
	wrt int
}

func (op *linearGradOp) Arity() int {
	if op.wrt == linearWRTBias {
		return 1
	}
	return 2
}
func (op *linearGradOp) Type() hm.Type {
	if op.wrt == linearWRTBias {
		return fnType(1, []int{2}, 1)
	}
	return fnType(2, []int{2, 2}, 2)
}
func (op *linearGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	switch op.wrt {
	case linearWRTInput:
		s, ok := in[0].(tensor.Shape)
		if !ok || len(s) != 2 {
			return nil, fmt.Errorf("nn: Linear backward: gradient shape %v, want (N, %d)", in[0], op.out)
		}
		return tensor.Shape{s[0], op.in}, nil
	case linearWRTWeight:
		return tensor.Shape{op.out, op.in}, nil
	default:
		return tensor.Shape{op.out}, nil
	}
}
func (op *linearGradOp) String() string {
	return fmt.Sprintf("LinearGrad%d(%d->%d)", op.wrt, op.in, op.out)
}
func (op *linearGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *linearGradOp) WriteHash(h hash.Hash) { writeHash(h, op) }

func (op *linearGradOp) Do(vals ...G.Value) (G.Value, error) {
	const name = "Linear backward"
	if err := checkArity(name, op.Arity(), len(vals)); err != nil {
		return nil, err
	}
	dy, sdy, err := float32s(name, vals[0])
	if err != nil {
		return nil, err
	}
	if len(sdy) != 2 || sdy[1] != op.out {
		return nil, fmt.Errorf("nn: %s: gradient %v, want (N, %d)", name, []int(sdy), op.out)
	}
	n := sdy[0]
	switch op.wrt {
	case linearWRTInput:
		w, sw, err := float32s(name, vals[1])
		if err != nil {
			return nil, err
		}
		if !sameShape(sw, tensor.Shape{op.out, op.in}) {
			return nil, fmt.Errorf("nn: %s: weight %v, want (%d, %d)", name, []int(sw), op.out, op.in)
		}
		out := newFloat32(n, op.in)
		blas.MustDefault().Sgemm(false, false, n, op.in, op.out, 1, dy, op.out, w, op.in, 0, out.Data().([]float32), op.in)
		return out, nil
	case linearWRTWeight:
		x, sx, err := float32s(name, vals[1])
		if err != nil {
			return nil, err
		}
		if !sameShape(sx, tensor.Shape{n, op.in}) {
			return nil, fmt.Errorf("nn: %s: input %v, want (%d, %d)", name, []int(sx), n, op.in)
		}
		out := newFloat32(op.out, op.in)
		blas.MustDefault().Sgemm(true, false, op.out, op.in, n, 1, dy, op.out, x, op.in, 0, out.Data().([]float32), op.in)
		return out, nil
	default:
		out := newFloat32(op.out)
		db := out.Data().([]float32)
		acc := make([]float64, op.out)
		for i := 0; i < n; i++ {
			for j, v := range dy[i*op.out : (i+1)*op.out] {
				acc[j] += float64(v)
			}
		}
		for j, v := range acc {
			db[j] = float32(v)
		}
		return out, nil
	}
}

var _ Module = (*LinearLayer)(nil)
