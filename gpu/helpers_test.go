package gpu

import (
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/nn"
)

// randSlice returns n values uniform in [-scale, scale).
func randSlice(rng *rand.Rand, n int, scale float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(scale * (2*rng.Float64() - 1))
	}
	return out
}

// sameBits reports the first element where got and want differ in any bit.
func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Errorf("%s[%d] = %v, want %v (bit for bit)", what, i, got[i], want[i])
			return
		}
	}
}

// closeTo compares got with want elementwise: |got - want| <= rtol * max(|want|,
// 0.1 * max|want|) + 1e-7, so that elements near zero are judged against the
// tensor's magnitude rather than their own.
func closeTo(t *testing.T, what string, got, want []float32, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return
	}
	var peak float64
	for _, v := range want {
		peak = math.Max(peak, math.Abs(float64(v)))
	}
	bad, worst, wi := 0, 0.0, -1
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		tol := rtol*math.Max(math.Abs(w), 0.1*peak) + 1e-7
		d := math.Abs(g - w)
		if !(d <= tol) {
			bad++
			if r := d / tol; !(r <= worst) {
				worst, wi = r, i
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values differ beyond rtol %g; worst at %d: got %v, want %v", what, bad, len(got), rtol, wi, got[wi], want[wi])
	}
}

// nnIn is an input of an nn reference computation.
type nnIn struct {
	shape []int
	data  []float32
	diff  bool // compute its gradient
}

// nnEval evaluates an nn computation f of the inputs on a gorgonia tape
// machine and returns its output and the gradients of the inputs marked
// diff: of the output itself when it is a scalar (a loss), else of
// sum(output * r).
func nnEval(t *testing.T, training bool, ins []nnIn, f func(g *nn.Graph, xs []*G.Node) (*G.Node, error), r []float32) ([]float32, [][]float32) {
	t.Helper()
	g := nn.NewGraph(training, rand.New(rand.NewPCG(1, 1)))
	var nodes, diff []*G.Node
	for i, in := range ins {
		v := tensor.New(tensor.WithShape(in.shape...), tensor.WithBacking(append([]float32(nil), in.data...)))
		n := G.NewTensor(g.Exp, tensor.Float32, len(in.shape), G.WithShape(in.shape...), G.WithName(fmt.Sprintf("in%d", i)), G.WithValue(v))
		nodes = append(nodes, n)
		if in.diff {
			diff = append(diff, n)
		}
	}
	out, err := f(g, nodes)
	if err != nil {
		t.Fatal(err)
	}
	var grads G.Nodes
	if len(diff) > 0 {
		loss := out
		if !out.IsScalar() {
			rv := tensor.New(tensor.WithShape(out.Shape().Clone()...), tensor.WithBacking(append([]float32(nil), r...)))
			rn := G.NewTensor(g.Exp, tensor.Float32, out.Dims(), G.WithShape(out.Shape().Clone()...), G.WithName("r"), G.WithValue(rv))
			if loss, err = G.ApplyOp(&wsumOp{dims: out.Dims()}, out, rn); err != nil {
				t.Fatal(err)
			}
		}
		if grads, err = G.Grad(loss, diff...); err != nil {
			t.Fatal(err)
		}
	}
	vm := G.NewTapeMachine(g.Exp)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	var gs [][]float32
	for _, gn := range grads {
		gs = append(gs, values(t, gn.Value()))
	}
	return values(t, out.Value()), gs
}

func values(t *testing.T, v G.Value) []float32 {
	t.Helper()
	switch x := v.(type) {
	case *G.F32:
		return []float32{float32(*x)}
	case tensor.Tensor:
		switch d := x.Data().(type) {
		case []float32:
			return append([]float32(nil), d...)
		case float32:
			return []float32{d}
		}
	}
	t.Fatalf("value of type %T", v)
	return nil
}

// wsumOp is sum(y * r), whose gradient with respect to y is r.
type wsumOp struct{ dims int }

func (op *wsumOp) Arity() int { return 2 }
func (op *wsumOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	tt := &G.TensorType{Dims: op.dims, Of: a}
	return hm.NewFnType(tt, tt, a)
}
func (op *wsumOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.ScalarShape(), nil }
func (op *wsumOp) ReturnsPtr() bool                               { return false }
func (op *wsumOp) CallsExtern() bool                              { return false }
func (op *wsumOp) OverwritesInput() int                           { return -1 }
func (op *wsumOp) String() string                                 { return fmt.Sprintf("wsum%d", op.dims) }
func (op *wsumOp) WriteHash(h hash.Hash)                          { fmt.Fprint(h, op.String()) }
func (op *wsumOp) Hashcode() uint32                               { h := fnv.New32a(); op.WriteHash(h); return h.Sum32() }
func (op *wsumOp) Do(vals ...G.Value) (G.Value, error) {
	y, r := vals[0].(tensor.Tensor).Data().([]float32), vals[1].(tensor.Tensor).Data().([]float32)
	var s float64
	for i := range y {
		s += float64(y[i]) * float64(r[i])
	}
	return G.NewF32(float32(s)), nil
}
func (op *wsumOp) DiffWRT(int) []bool { return []bool{true, false} }
func (op *wsumOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(&wsumGradOp{dims: op.dims}, in[1], grad)
	return G.Nodes{d, nil}, err
}

// wsumGradOp is r * g for a scalar g.
type wsumGradOp struct{ dims int }

func (op *wsumGradOp) Arity() int { return 2 }
func (op *wsumGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	tt := &G.TensorType{Dims: op.dims, Of: a}
	return hm.NewFnType(tt, a, tt)
}
func (op *wsumGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *wsumGradOp) ReturnsPtr() bool      { return false }
func (op *wsumGradOp) CallsExtern() bool     { return false }
func (op *wsumGradOp) OverwritesInput() int  { return -1 }
func (op *wsumGradOp) String() string        { return fmt.Sprintf("wsumGrad%d", op.dims) }
func (op *wsumGradOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op *wsumGradOp) Hashcode() uint32      { h := fnv.New32a(); op.WriteHash(h); return h.Sum32() }
func (op *wsumGradOp) Do(vals ...G.Value) (G.Value, error) {
	rt := vals[0].(tensor.Tensor)
	r := rt.Data().([]float32)
	var g float32
	switch s := vals[1].(type) {
	case *G.F32:
		g = float32(*s)
	case tensor.Tensor:
		g = s.Data().([]float32)[0]
	}
	out := make([]float32, len(r))
	for i, v := range r {
		out[i] = v * g
	}
	return tensor.New(tensor.WithShape(rt.Shape().Clone()...), tensor.WithBacking(out)), nil
}

// engines returns the engines the op tests run on: the host engine, the CUDA
// backend on the simulated device, and a real GPU when there is one.
type namedEngine struct {
	name string
	e    *Engine
	rtol float64 // tolerance against nn
	sim  bool
}

var (
	cudaOnce   sync.Once
	cudaEngine *Engine
	cudaErr    error
)

// sharedCUDA opens one CUDA engine for the test binary (FMA math, so that
// results match the CPU to about 1e-5), or returns why it cannot.
func sharedCUDA() (*Engine, error) {
	cudaOnce.Do(func() {
		if os.Getenv("VIDSSL_NO_CUDA") != "" {
			cudaErr = errors.New("VIDSSL_NO_CUDA is set")
			return
		}
		if cudaErr = CUDAAvailable(); cudaErr != nil {
			return
		}
		cudaEngine, cudaErr = OpenCUDA(CUDAOptions{})
	})
	return cudaEngine, cudaErr
}

// requireCUDA returns the shared CUDA engine or skips the test.
func requireCUDA(t *testing.T) *Engine {
	t.Helper()
	e, err := sharedCUDA()
	if err != nil {
		t.Skipf("no CUDA device: %v", err)
	}
	return e
}

func testEngines(t *testing.T) []namedEngine {
	t.Helper()
	sim, _, err := newSimEngine(12040)
	if err != nil {
		t.Fatalf("simulated CUDA engine: %v", err)
	}
	out := []namedEngine{{"host", NewHostEngine(), 1e-5, false}, {"sim", sim, 1e-5, true}}
	if e, err := sharedCUDA(); err == nil {
		out = append(out, namedEngine{"cuda", e, 1e-3, false})
	} else {
		t.Logf("CUDA engine not tested: %v", err)
	}
	return out
}

// skipNoDNN skips a subtest whose op needs cuDNN on the simulated device.
func skipNoDNN(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, errNoDNN) {
		t.Skip("cuDNN op: not simulated")
	}
	if err != nil {
		t.Fatal(err)
	}
}

// upload allocates a tensor on e holding data.
func upload(t *testing.T, e *Engine, data []float32, shape ...int) *Tensor {
	t.Helper()
	x, err := e.FromHost(data, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func newT(t *testing.T, e *Engine, shape ...int) *Tensor {
	t.Helper()
	x, err := e.New(shape...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func host(t *testing.T, e *Engine, x *Tensor) []float32 {
	t.Helper()
	d, err := e.ToHost(x)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
