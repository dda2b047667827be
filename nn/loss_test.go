package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/gradcheck"
)

func TestBCEWithLogitsGolden(t *testing.T) {
	gd := ltLoad(t, "bce.json")
	for _, tag := range []string{"a", "b", "c"} {
		shape := gd["logits_"+tag].Shape
		g := G.NewGraph()
		x := G.NewTensor(g, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName("logits"))
		y := G.NewTensor(g, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName("targets"))
		loss, err := BCEWithLogits(x, y, float32(gd["pos_weight_"+tag].Data[0]))
		if err != nil {
			t.Fatal(err)
		}
		grads, err := G.Grad(loss, x)
		if err != nil {
			t.Fatal(err)
		}
		m := G.NewTapeMachine(g)
		defer m.Close()
		// Run once with other targets, then rebind: the graph is built once.
		ltLet(t, x, ltGolden(t, gd, "logits_"+tag))
		ltLet(t, y, tensor.New(tensor.WithShape(shape...), tensor.Of(tensor.Float32)))
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		first := ltData(t, loss)[0]
		ltLet(t, y, ltGolden(t, gd, "targets_"+tag))
		m.Reset()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		if ltData(t, loss)[0] == first {
			t.Errorf("case %s: rebinding the targets did not change the loss", tag)
		}
		ltClose(t, "BCEWithLogits "+tag, ltData(t, loss), gd, "loss_"+tag)
		ltClose(t, "BCEWithLogits grad "+tag, ltData(t, grads[0]), gd, "grad_"+tag)
	}
}

func TestCrossEntropyGolden(t *testing.T) {
	gd := ltLoad(t, "crossentropy.json")
	for _, tag := range []string{"a", "b"} {
		shape := gd["logits_"+tag].Shape
		g := NewGraph(true, nil)
		x := g.Input("logits", shape...)
		labels := g.Input("labels", shape[0])
		loss, err := CrossEntropy(x, labels)
		if err != nil {
			t.Fatal(err)
		}
		grads, err := G.Grad(loss, x)
		if err != nil {
			t.Fatal(err)
		}
		ints := make([]int, shape[0])
		for i, v := range gd["labels_"+tag].Data {
			ints[i] = int(v)
		}
		ltLet(t, x, ltGolden(t, gd, "logits_"+tag))
		ltLet(t, labels, LabelTensor(ints))
		ltRun(t, g.Exp)
		ltClose(t, "CrossEntropy "+tag, ltData(t, loss), gd, "loss_"+tag)
		ltClose(t, "CrossEntropy grad "+tag, ltData(t, grads[0]), gd, "grad_"+tag)
	}
}

func TestLossGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	logits := randTensor(rng, 0, 6, 1)
	targets := tensor.New(tensor.WithShape(6, 1), tensor.WithBacking([]float32{1, 0, 0.3, 1, 0, 1}))
	err := gradcheck.Check(func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		l, err := BCEWithLogits(in[0], in[1], 3)
		if err != nil {
			return nil, err
		}
		return ltLift(l)
	}, []*tensor.Dense{logits, targets}, []bool{true, false}, gradcheck.Options{Tol: 1e-3})
	if err != nil {
		t.Error("BCEWithLogits:", err)
	}
	x := randTensor(rng, 0, 5, 4)
	err = gradcheck.Check(func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		l, err := CrossEntropy(in[0], in[1])
		if err != nil {
			return nil, err
		}
		return ltLift(l)
	}, []*tensor.Dense{x, LabelTensor([]int{3, 0, 1, 1, 2})}, []bool{true, false}, gradcheck.Options{Tol: 1e-3})
	if err != nil {
		t.Error("CrossEntropy:", err)
	}
}

// ltRunErr builds a loss on constant inputs and returns the error of running it.
func ltRunErr(t *testing.T, build func(g *G.ExprGraph) (*G.Node, error)) error {
	t.Helper()
	g := G.NewGraph()
	if _, err := build(g); err != nil {
		t.Fatalf("build: %v", err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	return m.RunAll()
}

func ltConst(g *G.ExprGraph, name string, shape []int, data []float32) *G.Node {
	return G.NewTensor(g, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))))
}

func TestLossNonFinite(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, tc := range []struct {
		name     string
		logits   []float32
		targets  []float32
		contains []string
	}{
		{"nan logit", []float32{0.5, nan, 1}, []float32{1, 0, 1}, []string{"BCEWithLogits", "loss is NaN", "logits[1] is NaN"}},
		{"inf logit", []float32{0.5, 1, inf}, []float32{1, 0, 1}, []string{"BCEWithLogits", "logits[2] is +Inf"}},
		{"nan target", []float32{0.5, 1, 2}, []float32{1, nan, 1}, []string{"BCEWithLogits", "targets[1] is NaN"}},
	} {
		err := ltRunErr(t, func(g *G.ExprGraph) (*G.Node, error) {
			return BCEWithLogits(ltConst(g, "x", []int{3}, tc.logits), ltConst(g, "y", []int{3}, tc.targets), 1)
		})
		for _, s := range tc.contains {
			if err == nil || !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %v, want one containing %q", tc.name, err, s)
			}
		}
	}
	err := ltRunErr(t, func(g *G.ExprGraph) (*G.Node, error) {
		return CrossEntropy(ltConst(g, "x", []int{2, 2}, []float32{0, 1, nan, 2}), ltConst(g, "y", []int{2}, []float32{0, 1}))
	})
	if err == nil || !strings.Contains(err.Error(), "CrossEntropy") || !strings.Contains(err.Error(), "logits[2] is NaN") {
		t.Errorf("CrossEntropy with NaN: error %v", err)
	}
	// Large finite logits are fine.
	err = ltRunErr(t, func(g *G.ExprGraph) (*G.Node, error) {
		return CrossEntropy(ltConst(g, "x", []int{2, 2}, []float32{1e30, -1e30, -3e38, 3e38}), ltConst(g, "y", []int{2}, []float32{0, 1}))
	})
	if err != nil {
		t.Errorf("CrossEntropy with huge finite logits: %v", err)
	}
}

func TestLossShapeAndLabelErrors(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 2, G.WithShape(4, 1), G.WithName("x"))
	y := G.NewTensor(g, tensor.Float32, 1, G.WithShape(4), G.WithName("y"))
	if _, err := BCEWithLogits(x, y, 1); err == nil || !strings.Contains(err.Error(), "[4 1]") || !strings.Contains(err.Error(), "[4]") {
		t.Errorf("BCE shape mismatch: error %v", err)
	}
	if _, err := BCEWithLogits(x, x, float32(math.Inf(1))); err == nil {
		t.Error("BCE with infinite pos_weight: no error")
	}
	if _, err := CrossEntropy(x, G.NewTensor(g, tensor.Float32, 1, G.WithShape(3), G.WithName("l"))); err == nil || !strings.Contains(err.Error(), "[4 1]") || !strings.Contains(err.Error(), "[3]") {
		t.Errorf("CrossEntropy shape mismatch: error %v", err)
	}
	for _, tc := range []struct {
		labels []float32
		want   string
	}{
		{[]float32{0, 3, 1}, "labels[1] = 3"},
		{[]float32{0, 1, -1}, "labels[2] = -1"},
		{[]float32{0.5, 1, 1}, "labels[0] = 0.5"},
	} {
		err := ltRunErr(t, func(g *G.ExprGraph) (*G.Node, error) {
			return CrossEntropy(ltConst(g, "x", []int{3, 3}, make([]float32, 9)), ltConst(g, "y", []int{3}, tc.labels))
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "[0, 3)") {
			t.Errorf("labels %v: error %v, want one containing %q", tc.labels, err, tc.want)
		}
	}
}
