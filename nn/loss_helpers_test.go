package nn

import (
	"fmt"
	"hash"
	"path/filepath"
	"testing"

	"github.com/chewxy/hm"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/golden"
)

// Helpers shared by the golden tests of batchnorm, linear, dropout, loss and
// shape.

// ltLoad reads testdata/layers/<file>.
func ltLoad(t *testing.T, file string) map[string]golden.Tensor {
	t.Helper()
	m, err := golden.Load(filepath.Join("testdata", "layers", file))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// ltGolden returns a golden entry as a new float32 tensor.
func ltGolden(t *testing.T, m map[string]golden.Tensor, name string) *tensor.Dense {
	t.Helper()
	g, ok := m[name]
	if !ok {
		t.Fatalf("golden has no %q", name)
	}
	return tensor.New(tensor.WithShape(g.Shape...), tensor.WithBacking(g.Float32()))
}

// ltApprox compares within a relative error of 1e-4 (with a tiny absolute
// margin for values that are zero up to rounding).
var ltApprox = cmpopts.EquateApprox(1e-4, 1e-6)

// ltClose compares float32 results with a golden entry.
func ltClose(t *testing.T, what string, got []float32, m map[string]golden.Tensor, name string) {
	t.Helper()
	want, ok := m[name]
	if !ok {
		t.Fatalf("golden has no %q", name)
	}
	g := make([]float64, len(got))
	for i, v := range got {
		g[i] = float64(v)
	}
	if diff := cmp.Diff(want.Data, g, ltApprox); diff != "" {
		t.Errorf("%s differs from PyTorch (%s) (-want +got):\n%s", what, name, diff)
	}
}

// ltData returns a node's computed value as float32s (a scalar as one value).
func ltData(t *testing.T, n *G.Node) []float32 {
	t.Helper()
	switch v := n.Value().(type) {
	case *G.F32:
		return []float32{float32(*v)}
	case tensor.Tensor:
		return v.Data().([]float32)
	}
	t.Fatalf("node %v has value %T", n, n.Value())
	return nil
}

// ltWeightedSum returns sum(y * r) as a scalar node whose gradient with respect
// to y is r: PyTorch's (y * dy).sum().backward() feeds dy into y's backward.
func ltWeightedSum(y, r *G.Node) (*G.Node, error) {
	return G.ApplyOp(&ltWsumOp{dims: y.Dims()}, y, r)
}

type ltWsumOp struct {
	opBase
	dims int
}

func (op *ltWsumOp) Arity() int                                     { return 2 }
func (op *ltWsumOp) Type() hm.Type                                  { return fnType(2, []int{op.dims, op.dims}, 0) }
func (op *ltWsumOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.ScalarShape(), nil }
func (op *ltWsumOp) String() string                                 { return fmt.Sprintf("wsum%d", op.dims) }
func (op *ltWsumOp) Hashcode() uint32                               { return hashOf(op) }
func (op *ltWsumOp) WriteHash(h hash.Hash)                          { writeHash(h, op) }
func (op *ltWsumOp) Do(vals ...G.Value) (G.Value, error) {
	y, _, err := float32s("wsum", vals[0])
	if err != nil {
		return nil, err
	}
	r, _, err := float32s("wsum", vals[1])
	if err != nil {
		return nil, err
	}
	var s float64
	for i := range y {
		s += float64(y[i]) * float64(r[i])
	}
	return scalar32(float32(s)), nil
}
func (op *ltWsumOp) DiffWRT(int) []bool { return []bool{true, false} }
func (op *ltWsumOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(&ltWsumGradOp{dims: op.dims}, in[1], grad)
	return G.Nodes{d, nil}, err
}

// ltWsumGradOp computes r * g for a scalar g.
type ltWsumGradOp struct {
	opBase
	dims int
}

func (op *ltWsumGradOp) Arity() int    { return 2 }
func (op *ltWsumGradOp) Type() hm.Type { return fnType(2, []int{op.dims, 0}, op.dims) }
func (op *ltWsumGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *ltWsumGradOp) String() string        { return fmt.Sprintf("wsumGrad%d", op.dims) }
func (op *ltWsumGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *ltWsumGradOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *ltWsumGradOp) Do(vals ...G.Value) (G.Value, error) {
	r, s, err := float32s("wsumGrad", vals[0])
	if err != nil {
		return nil, err
	}
	g, err := ScalarValue(vals[1])
	if err != nil {
		return nil, err
	}
	out := newFloat32(s...)
	d := out.Data().([]float32)
	for i, v := range r {
		d[i] = v * g
	}
	return out, nil
}

// run executes a graph once on a fresh tape machine.
func ltRun(t *testing.T, g *G.ExprGraph) {
	t.Helper()
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
}

// ltLet binds a value to an input node.
func ltLet(t *testing.T, n *G.Node, v any) {
	t.Helper()
	if err := G.Let(n, v); err != nil {
		t.Fatal(err)
	}
}

// ltLift returns a scalar node as a one-element vector, for
// internal/gradcheck, whose weighted sum takes tensors only.
func ltLift(n *G.Node) (*G.Node, error) { return G.ApplyOp(ltLiftOp{}, n) }

type ltLiftOp struct{ opBase }

func (ltLiftOp) Arity() int                                     { return 1 }
func (ltLiftOp) Type() hm.Type                                  { return fnType(1, []int{0}, 1) }
func (ltLiftOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.Shape{1}, nil }
func (ltLiftOp) String() string                                 { return "lift" }
func (op ltLiftOp) Hashcode() uint32                            { return hashOf(op) }
func (op ltLiftOp) WriteHash(h hash.Hash)                       { writeHash(h, op) }
func (ltLiftOp) Do(vals ...G.Value) (G.Value, error) {
	v, err := ScalarValue(vals[0])
	if err != nil {
		return nil, err
	}
	return tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{v})), nil
}
func (ltLiftOp) DiffWRT(int) []bool { return []bool{true} }
func (ltLiftOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(ltLowerOp{}, grad)
	return G.Nodes{d}, err
}

// ltLowerOp turns a one-element vector back into a scalar: ltLiftOp's gradient.
type ltLowerOp struct{ opBase }

func (ltLowerOp) Arity() int                                     { return 1 }
func (ltLowerOp) Type() hm.Type                                  { return fnType(1, []int{1}, 0) }
func (ltLowerOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.ScalarShape(), nil }
func (ltLowerOp) String() string                                 { return "lower" }
func (op ltLowerOp) Hashcode() uint32                            { return hashOf(op) }
func (op ltLowerOp) WriteHash(h hash.Hash)                       { writeHash(h, op) }
func (ltLowerOp) Do(vals ...G.Value) (G.Value, error) {
	v, err := ScalarValue(vals[0])
	if err != nil {
		return nil, err
	}
	return scalar32(v), nil
}
