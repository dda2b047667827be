package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestCrossEntropyGrad: the host cross-entropy equals the graph's loss and
// gradient, scales its gradient, and refuses bad sizes and labels.
func TestCrossEntropyGrad(t *testing.T) {
	const n, k = 5, 7
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, n*k)
	for i := range x {
		x[i] = float32(3 * rng.NormFloat64())
	}
	labels := []int{0, 6, 3, 3, 1}
	want, wantGrad := graphLoss(t, x, []int{n, k}, LabelTensor(labels).Data().([]float32), []int{n}, CrossEntropy)
	dx := make([]float32, n*k)
	got, err := CrossEntropyGrad(x, labels, k, 2, dx)
	if err != nil {
		t.Fatal(err)
	}
	if float32(got) != want {
		t.Errorf("loss %v, the graph's %v", got, want)
	}
	for i := range dx {
		if d := math.Abs(float64(dx[i] - 2*wantGrad[i])); d > 1e-7 {
			t.Errorf("gradient %d: %v, want twice the graph's %v", i, dx[i], wantGrad[i])
		}
	}
	if l, err := CrossEntropyGrad(x, labels, k, 1, nil); err != nil || l != got {
		t.Errorf("without a gradient: %v, %v", l, err)
	}
	for name, c := range map[string]struct {
		x      []float32
		labels []int
		dx     []float32
	}{
		"short logits":   {x[:n*k-1], labels, nil},
		"short gradient": {x, labels, dx[:1]},
		"label 7":        {x, []int{0, 7, 0, 0, 0}, nil},
		"label -1":       {x, []int{0, -1, 0, 0, 0}, nil},
		"no rows":        {nil, nil, nil},
		"infinite logit": {append([]float32{float32(math.Inf(1))}, x[1:]...), labels, nil},
	} {
		if _, err := CrossEntropyGrad(c.x, c.labels, k, 1, c.dx); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestBCEWithLogitsGrad: the host BCEWithLogits equals the graph's loss and
// gradient, scales its gradient, and refuses bad sizes and pos_weights.
func TestBCEWithLogitsGrad(t *testing.T) {
	const n = 6
	x := []float32{-3, -0.5, 0, 0.25, 2, 40}
	y := []float32{0, 1, 1, 0, 0.3, 1}
	const pw = 2.5
	want, wantGrad := graphLoss(t, x, []int{n}, y, []int{n}, func(l, t *G.Node) (*G.Node, error) { return BCEWithLogits(l, t, pw) })
	dx := make([]float32, n)
	got, err := BCEWithLogitsGrad(x, y, pw, 0.5, dx)
	if err != nil {
		t.Fatal(err)
	}
	if float32(got) != want {
		t.Errorf("loss %v, the graph's %v", got, want)
	}
	for i := range dx {
		if d := math.Abs(float64(dx[i] - wantGrad[i]/2)); d > 1e-7 {
			t.Errorf("gradient %d: %v, want half the graph's %v", i, dx[i], wantGrad[i])
		}
	}
	for name, c := range map[string]struct {
		x, y, dx []float32
		pw       float32
	}{
		"short targets":  {x, y[1:], nil, 1},
		"short gradient": {x, y, dx[1:], 1},
		"empty":          {nil, nil, nil, 1},
		"negative pw":    {x, y, nil, -1},
		"NaN logit":      {[]float32{float32(math.NaN())}, []float32{1}, nil, 1},
	} {
		if _, err := BCEWithLogitsGrad(c.x, c.y, c.pw, 1, c.dx); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// graphLoss runs loss(logits, y) in a graph and returns the loss and its
// gradient with respect to the logits.
func graphLoss(t *testing.T, x []float32, xs []int, y []float32, ys []int, loss func(logits, y *G.Node) (*G.Node, error)) (float32, []float32) {
	t.Helper()
	g := NewGraph(true, nil)
	logits, yn := g.Input("logits", xs...), g.Input("y", ys...)
	l, err := loss(logits, yn)
	if err != nil {
		t.Fatal(err)
	}
	grads, err := G.Grad(l, logits)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g.Exp)
	defer m.Close()
	for _, f := range []struct {
		n     *G.Node
		v     []float32
		shape []int
	}{{logits, x, xs}, {yn, y, ys}} {
		if err := G.Let(f.n, tensor.New(tensor.WithShape(f.shape...), tensor.WithBacking(append([]float32(nil), f.v...)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	v, _ := ScalarValue(l.Value())
	return v, append([]float32(nil), grads[0].Value().Data().([]float32)...)
}
