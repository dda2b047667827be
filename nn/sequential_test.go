package nn

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// seqAdd is a test Module adding a Param of the input's shape.
type seqAdd struct{ b *Param }

func (m seqAdd) Forward(g *Graph, x *G.Node) (*G.Node, error) { return G.Add(x, g.Bind(m.b)) }
func (m seqAdd) Params() []*Param                             { return []*Param{m.b} }

// seqFail is a test Module that always fails.
type seqFail struct{}

func (seqFail) Forward(*Graph, *G.Node) (*G.Node, error) { return nil, errors.New("boom") }
func (seqFail) Params() []*Param                         { return nil }

func TestSequential(t *testing.T) {
	b1, b2 := NewParam("l0.bias", 4), NewParam("l2.bias", 4)
	copy(b1.Data(), []float32{1, -5, 0.5, -1})
	copy(b2.Data(), []float32{10, 20, 30, 40})
	rm := NewBuffer("l2.running_mean", 4)
	seq := NewSequential(seqAdd{b1}, ReLULayer{}).Append(seqAdd{b2})
	g := NewGraph(false, nil)
	x := G.NewTensor(g.Exp, tensor.Float32, 1, G.WithShape(4), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(4), tensor.WithBacking([]float32{1, 2, 3, 4}))))
	y, err := seq.Forward(g, x)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g.Exp)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]float32{12, 20, 33.5, 43}, y.Value().Data().([]float32)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	ps := append(seq.Params(), rm)
	if !seqSame(ps, b1, b2, rm) {
		t.Errorf("Params = %v", seqNames(ps))
	}
	if got := Learnable(ps); !seqSame(got, b1, b2) {
		t.Errorf("Learnable = %v", seqNames(got))
	}
	if got := Buffers(ps); !seqSame(got, rm) {
		t.Errorf("Buffers = %v", seqNames(got))
	}
	byName, err := ParamsByName(ps)
	if err != nil || byName["l2.bias"] != b2 || len(byName) != 3 {
		t.Errorf("ParamsByName = %v, %v", byName, err)
	}
	if _, err := ParamsByName([]*Param{b1, b1}); err == nil || !strings.Contains(err.Error(), `duplicate name "l0.bias"`) {
		t.Errorf("ParamsByName duplicates: %v", err)
	}
	// Sequential is a Module, so Sequentials nest.
	var _ Module = seq
	outer := NewSequential(seq, NewSequential())
	if len(outer.Params()) != 2 {
		t.Errorf("nested Params: %v", outer.Params())
	}
}

func TestSequentialErrors(t *testing.T) {
	g := NewGraph(false, nil)
	x := g.Input("x", 2)
	_, err := NewSequential(ReLULayer{}, seqFail{}).Forward(g, x)
	if err == nil || !strings.Contains(err.Error(), "layer 1 (nn.seqFail): boom") {
		t.Errorf("failing layer: %v", err)
	}
	_, err = NewSequential(nil).Forward(g, x)
	if err == nil || !strings.Contains(err.Error(), "layer 0 is nil") {
		t.Errorf("nil layer: %v", err)
	}
	y, err := NewSequential().Forward(g, x)
	if err != nil || y != x {
		t.Errorf("empty Sequential: %v, %v", y, err)
	}
}

// seqSame reports whether ps are exactly the Params want, in order.
func seqSame(ps []*Param, want ...*Param) bool {
	if len(ps) != len(want) {
		return false
	}
	for i := range ps {
		if ps[i] != want[i] {
			return false
		}
	}
	return true
}

func seqNames(ps []*Param) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

// TestOutputShape: the output shape of a module, and errors (not panics)
// for inputs it does not take, empty shapes and a nil module.
func TestOutputShape(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	m := NewSequential(
		NewConv3dLayer("c", 2, 4, [3]int{1, 3, 3}, [3]int{1, 2, 2}, [3]int{0, 1, 1}, false, rng),
		&GlobalAvgPool3dLayer{Name: "p"},
		FlattenLayer{},
		NewLinearLayer("fc", 4, 5, true, rng),
	)
	got, err := OutputShape(m, 3, 2, 4, 8, 8)
	if err != nil || !slices.Equal(got, []int{3, 5}) {
		t.Errorf("OutputShape: %v, %v; want [3 5]", got, err)
	}
	if got, err := OutputShape(NewSequential(), 2, 3); err != nil || !slices.Equal(got, []int{2, 3}) {
		t.Errorf("identity: %v, %v", got, err)
	}
	for _, c := range []struct {
		name  string
		m     Module
		shape []int
		want  string
	}{
		{"channels", m, []int{3, 1, 4, 8, 8}, `Conv3d "c"`},
		{"zero", m, []int{3, 2, 0, 8, 8}, "dimension 2 is 0"},
		{"none", m, nil, "no input dimensions"},
		{"nil", nil, []int{1}, "nil module"},
	} {
		if _, err := OutputShape(c.m, c.shape...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
}
