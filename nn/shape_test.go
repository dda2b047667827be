package nn

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/gradcheck"
)

func TestFlattenAndReshape(t *testing.T) {
	g := NewGraph(false, nil)
	data := make([]float32, 2*3)
	for i := range data {
		data[i] = float32(i)
	}
	x := G.NewTensor(g.Exp, tensor.Float32, 5, G.WithShape(2, 3, 1, 1, 1), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(2, 3, 1, 1, 1), tensor.WithBacking(data))))
	f, err := FlattenLayer{}.Forward(g, x)
	if err != nil {
		t.Fatal(err)
	}
	if s := f.Shape(); len(s) != 2 || s[0] != 2 || s[1] != 3 {
		t.Fatalf("Flatten shape %v, want (2, 3)", s)
	}
	r, err := ReshapeLayer{Shape: []int{-1, 2}}.Forward(g, f)
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Shape(); len(s) != 2 || s[0] != 3 || s[1] != 2 {
		t.Fatalf("Reshape shape %v, want (3, 2)", s)
	}
	ltRun(t, g.Exp)
	for i, v := range ltData(t, r) {
		if v != data[i] {
			t.Fatalf("Reshape data %v, want %v", ltData(t, r), data)
		}
	}

	for _, tc := range []struct {
		shape []int
		want  string
	}{
		{[]int{4, 2}, "sizes differ"},
		{[]int{-1, -1}, "more than one -1"},
		{[]int{-1, 4}, "not divisible"},
		{[]int{6, 0}, "dimension 1 is 0"},
	} {
		if _, err := Reshape(f, tc.shape...); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "[2 3]") {
			t.Errorf("Reshape to %v: error %v, want one containing %q", tc.shape, err, tc.want)
		}
	}
	if _, err := Flatten(g.Input("v", 7)); err == nil {
		t.Error("Flatten of a vector: no error")
	}
}

func TestAdd(t *testing.T) {
	g := NewGraph(false, nil)
	a := G.NewTensor(g.Exp, tensor.Float32, 5, G.WithShape(1, 2, 1, 1, 2), G.WithName("a"), G.WithValue(tensor.New(tensor.WithShape(1, 2, 1, 1, 2), tensor.WithBacking([]float32{1, 2, 3, 4}))))
	b := G.NewTensor(g.Exp, tensor.Float32, 5, G.WithShape(1, 2, 1, 1, 2), G.WithName("b"), G.WithValue(tensor.New(tensor.WithShape(1, 2, 1, 1, 2), tensor.WithBacking([]float32{10, 20, 30, 40}))))
	y, err := Add(a, b)
	if err != nil {
		t.Fatal(err)
	}
	ltRun(t, g.Exp)
	want := []float32{11, 22, 33, 44}
	for i, v := range ltData(t, y) {
		if v != want[i] {
			t.Fatalf("Add = %v, want %v", ltData(t, y), want)
		}
	}
	for _, s := range [][]int{{1, 2, 1, 2, 1}, {4}, {1, 2, 1, 1}} {
		_, err := Add(a, g.Input("c", s...))
		if err == nil || !strings.Contains(err.Error(), "[1 2 1 1 2]") {
			t.Errorf("Add of %v: error %v", s, err)
		}
	}
	_, err = Add(g.Input("col", 4, 1), g.Input("vec", 4))
	if err == nil {
		t.Error("Add of (4, 1) and (4): no error")
	}
	if _, err := AddReLU(g.Input("col2", 4, 1), g.Input("vec2", 4)); err == nil {
		t.Error("AddReLU of (4, 1) and (4): no error")
	}
}

func TestAddReLU(t *testing.T) {
	g := NewGraph(false, nil)
	a := G.NewTensor(g.Exp, tensor.Float32, 2, G.WithShape(2, 2), G.WithName("a"), G.WithValue(tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{1, -2, 3, -4}))))
	b := G.NewTensor(g.Exp, tensor.Float32, 2, G.WithShape(2, 2), G.WithName("b"), G.WithValue(tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{1, 1, -5, 5}))))
	y, err := AddReLU(a, b)
	if err != nil {
		t.Fatal(err)
	}
	ltRun(t, g.Exp)
	if got, want := ltData(t, y), []float32{2, 0, 0, 1}; !cmp.Equal(got, want) {
		t.Errorf("AddReLU = %v, want %v", got, want)
	}
	rng := rand.New(rand.NewPCG(23, 24))
	x := randTensor(rng, 0.2, 2, 3, 2, 2, 1)
	// relu(x + x), with x away from the kink.
	if err := gradcheck.Check(func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) { return AddReLU(in[0], in[0]) },
		[]*tensor.Dense{x}, []bool{true}, gradcheck.Options{Tol: 1e-3}); err != nil {
		t.Error(err)
	}
}

func TestShapeGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	x := randTensor(rng, 0, 2, 3, 2, 2, 1)
	y := randTensor(rng, 0, 2, 3, 2, 2, 1)
	for name, build := range map[string]gradcheck.Build{
		"Flatten": func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) { return Flatten(in[0]) },
		"Reshape": func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) { return Reshape(in[0], 4, -1, 3) },
		"Add":     func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) { return Add(in[0], in[1]) },
		// x + x: one node used twice gets both gradients.
		"AddSelf": func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) { return Add(in[0], in[0]) },
	} {
		if err := gradcheck.Check(build, []*tensor.Dense{x, y}, []bool{true, name == "Add"}, gradcheck.Options{Tol: 1e-3}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
