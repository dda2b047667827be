package nn

import (
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
)

// TestTraceResidual: a value with two consumers is traced once, before
// both, and ops keep their attributes and Params.
func TestTraceResidual(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	conv := NewConv3dLayer("c", 2, 2, [3]int{3, 1, 1}, [3]int{2, 1, 1}, [3]int{1, 0, 0}, false, rng)
	bn := NewBatchNorm3dLayer("b", 2)
	g := NewGraph(true, nil)
	x := g.Input("x", 2, 2, 4, 3, 3)
	a, _ := ReLU(x)
	c, err := conv.Forward(g, a)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := bn.Forward(g, c)
	p, err := MaxPool3d(a, PoolConfig{Name: "p", Kernel: [3]int{2, 1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	y, err := AddReLU(d, p)
	if err != nil {
		t.Fatal(err)
	}
	tape, err := g.Trace([]*G.Node{x}, y)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, op := range tape.Ops {
		kinds = append(kinds, op.Kind.String())
	}
	if got, want := strings.Join(kinds, " "), "ReLU Conv3d BatchNorm3d MaxPool3d Add"; got != want {
		t.Fatalf("ops %q, want %q", got, want)
	}
	relu, cv, pool, add := tape.Ops[0], tape.Ops[1], tape.Ops[3], tape.Ops[4]
	if cv.In[0] != relu.Out || pool.In[0] != relu.Out || add.In[0] != tape.Ops[2].Out || add.In[1] != pool.Out || !add.ReLU {
		t.Errorf("wiring: %+v", tape.Ops)
	}
	if cv.Weight != conv.Weight || cv.Stride != [3]int{2, 1, 1} || cv.Padding != [3]int{1, 0, 0} || tape.Ops[2].BatchNorm != bn {
		t.Errorf("conv %+v, bn %+v", cv, tape.Ops[2])
	}
	if pool.Kernel != [3]int{2, 1, 1} || pool.Stride != [3]int{2, 1, 1} {
		t.Errorf("pool %+v: want the stride resolved to the kernel", pool)
	}
	if len(tape.Inputs) != 1 || tape.Inputs[0] != 0 || tape.Outputs[0] != add.Out || len(tape.Shapes) != 6 {
		t.Errorf("inputs %v, outputs %v, %d values", tape.Inputs, tape.Outputs, len(tape.Shapes))
	}
	if ps := tape.Params(); len(ps) != 6 || ps[0] != conv.Weight || ps[5] != bn.NumBatchesTracked {
		t.Errorf("params %v", ps)
	}
}

func TestTraceErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	fc := NewLinearLayer("fc", 3, 2, true, rng)
	g := NewGraph(true, rng)
	x := g.Input("x", 2, 3)
	other := g.Input("other", 2, 3)
	y, err := fc.Forward(g, x)
	if err != nil {
		t.Fatal(err)
	}
	sum := G.Must(G.Add(y, y))
	z, err := fc.Forward(g, other)
	if err != nil {
		t.Fatal(err)
	}
	dropped, err := Dropout(g, y, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	w := g.Bind(fc.Weight)
	for _, c := range []struct {
		name    string
		inputs  []*G.Node
		outputs []*G.Node
		want    string
	}{
		{"no outputs", []*G.Node{x}, nil, "no outputs"},
		{"gorgonia op", []*G.Node{x}, []*G.Node{sum}, "has no tape form"},
		{"dropout", []*G.Node{x}, []*G.Node{dropped}, "has no tape form"},
		{"unknown leaf", []*G.Node{x}, []*G.Node{z}, `node "other" is neither an input nor a bound Param`},
		{"param input", []*G.Node{w}, []*G.Node{y}, "is a Param"},
		{"input twice", []*G.Node{x, x}, []*G.Node{y}, "given twice"},
		{"param output", []*G.Node{x}, []*G.Node{w}, "is used as a data input"},
	} {
		if _, err := g.Trace(c.inputs, c.outputs...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
}
