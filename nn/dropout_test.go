package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/gradcheck"
)

// TestDropoutStatistics checks the fraction of zeros and the scale of the
// survivors, that the gradient uses the forward pass's mask, and that each
// execution draws a new mask.
func TestDropoutStatistics(t *testing.T) {
	const n, p = 200000, 0.25
	g := NewGraph(true, rand.New(rand.NewPCG(8, 9)))
	x := G.NewTensor(g.Exp, tensor.Float32, 2, G.WithShape(n/4, 4), G.WithName("x"), G.WithValue(randTensor(rand.New(rand.NewPCG(1, 1)), 0.1, n/4, 4)))
	r := G.NewTensor(g.Exp, tensor.Float32, 2, G.WithShape(n/4, 4), G.WithName("r"), G.WithValue(randTensor(rand.New(rand.NewPCG(2, 2)), 0.1, n/4, 4)))
	y, err := Dropout(g, x, p)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := ltWeightedSum(y, r)
	if err != nil {
		t.Fatal(err)
	}
	grads, err := G.Grad(loss, x)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g.Exp)
	defer m.Close()
	xs, rs := x.Value().Data().([]float32), r.Value().Data().([]float32)
	scale := float32(1 / (1 - p))
	var prev []float32
	for run := 0; run < 2; run++ {
		m.Reset()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		ys, dx := ltData(t, y), ltData(t, grads[0])
		zeros := 0
		var sumRatio float64
		for i := range ys {
			switch ys[i] {
			case 0:
				zeros++
				if dx[i] != 0 {
					t.Fatalf("run %d: element %d dropped forward but gradient %v", run, i, dx[i])
				}
			case xs[i] * scale:
				sumRatio += float64(ys[i] / xs[i])
				if dx[i] != rs[i]*scale {
					t.Fatalf("run %d: element %d kept forward but gradient %v, want %v", run, i, dx[i], rs[i]*scale)
				}
			default:
				t.Fatalf("run %d: y[%d] = %v for x = %v, want 0 or x/(1-p)", run, i, ys[i], xs[i])
			}
		}
		frac := float64(zeros) / n
		if sd := math.Sqrt(p * (1 - p) / n); math.Abs(frac-p) > 5*sd {
			t.Errorf("run %d: dropped %.4f of elements, want %.2f ± %.4f", run, frac, p, 5*sd)
		}
		// E[y/x] = 1: the scale keeps the expectation.
		if mean := sumRatio / n; math.Abs(mean-1) > 0.01 {
			t.Errorf("run %d: mean of y/x = %.4f, want 1", run, mean)
		}
		if prev != nil {
			same := true
			for i := range ys {
				if (ys[i] == 0) != (prev[i] == 0) {
					same = false
					break
				}
			}
			if same {
				t.Error("two executions drew the same mask")
			}
		}
		prev = append([]float32(nil), ys...)
	}
}

func TestDropoutDeterministic(t *testing.T) {
	mask := func() []float32 {
		g := NewGraph(true, rand.New(rand.NewPCG(3, 4)))
		x := G.NewTensor(g.Exp, tensor.Float32, 1, G.WithShape(64), G.WithName("x"), G.WithValue(randTensor(rand.New(rand.NewPCG(1, 1)), 0.1, 64)))
		y, err := DropoutLayer{P: 0.5}.Forward(g, x)
		if err != nil {
			t.Fatal(err)
		}
		ltRun(t, g.Exp)
		return append([]float32(nil), ltData(t, y)...)
	}
	a, b := mask(), mask()
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("the same seed gave different masks")
		}
	}
}

func TestDropoutModes(t *testing.T) {
	eval := NewGraph(false, nil)
	x := eval.Input("x", 2, 3)
	y, err := Dropout(eval, x, 0.5)
	if err != nil || y != x {
		t.Errorf("eval: got %v, %v; want x itself", y, err)
	}
	train := NewGraph(true, nil)
	x = train.Input("x", 2, 3)
	if _, err := Dropout(train, x, 0.5); err == nil || !strings.Contains(err.Error(), "no Rand") {
		t.Errorf("training graph without Rand: error %v", err)
	}
	for _, p := range []float64{-0.1, 1.5, math.NaN()} {
		if _, err := Dropout(eval, x, p); err == nil {
			t.Errorf("p = %v: no error", p)
		}
	}
	// p = 1 drops everything.
	train = NewGraph(true, rand.New(rand.NewPCG(1, 1)))
	x1 := G.NewTensor(train.Exp, tensor.Float32, 1, G.WithShape(5), G.WithName("x1"), G.WithValue(tensor.New(tensor.WithBacking([]float32{1, 2, 3, 4, 5}))))
	y, err = Dropout(train, x1, 1)
	if err != nil {
		t.Fatal(err)
	}
	ltRun(t, train.Exp)
	for _, v := range ltData(t, y) {
		if v != 0 {
			t.Fatalf("p = 1 kept %v", v)
		}
	}
}

// TestDropoutTwiceOnOneNode checks that two dropouts of one node draw two masks.
func TestDropoutTwiceOnOneNode(t *testing.T) {
	g := NewGraph(true, rand.New(rand.NewPCG(5, 5)))
	ones := make([]float32, 256)
	for i := range ones {
		ones[i] = 1
	}
	x := G.NewTensor(g.Exp, tensor.Float32, 1, G.WithShape(256), G.WithName("x"), G.WithValue(tensor.New(tensor.WithBacking(ones))))
	a, err := Dropout(g, x, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Dropout(g, x, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two dropouts of one node are one node")
	}
	ltRun(t, g.Exp)
	da, db := ltData(t, a), ltData(t, b)
	for i := range da {
		if da[i] != db[i] {
			return
		}
	}
	t.Error("two dropouts drew the same mask")
}

// ltCycleSource repeats the same n pseudo-random words, so that every execution
// of a graph draws the same dropout mask (rand.Float64 takes one word).
type ltCycleSource struct {
	words []uint64
	i     int
}

func (s *ltCycleSource) Uint64() uint64 {
	v := s.words[s.i%len(s.words)]
	s.i++
	return v
}

func TestDropoutGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 7))
	x := randTensor(rng, 0, 3, 2, 2, 3, 2)
	src := &ltCycleSource{words: make([]uint64, x.Shape().TotalSize())}
	for i := range src.words {
		src.words[i] = rng.Uint64()
	}
	g := &Graph{Training: true, Rand: rand.New(src)}
	err := gradcheck.Check(func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		return Dropout(g, in[0], 0.3)
	}, []*tensor.Dense{x}, []bool{true}, gradcheck.Options{Tol: 1e-3})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDropoutMaskFollowsDropout: DropoutMask on a stream seeded like a
// graph's Rand draws the masks Dropout applies, execution after execution.
func TestDropoutMaskFollowsDropout(t *testing.T) {
	const p = 0.25
	g := NewGraph(true, rand.New(rand.NewPCG(4, 5)))
	ones := tensor.New(tensor.WithShape(37), tensor.WithBacking(slices.Repeat([]float32{1}, 37)))
	x := G.NewTensor(g.Exp, tensor.Float32, 1, G.WithShape(37), G.WithName("x"), G.WithValue(ones))
	y, err := Dropout(g, x, p)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g.Exp)
	defer m.Close()
	rng := rand.New(rand.NewPCG(4, 5))
	mask := make([]float32, 37)
	for run := 0; run < 3; run++ {
		m.Reset()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		DropoutMask(rng, p, mask)
		got := ltData(t, y)
		for i := range mask {
			if got[i] != mask[i] {
				t.Fatalf("run %d element %d: Dropout gave %v, DropoutMask %v", run, i, got[i], mask[i])
			}
		}
	}
	DropoutMask(rng, 1, mask)
	for i, v := range mask {
		if v != 0 {
			t.Fatalf("p = 1: mask[%d] = %v", i, v)
		}
	}
}
