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

func TestLinearGolden(t *testing.T) {
	gd := ltLoad(t, "linear.json")
	l := &LinearLayer{Name: "fc", Weight: NewParam("fc.weight", gd["weight"].Shape...), Bias: NewParam("fc.bias", gd["bias"].Shape...)}
	copy(l.Weight.Data(), gd["weight"].Float32())
	copy(l.Bias.Data(), gd["bias"].Float32())
	g := NewGraph(true, nil)
	x := g.Input("x", gd["x"].Shape...)
	dy := g.Input("dy", gd["dy"].Shape...)
	y, err := l.Forward(g, x)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := ltWeightedSum(y, dy)
	if err != nil {
		t.Fatal(err)
	}
	_, learn := g.Learnables()
	grads, err := G.Grad(loss, append(G.Nodes{x}, learn...)...)
	if err != nil {
		t.Fatal(err)
	}
	ltLet(t, x, ltGolden(t, gd, "x"))
	ltLet(t, dy, ltGolden(t, gd, "dy"))
	ltRun(t, g.Exp)
	ltClose(t, "y", ltData(t, y), gd, "y")
	ltClose(t, "dx", ltData(t, grads[0]), gd, "dx")
	ltClose(t, "dweight", ltData(t, grads[1]), gd, "dweight")
	ltClose(t, "dbias", ltData(t, grads[2]), gd, "dbias")
}

func TestLinearGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	x := randTensor(rng, 0, 4, 6)
	w := randTensor(rng, 0, 3, 6)
	b := randTensor(rng, 0, 3)
	err := gradcheck.Check(func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		return Linear(in[0], in[1], in[2])
	}, []*tensor.Dense{x, w, b}, []bool{true, true, true}, gradcheck.Options{Tol: 1e-3})
	if err != nil {
		t.Fatal(err)
	}
	err = gradcheck.Check(func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		return Linear(in[0], in[1], nil)
	}, []*tensor.Dense{x, w}, []bool{true, true}, gradcheck.Options{Tol: 1e-3})
	if err != nil {
		t.Fatal("no bias:", err)
	}
}

func TestNewLinearLayer(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	l := NewLinearLayer("head.0", 512, 256, false, rng)
	if l.Bias != nil || len(l.Params()) != 1 || l.Weight.Name != "head.0.weight" {
		t.Fatalf("no-bias layer: params %v", l.Params())
	}
	if s := l.Weight.Shape(); s[0] != 256 || s[1] != 512 {
		t.Fatalf("weight shape %v, want [256 512]", s)
	}
	bound := float32(1 / math.Sqrt(512))
	var lo, hi float32
	for _, v := range l.Weight.Data() {
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo < -bound || hi > bound || hi < 0.9*bound || lo > -0.9*bound {
		t.Errorf("weights span [%v, %v], want about [-%v, %v]", lo, hi, bound, bound)
	}
	fc := NewLinearLayer("fc", 512, 1, true, rng)
	if fc.Bias == nil || fc.Bias.Name != "fc.bias" || len(fc.Params()) != 2 {
		t.Fatalf("bias layer: params %v", fc.Params())
	}
	if b := fc.Bias.Data()[0]; b < -bound || b > bound || b == 0 {
		t.Errorf("bias %v, want a draw from U(-%v, %v)", b, bound, bound)
	}

	g := NewGraph(false, nil)
	y, err := fc.Forward(g, g.Input("x", 3, 512))
	if err != nil {
		t.Fatal(err)
	}
	if s := y.Shape(); s[0] != 3 || s[1] != 1 {
		t.Errorf("output shape %v, want (3, 1)", s)
	}
	_, err = fc.Forward(g, g.Input("h", 3, 500))
	if err == nil || !strings.Contains(err.Error(), "[3 500]") || !strings.Contains(err.Error(), "[1 512]") || !strings.Contains(err.Error(), "fc") {
		t.Errorf("mismatched input: error %v", err)
	}
}
