package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/gradcheck"
)

// randTensor returns a float32 tensor of normal values, kept at least margin
// away from zero so that finite differences do not straddle a kink.
func randTensor(rng *rand.Rand, margin float32, shape ...int) *tensor.Dense {
	t := newFloat32(shape...)
	d := t.Data().([]float32)
	for i := range d {
		v := float32(rng.NormFloat64())
		if v >= 0 {
			v += margin
		} else {
			v -= margin
		}
		d[i] = v
	}
	return t
}

func TestReLUGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := randTensor(rng, 0.05, 2, 3, 3, 4, 5)
	err := gradcheck.Check(func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		return ReLU(in[0])
	}, []*tensor.Dense{x}, []bool{true}, gradcheck.Options{Eps: 1e-2})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReLUForward(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 1, G.WithShape(4), G.WithValue(tensor.New(tensor.WithBacking([]float32{-1, 0, 2, -0.5}))))
	y, err := ReLU(x)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	got := y.Value().Data().([]float32)
	want := []float32{0, 0, 2, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ReLU = %v, want %v", got, want)
		}
	}
}

func TestGradcheckHandlesScalarOutputs(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	logits := randTensor(rng, 0, 6)
	targets := tensor.New(tensor.WithShape(6), tensor.WithBacking([]float32{1, 0, 1, 1, 0, 0}))
	err := gradcheck.Check(func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		return BCEWithLogits(in[0], in[1], 2)
	}, []*tensor.Dense{logits, targets}, []bool{true, false}, gradcheck.Options{Eps: 1e-2})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpsReuseOutputs checks that an op computes into the tensor it returned
// last time (so that a training step allocates nothing anew), and correctly.
func TestOpsReuseOutputs(t *testing.T) {
	op := &reluOp{dims: 2}
	x1 := tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{1, -2, 3, -4}))
	x2 := tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{-1, 2, -3, 4}))
	y1, err := op.Do(x1)
	if err != nil {
		t.Fatal(err)
	}
	if got := y1.Data().([]float32); !cmp.Equal(got, []float32{1, 0, 3, 0}) {
		t.Fatalf("first run: %v", got)
	}
	y2, err := op.Do(x2)
	if err != nil {
		t.Fatal(err)
	}
	if y1 != y2 {
		t.Error("the second run allocated a new output")
	}
	if got := y2.Data().([]float32); !cmp.Equal(got, []float32{0, 2, 0, 4}) {
		t.Errorf("second run: %v", got)
	}
	x3 := tensor.New(tensor.WithShape(4), tensor.WithBacking([]float32{1, 2, 3, 4}))
	y3, err := op.Do(x3)
	if err != nil {
		t.Fatal(err)
	}
	if !y3.Shape().Eq(tensor.Shape{4}) || y3 == y2 {
		t.Errorf("a new shape reused the old output: %v", y3.Shape())
	}
}
