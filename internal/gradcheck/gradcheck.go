// Package gradcheck compares the gradients gorgonia computes for a graph with
// central finite differences, for tests of vidssl's Ops.
package gradcheck

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"math/rand/v2"

	"github.com/chewxy/hm"
	"github.com/vidssl/vidssl/internal/gop"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Options tune a check. Zero values pick the defaults.
type Options struct {
	// Eps is the finite-difference step (default 1e-2).
	Eps float64
	// Tol bounds max|analytic-numeric| / max(max|numeric|, 1) (default 1e-2).
	Tol float64
	// Samples is the number of elements checked per input (default 48).
	Samples int
	// Seed picks the weights of the output sum and the sampled elements.
	Seed uint64
}

// Build adds the computation under test to g, given input nodes bound to the
// inputs' tensors, and returns its output node.
type Build func(g *G.ExprGraph, in []*G.Node) (*G.Node, error)

// Check differentiates L = sum(R * f(inputs)) for a fixed random R with
// gorgonia.Grad and by central differences at sampled elements of each input
// whose wrt flag is true, and returns an error describing the worst mismatch.
func Check(build Build, inputs []*tensor.Dense, wrt []bool, opt Options) error {
	if opt.Eps == 0 {
		opt.Eps = 1e-2
	}
	if opt.Tol == 0 {
		opt.Tol = 1e-2
	}
	if opt.Samples == 0 {
		opt.Samples = 48
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 99))
	g := G.NewGraph()
	nodes := make([]*G.Node, len(inputs))
	for i, in := range inputs {
		s := in.Shape()
		nodes[i] = G.NewTensor(g, tensor.Float32, s.Dims(), G.WithShape(s.Clone()...), G.WithValue(in), G.WithName(fmt.Sprintf("input%d", i)))
	}
	out, err := build(g, nodes)
	if err != nil {
		return err
	}
	r := make([]float32, out.Shape().TotalSize())
	for i := range r {
		r[i] = float32(rng.NormFloat64())
	}
	loss, err := G.ApplyOp(&dotOp{r: r, dims: out.Dims()}, out)
	if err != nil {
		return err
	}
	var wrtNodes G.Nodes
	var wrtIdx []int
	for i := range inputs {
		if wrt[i] {
			wrtNodes = append(wrtNodes, nodes[i])
			wrtIdx = append(wrtIdx, i)
		}
	}
	grads, err := G.Grad(loss, wrtNodes...)
	if err != nil {
		return fmt.Errorf("gradcheck: Grad: %w", err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	eval := func() (float64, error) {
		m.Reset()
		if err := m.RunAll(); err != nil {
			return 0, err
		}
		y := values(out.Value())
		var s float64
		for i, v := range y {
			s += float64(v) * float64(r[i])
		}
		return s, nil
	}
	if _, err := eval(); err != nil {
		return err
	}
	analytic := make([][]float32, len(grads))
	for k, gn := range grads {
		analytic[k] = append([]float32(nil), gn.Value().Data().([]float32)...)
	}
	for k, i := range wrtIdx {
		x := inputs[i].Data().([]float32)
		var worst, scale float64
		var worstAt int
		var worstA, worstN float64
		for s := 0; s < opt.Samples && s < len(x); s++ {
			j := s
			if len(x) > opt.Samples {
				j = rng.IntN(len(x))
			}
			orig := x[j]
			x[j] = orig + float32(opt.Eps)
			lp, err := eval()
			if err != nil {
				return err
			}
			x[j] = orig - float32(opt.Eps)
			lm, err := eval()
			if err != nil {
				return err
			}
			x[j] = orig
			// The step actually taken in float32.
			h := float64(orig+float32(opt.Eps)) - float64(orig-float32(opt.Eps))
			num := (lp - lm) / h
			a := float64(analytic[k][j])
			scale = math.Max(scale, math.Abs(num))
			if d := math.Abs(a - num); d > worst {
				worst, worstAt, worstA, worstN = d, j, a, num
			}
		}
		if rel := worst / math.Max(scale, 1); rel > opt.Tol {
			return fmt.Errorf("gradcheck: input %d element %d: analytic %.6g, numeric %.6g (relative error %.3g > %.3g)", i, worstAt, worstA, worstN, rel, opt.Tol)
		}
	}
	return nil
}

// dotOp computes sum(r * x) as a float32 scalar.
type dotOp struct {
	r    []float32
	dims int
}

func (op *dotOp) Arity() int { return 1 }
func (op *dotOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(typeOf(op.dims, a), a)
}
func (op *dotOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.ScalarShape(), nil }
func (op *dotOp) Do(v ...G.Value) (G.Value, error) {
	x := values(v[0])
	var s float64
	for i, xv := range x {
		s += float64(xv) * float64(op.r[i])
	}
	return G.NewF32(float32(s)), nil
}
func (op *dotOp) ReturnsPtr() bool      { return false }
func (op *dotOp) CallsExtern() bool     { return false }
func (op *dotOp) OverwritesInput() int  { return -1 }
func (op *dotOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "gradcheck.dot%p", op) }
func (op *dotOp) Hashcode() uint32      { h := fnv.New32a(); op.WriteHash(h); return h.Sum32() }
func (op *dotOp) String() string        { return fmt.Sprintf("gradcheck.dot%p", op) }
func (op *dotOp) DiffWRT(int) []bool    { return []bool{true} }
func (op *dotOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	n, err := G.ApplyOp(&scaleOp{dot: op, shape: in[0].Shape().Clone()}, grad)
	return G.Nodes{n}, err
}

// scaleOp computes g * r for a scalar g: the gradient of dotOp.
type scaleOp struct {
	dot   *dotOp
	shape tensor.Shape
}

func (op *scaleOp) Arity() int { return 1 }
func (op *scaleOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(a, typeOf(op.dot.dims, a))
}
func (op *scaleOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.shape.Clone(), nil }
func (op *scaleOp) Do(v ...G.Value) (G.Value, error) {
	g, err := Scalar(v[0])
	if err != nil {
		return nil, err
	}
	if op.dot.dims == 0 {
		return G.NewF32(g * op.dot.r[0]), nil
	}
	out := make([]float32, len(op.dot.r))
	for i, r := range op.dot.r {
		out[i] = g * r
	}
	return tensor.New(tensor.WithShape(op.shape.Clone()...), tensor.WithBacking(out)), nil
}
func (op *scaleOp) ReturnsPtr() bool      { return false }
func (op *scaleOp) CallsExtern() bool     { return false }
func (op *scaleOp) OverwritesInput() int  { return -1 }
func (op *scaleOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "gradcheck.scale%p", op) }
func (op *scaleOp) Hashcode() uint32      { h := fnv.New32a(); op.WriteHash(h); return h.Sum32() }
func (op *scaleOp) String() string        { return fmt.Sprintf("gradcheck.scale%p", op) }

// Scalar reads a float32 scalar Value (a *gorgonia.F32 or a one-element tensor).
func Scalar(v G.Value) (float32, error) { return gop.Scalar(v) }

// typeOf is the gorgonia type of a float tensor of dims dimensions (a scalar when 0).
func typeOf(dims int, a hm.TypeVariable) hm.Type { return gop.TensorType(dims, a) }

// values returns the float32 data of a tensor or scalar Value.
func values(v G.Value) []float32 {
	switch d := v.Data().(type) {
	case []float32:
		return d
	case float32:
		return []float32{d}
	}
	return nil
}
