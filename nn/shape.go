package nn

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/parallel"
)

// Flatten reshapes x of shape (N, d1, d2, ...) to (N, d1*d2*...), as
// torch.flatten(x, 1): the step between global pooling, whose output is
// (N, C, 1, 1, 1), and a Linear layer. x must have at least two dimensions.
func Flatten(x *G.Node) (*G.Node, error) {
	s := shapeOf(x)
	if len(s) < 2 {
		return nil, fmt.Errorf("nn: Flatten of %v: want at least 2 dimensions", s)
	}
	rest := 1
	for _, d := range s[1:] {
		rest *= d
	}
	return Reshape(x, s[0], rest)
}

// FlattenLayer is [Flatten] as a Module, for sequential models.
type FlattenLayer struct{}

// Forward applies Flatten.
func (FlattenLayer) Forward(_ *Graph, x *G.Node) (*G.Node, error) { return Flatten(x) }

// Params returns nothing: Flatten has no state.
func (FlattenLayer) Params() []*Param { return nil }

// Reshape returns x with a new shape holding the same number of elements, in
// the same row-major order. At most one dimension may be -1; it is inferred
// from the others, as in torch.reshape. The result is a copy, so no two nodes
// share a tensor.
func Reshape(x *G.Node, shape ...int) (*G.Node, error) {
	from := tensor.Shape(shapeOf(x))
	to, err := resolveShape(from, shape)
	if err != nil {
		return nil, err
	}
	n, err := G.ApplyOp(&reshapeOp{from: from, to: to}, x)
	if err != nil {
		return nil, fmt.Errorf("nn: Reshape %v to %v: %w", from, shape, err)
	}
	return n, nil
}

// resolveShape checks a requested shape against from and fills in a -1.
func resolveShape(from tensor.Shape, shape []int) (tensor.Shape, error) {
	if len(shape) == 0 {
		return nil, fmt.Errorf("nn: Reshape %v to %v: want at least one dimension", []int(from), shape)
	}
	to := make(tensor.Shape, len(shape))
	copy(to, shape)
	known, free := 1, -1
	for i, d := range to {
		switch {
		case d == -1 && free < 0:
			free = i
		case d == -1:
			return nil, fmt.Errorf("nn: Reshape %v to %v: more than one -1", []int(from), shape)
		case d <= 0:
			return nil, fmt.Errorf("nn: Reshape %v to %v: dimension %d is %d", []int(from), shape, i, d)
		default:
			known *= d
		}
	}
	total := from.TotalSize()
	if free >= 0 {
		if total%known != 0 {
			return nil, fmt.Errorf("nn: Reshape %v (%d elements) to %v: not divisible", []int(from), total, shape)
		}
		to[free] = total / known
		known *= to[free]
	}
	if known != total {
		return nil, fmt.Errorf("nn: Reshape %v (%d elements) to %v (%d elements): sizes differ", []int(from), total, shape, known)
	}
	return to, nil
}

// ReshapeLayer is [Reshape] as a Module: it reshapes its input to Shape (which
// may hold one -1).
type ReshapeLayer struct {
	// Shape is the output shape; one entry may be -1.
	Shape []int
}

// Forward applies Reshape.
func (l ReshapeLayer) Forward(_ *Graph, x *G.Node) (*G.Node, error) { return Reshape(x, l.Shape...) }

// Params returns nothing: Reshape has no state.
func (ReshapeLayer) Params() []*Param { return nil }

// reshapeOp copies a tensor into a new shape of the same size. Its gradient is
// the reverse reshape.
type reshapeOp struct {
	opBase
	from, to tensor.Shape
}

func (op *reshapeOp) Arity() int { return 1 }
func (op *reshapeOp) Type() hm.Type {
	return fnType(1, []int{op.from.Dims()}, op.to.Dims())
}
func (op *reshapeOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.to.Clone(), nil }
func (op *reshapeOp) String() string {
	return fmt.Sprintf("Reshape%v->%v", []int(op.from), []int(op.to))
}
func (op *reshapeOp) Hashcode() uint32      { return hashOf(op) }
func (op *reshapeOp) WriteHash(h hash.Hash) { writeHash(h, op) }

func (op *reshapeOp) Do(vals ...G.Value) (G.Value, error) {
	if err := checkArity("Reshape", 1, len(vals)); err != nil {
		return nil, err
	}
	x, shape, err := float32s("Reshape", vals[0])
	if err != nil {
		return nil, err
	}
	if shape.TotalSize() != op.to.TotalSize() || len(x) != op.to.TotalSize() {
		return nil, fmt.Errorf("nn: Reshape: input %v does not fit %v", []int(shape), []int(op.to))
	}
	out := newFloat32(op.to...)
	copy(out.Data().([]float32), x)
	return out, nil
}

func (op *reshapeOp) DiffWRT(int) []bool { return []bool{true} }

func (op *reshapeOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&reshapeOp{from: op.to, to: op.from}, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx}, nil
}

// Add returns a + b elementwise for two float32 tensors of the same shape and
// any rank: the residual connection of a ResNet block. It does not broadcast;
// shapes that differ are an error naming both.
func Add(a, b *G.Node) (*G.Node, error) {
	sa, sb := tensor.Shape(shapeOf(a)), tensor.Shape(shapeOf(b))
	if !sameShape(sa, sb) {
		return nil, fmt.Errorf("nn: Add: shapes %v and %v differ", []int(sa), []int(sb))
	}
	n, err := G.ApplyOp(&addOp{dims: a.Dims()}, a, b)
	if err != nil {
		return nil, fmt.Errorf("nn: Add of %v: %w", []int(sa), err)
	}
	return n, nil
}

// AddReLU returns max(a + b, 0) elementwise, as ReLU(Add(a, b)) but in one
// op: the end of a ResNet block.
func AddReLU(a, b *G.Node) (*G.Node, error) {
	sa, sb := tensor.Shape(shapeOf(a)), tensor.Shape(shapeOf(b))
	if !sameShape(sa, sb) {
		return nil, fmt.Errorf("nn: AddReLU: shapes %v and %v differ", []int(sa), []int(sb))
	}
	n, err := G.ApplyOp(&addOp{dims: a.Dims(), relu: true}, a, b)
	if err != nil {
		return nil, fmt.Errorf("nn: AddReLU of %v: %w", []int(sa), err)
	}
	return n, nil
}

// sameShape reports whether two shapes are equal dimension by dimension.
// (tensor.Shape.Eq also equates a vector of n with an n x 1 matrix.)
func sameShape(a, b tensor.Shape) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// addOp adds two same-shape tensors, followed by a ReLU when relu is set;
// both inputs receive the output gradient (through the ReLU's).
type addOp struct {
	opBase
	dims int
	relu bool
	out  outBuf
}

func (op *addOp) Arity() int { return 2 }
func (op *addOp) Type() hm.Type {
	return fnType(2, []int{op.dims, op.dims}, op.dims)
}
func (op *addOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *addOp) String() string {
	if op.relu {
		return fmt.Sprintf("AddReLU%d", op.dims)
	}
	return fmt.Sprintf("Add%d", op.dims)
}
func (op *addOp) Hashcode() uint32      { return hashOf(op) }
func (op *addOp) WriteHash(h hash.Hash) { writeHash(h, op) }

func (op *addOp) Do(vals ...G.Value) (G.Value, error) {
	if err := checkArity("Add", 2, len(vals)); err != nil {
		return nil, err
	}
	a, sa, err := float32s("Add", vals[0])
	if err != nil {
		return nil, err
	}
	b, sb, err := float32s("Add", vals[1])
	if err != nil {
		return nil, err
	}
	if !sameShape(sa, sb) {
		return nil, fmt.Errorf("nn: Add: shapes %v and %v differ", []int(sa), []int(sb))
	}
	out := op.out.take(false, sa...)
	defer op.out.put(out)
	y := out.Data().([]float32)
	parallel.For(len(y), elementGrain, func(lo, hi int) {
		a, b, y := a[lo:hi], b[lo:hi], y[lo:hi]
		if op.relu {
			for i, v := range a {
				y[i] = max(v+b[i], 0)
			}
			return
		}
		for i, v := range a {
			y[i] = v + b[i]
		}
	})
	return out, nil
}

func (op *addOp) DiffWRT(int) []bool { return []bool{true, true} }

func (op *addOp) SymDiff(_ G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if op.relu {
		d, err := G.ApplyOp(&reluGradOp{dims: op.dims}, output, grad)
		if err != nil {
			return nil, err
		}
		return G.Nodes{d, d}, nil
	}
	return G.Nodes{grad, grad}, nil
}

var (
	_ Module = FlattenLayer{}
	_ Module = ReshapeLayer{}
)
