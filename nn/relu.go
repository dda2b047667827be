package nn

import (
	"hash"

	"fmt"
	"github.com/chewxy/hm"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/parallel"
	"github.com/vidssl/vidssl/internal/vec"
)

// elementGrain is the smallest slice of an elementwise loop worth a goroutine.
const elementGrain = 1 << 15

// ReLU returns max(x, 0) elementwise, for a float32 tensor of any rank.
func ReLU(x *G.Node) (*G.Node, error) {
	op := &reluOp{dims: x.Dims()}
	n, err := G.ApplyOp(op, x)
	if err != nil {
		return nil, fmt.Errorf("nn: ReLU of %v: %w", shapeOf(x), err)
	}
	return n, nil
}

// ReLULayer is ReLU as a Module, for sequential models.
type ReLULayer struct{}

// Forward applies ReLU.
func (ReLULayer) Forward(_ *Graph, x *G.Node) (*G.Node, error) { return ReLU(x) }

// Params returns nothing: ReLU has no state.
func (ReLULayer) Params() []*Param { return nil }

type reluOp struct {
	opBase
	dims int
	out  outBuf
}

func (op *reluOp) Arity() int { return 1 }
func (op *reluOp) Type() hm.Type {
	return fnType(1, []int{op.dims}, op.dims)
}
func (op *reluOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *reluOp) String() string        { return fmt.Sprintf("ReLU%d", op.dims) }
func (op *reluOp) Hashcode() uint32      { return hashOf(op) }
func (op *reluOp) WriteHash(h hash.Hash) { writeHash(h, op) }

func (op *reluOp) Do(vals ...G.Value) (G.Value, error) {
	if err := checkArity("ReLU", 1, len(vals)); err != nil {
		return nil, err
	}
	x, shape, err := float32s("ReLU", vals[0])
	if err != nil {
		return nil, err
	}
	out := op.out.take(false, shape...)
	defer op.out.put(out)
	y := out.Data().([]float32)
	parallel.For(len(x), elementGrain, func(lo, hi int) {
		for i, v := range x[lo:hi] {
			y[lo+i] = max(v, 0)
		}
	})
	return out, nil
}

func (op *reluOp) DiffWRT(int) []bool { return []bool{true} }

func (op *reluOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&reluGradOp{dims: op.dims}, output, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx}, nil
}

// reluGradOp computes dx = dy where y > 0, else 0, from (y, dy), as PyTorch does.
type reluGradOp struct {
	opBase
	dims int
	out  outBuf
}

func (op *reluGradOp) Arity() int { return 2 }
func (op *reluGradOp) Type() hm.Type {
	return fnType(2, []int{op.dims, op.dims}, op.dims)
}
func (op *reluGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *reluGradOp) String() string        { return fmt.Sprintf("ReLUGrad%d", op.dims) }
func (op *reluGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *reluGradOp) WriteHash(h hash.Hash) { writeHash(h, op) }

func (op *reluGradOp) Do(vals ...G.Value) (G.Value, error) {
	if err := checkArity("ReLU backward", 2, len(vals)); err != nil {
		return nil, err
	}
	y, shape, err := float32s("ReLU backward", vals[0])
	if err != nil {
		return nil, err
	}
	dy, dshape, err := float32s("ReLU backward", vals[1])
	if err != nil {
		return nil, err
	}
	if !shape.Eq(dshape) {
		return nil, fmt.Errorf("nn: ReLU backward: output %v and gradient %v differ in shape", shape, dshape)
	}
	out := op.out.take(false, shape...)
	defer op.out.put(out)
	dx := out.Data().([]float32)
	parallel.For(len(y), elementGrain, func(lo, hi int) {
		vec.Mask(dx[lo:hi], dy[lo:hi], y[lo:hi]) // 0 where y is NaN too, as PyTorch
	})
	return out, nil
}
