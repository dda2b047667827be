package nn

import (
	"fmt"
	"hash"
	"math/rand/v2"
	"sync/atomic"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/parallel"
)

// Dropout zeroes each element of x with probability p and scales the others by
// 1/(1-p), as torch.nn.functional.dropout, when g is a training graph; in an
// evaluation graph (and for p = 0) it returns x itself.
//
// In training, the mask is a node of its own, drawn from g.Rand each time the
// graph is executed (g.Rand is read at execution time, so a loop may replace
// it); the output and its gradient both read that node, so the backward pass
// always uses the mask of the same execution. A training graph without a Rand
// is an error. p must lie in [0, 1]; p = 1 gives zeros.
func Dropout(g *Graph, x *G.Node, p float64) (*G.Node, error) {
	if !(p >= 0 && p <= 1) {
		return nil, fmt.Errorf("nn: Dropout: probability %v outside [0, 1]", p)
	}
	if !g.Training || p == 0 {
		return x, nil
	}
	if g.Rand == nil {
		return nil, fmt.Errorf("nn: Dropout(p=%v) of %v: training graph has no Rand", p, shapeOf(x))
	}
	mask, err := G.ApplyOp(&dropoutMaskOp{g: g, p: p, dims: x.Dims(), id: dropoutSeq.Add(1)}, x)
	if err != nil {
		return nil, fmt.Errorf("nn: Dropout mask of %v: %w", shapeOf(x), err)
	}
	y, err := G.ApplyOp(&dropoutMulOp{dims: x.Dims()}, x, mask)
	if err != nil {
		return nil, fmt.Errorf("nn: Dropout of %v: %w", shapeOf(x), err)
	}
	return y, nil
}

// DropoutLayer is [Dropout] as a Module.
type DropoutLayer struct {
	// P is the probability of zeroing an element.
	P float64
}

// Forward applies Dropout in g's mode.
func (l DropoutLayer) Forward(g *Graph, x *G.Node) (*G.Node, error) { return Dropout(g, x, l.P) }

// Params returns nothing: Dropout has no state.
func (DropoutLayer) Params() []*Param { return nil }

// dropoutSeq numbers mask ops, so that two dropouts of the same node draw two
// masks (gorgonia de-duplicates nodes of equal hash).
var dropoutSeq atomic.Uint64

// dropoutMaskOp draws a mask shaped like its input: 0 with probability p,
// else 1/(1-p). The input is read for its shape only; the op is not
// differentiable.
type dropoutMaskOp struct {
	opBase
	g    *Graph
	p    float64
	dims int
	id   uint64
}

func (op *dropoutMaskOp) Arity() int { return 1 }
func (op *dropoutMaskOp) Type() hm.Type {
	return fnType(1, []int{op.dims}, op.dims)
}
func (op *dropoutMaskOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *dropoutMaskOp) String() string {
	return fmt.Sprintf("DropoutMask%d(p=%v)#%d", op.dims, op.p, op.id)
}
func (op *dropoutMaskOp) Hashcode() uint32      { return hashOf(op) }
func (op *dropoutMaskOp) WriteHash(h hash.Hash) { writeHash(h, op) }

func (op *dropoutMaskOp) Do(vals ...G.Value) (G.Value, error) {
	if err := checkArity("Dropout", 1, len(vals)); err != nil {
		return nil, err
	}
	_, shape, err := float32s("Dropout", vals[0])
	if err != nil {
		return nil, err
	}
	rng := op.g.Rand
	if rng == nil {
		return nil, fmt.Errorf("nn: Dropout(p=%v): training graph has no Rand", op.p)
	}
	out := newFloat32(shape...)
	DropoutMask(rng, op.p, out.Data().([]float32))
	return out, nil
}

// DropoutMask fills mask with a dropout mask drawn from rng: each element is
// 0 with probability p and 1/(1-p) otherwise (all 0 for p >= 1, drawing
// nothing). It is the mask [Dropout] draws, one rng.Float64 per element in
// order, so that code outside a graph (a GPU trainer, say) can follow the
// same random stream.
func DropoutMask(rng *rand.Rand, p float64, mask []float32) {
	clear(mask)
	if p >= 1 {
		return
	}
	scale := float32(1 / (1 - p))
	for i := range mask {
		if rng.Float64() >= p {
			mask[i] = scale
		}
	}
}

// DiffWRT says the mask does not depend differentiably on its input.
func (op *dropoutMaskOp) DiffWRT(int) []bool { return []bool{false} }

func (op *dropoutMaskOp) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return G.Nodes{nil}, nil
}

// dropoutMulOp multiplies a tensor by a dropout mask elementwise. It is both
// the forward pass (x * mask) and its gradient (dy * mask); the mask input is
// not differentiated.
type dropoutMulOp struct {
	opBase
	dims int
}

func (op *dropoutMulOp) Arity() int { return 2 }
func (op *dropoutMulOp) Type() hm.Type {
	return fnType(2, []int{op.dims, op.dims}, op.dims)
}
func (op *dropoutMulOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *dropoutMulOp) String() string        { return fmt.Sprintf("DropoutMul%d", op.dims) }
func (op *dropoutMulOp) Hashcode() uint32      { return hashOf(op) }
func (op *dropoutMulOp) WriteHash(h hash.Hash) { writeHash(h, op) }

func (op *dropoutMulOp) Do(vals ...G.Value) (G.Value, error) {
	if err := checkArity("Dropout", 2, len(vals)); err != nil {
		return nil, err
	}
	x, sx, err := float32s("Dropout", vals[0])
	if err != nil {
		return nil, err
	}
	m, sm, err := float32s("Dropout", vals[1])
	if err != nil {
		return nil, err
	}
	if !sameShape(sx, sm) {
		return nil, fmt.Errorf("nn: Dropout: input %v and mask %v differ in shape", []int(sx), []int(sm))
	}
	out := newFloat32(sx...)
	y := out.Data().([]float32)
	parallel.For(len(y), elementGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y[i] = x[i] * m[i]
		}
	})
	return out, nil
}

func (op *dropoutMulOp) DiffWRT(int) []bool { return []bool{true, false} }

func (op *dropoutMulOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&dropoutMulOp{dims: op.dims}, grad, inputs[1])
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, nil}, nil
}

var _ Module = DropoutLayer{}
