package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/conv3d"
	"github.com/vidssl/vidssl/internal/golden"
	"github.com/vidssl/vidssl/internal/gradcheck"
	"github.com/vidssl/vidssl/internal/tensorcmp"
)

// convGoldenTensor returns golden tensor name of file as a float32 tensor.
func convGoldenTensor(t *testing.T, file string, m map[string]golden.Tensor, name string) *tensor.Dense {
	t.Helper()
	g, ok := m[name]
	if !ok {
		t.Fatalf("%s: no tensor %q", file, name)
	}
	return tensor.New(tensor.WithShape(g.Shape...), tensor.WithBacking(g.Float32()))
}

// convGoldenInts returns a small golden vector (stride, padding) as ints.
func convGoldenInts(t *testing.T, file string, m map[string]golden.Tensor, name string) [3]int {
	t.Helper()
	g, ok := m[name]
	if !ok || len(g.Data) != 3 {
		t.Fatalf("%s: %q is not a 3-vector", file, name)
	}
	return [3]int{int(g.Data[0]), int(g.Data[1]), int(g.Data[2])}
}

// convApprox compares got against want as tensorcmp.Approx does: relative
// tolerance 1e-4 and an absolute tolerance of 1e-5 times want's largest
// magnitude (for values that cancel to near zero).
func convApprox(t *testing.T, what string, want, got *tensor.Dense) {
	t.Helper()
	if !want.Shape().Eq(got.Shape()) {
		t.Errorf("%s: shape %v, want %v", what, got.Shape(), want.Shape())
		return
	}
	tensorcmp.Approx(t, what, want.Data().([]float32), got.Data().([]float32))
}

// convRunGrad builds out = build(inputs), runs it and backpropagates r through
// it, returning the output and the gradients of the inputs whose wrt is true.
func convRunGrad(t *testing.T, build func(in []*G.Node) (*G.Node, error), inputs []*tensor.Dense, wrt []bool, r *tensor.Dense) (*tensor.Dense, []*tensor.Dense) {
	t.Helper()
	g := G.NewGraph()
	nodes := make([]*G.Node, len(inputs))
	var wrtNodes G.Nodes
	for i, in := range inputs {
		s := in.Shape()
		nodes[i] = G.NewTensor(g, tensor.Float32, s.Dims(), G.WithShape(s.Clone()...), G.WithValue(in), G.WithName(fmt.Sprintf("in%d", i)))
		if wrt[i] {
			wrtNodes = append(wrtNodes, nodes[i])
		}
	}
	out, err := build(nodes)
	if err != nil {
		t.Fatal(err)
	}
	rs := r.Shape()
	rn := G.NewTensor(g, tensor.Float32, rs.Dims(), G.WithShape(rs.Clone()...), G.WithValue(r), G.WithName("R"))
	grads, err := G.Backpropagate(G.Nodes{out}, G.Nodes{rn}, wrtNodes)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	res := make([]*tensor.Dense, len(grads))
	for i, gn := range grads {
		res[i] = gn.Value().(*tensor.Dense).Clone().(*tensor.Dense)
	}
	return out.Value().(*tensor.Dense).Clone().(*tensor.Dense), res
}

// convBlockSizes runs f under each of the kernels' paths (conv3d.AllPaths).
func convBlockSizes(t *testing.T, f func(t *testing.T)) {
	for _, p := range conv3d.AllPaths() {
		t.Run(p.String(), func(t *testing.T) { p.Use(func() { f(t) }) })
	}
}

func TestConv3dGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/conv/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			m, err := golden.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			x := convGoldenTensor(t, file, m, "x")
			w := convGoldenTensor(t, file, m, "w")
			r := convGoldenTensor(t, file, m, "R")
			cfg := ConvConfig{Name: name, Stride: convGoldenInts(t, file, m, "stride"), Padding: convGoldenInts(t, file, m, "padding")}
			inputs := []*tensor.Dense{x, w}
			_, hasBias := m["b"]
			if hasBias {
				inputs = append(inputs, convGoldenTensor(t, file, m, "b"))
			}
			build := func(in []*G.Node) (*G.Node, error) {
				var b *G.Node
				if hasBias {
					b = in[2]
				}
				return Conv3d(in[0], in[1], b, cfg)
			}
			convBlockSizes(t, func(t *testing.T) {
				wrt := []bool{true, true, true}[:len(inputs)]
				y, grads := convRunGrad(t, build, inputs, wrt, r)
				convApprox(t, "y", convGoldenTensor(t, file, m, "y"), y)
				convApprox(t, "dx", convGoldenTensor(t, file, m, "dx"), grads[0])
				convApprox(t, "dw", convGoldenTensor(t, file, m, "dw"), grads[1])
				if hasBias {
					convApprox(t, "db", convGoldenTensor(t, file, m, "db"), grads[2])
				}
			})
		})
	}
}

func TestConv3dGradient(t *testing.T) {
	cases := []struct {
		name           string
		x, w           []int
		stride, pad    [3]int
		bias           bool
		smallBlocks    bool
		wantInputGrads bool
	}{
		{name: "3x3x3", x: []int{2, 2, 4, 5, 4}, w: []int{3, 2, 3, 3, 3}, stride: [3]int{1, 1, 1}, pad: [3]int{1, 1, 1}, bias: true},
		{name: "stride2", x: []int{1, 3, 5, 6, 7}, w: []int{2, 3, 3, 3, 3}, stride: [3]int{2, 2, 2}, pad: [3]int{1, 0, 1}},
		{name: "stem", x: []int{1, 3, 3, 9, 8}, w: []int{2, 3, 3, 7, 7}, stride: [3]int{1, 2, 2}, pad: [3]int{1, 3, 3}, bias: true},
		{name: "1x1x1", x: []int{2, 4, 2, 3, 3}, w: []int{3, 4, 1, 1, 1}, bias: true},
		{name: "1x1x1s2", x: []int{2, 4, 3, 4, 5}, w: []int{3, 4, 1, 1, 1}, stride: [3]int{2, 2, 2}},
		{name: "blocks", x: []int{2, 2, 4, 5, 4}, w: []int{3, 2, 2, 3, 2}, stride: [3]int{1, 2, 1}, pad: [3]int{0, 1, 1}, bias: true, smallBlocks: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			paths := conv3d.CurrentPaths()
			if c.smallBlocks {
				paths.BlockFloats, paths.MinBlockCols = 16, 1
			}
			rng := rand.New(rand.NewPCG(3, uint64(len(c.name))))
			inputs := []*tensor.Dense{randTensor(rng, 0, c.x...), randTensor(rng, 0, c.w...)}
			if c.bias {
				inputs = append(inputs, randTensor(rng, 0, c.w[0]))
			}
			cfg := ConvConfig{Name: c.name, Stride: c.stride, Padding: c.pad}
			var err error
			paths.Use(func() {
				err = gradcheck.Check(func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
					var b *G.Node
					if c.bias {
						b = in[2]
					}
					return Conv3d(in[0], in[1], b, cfg)
				}, inputs, []bool{true, true, true}[:len(inputs)], gradcheck.Options{Eps: 1e-2, Samples: 32})
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestConv3dNoInputGrad checks that a layer without an input gradient still
// gives the weight's gradient, and creates no input-gradient node.
func TestConv3dNoInputGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	layer := NewConv3dLayer("stem.0", 3, 4, [3]int{3, 3, 3}, [3]int{1, 2, 2}, [3]int{1, 1, 1}, false, rng)
	layer.NoInputGrad = true
	g := NewGraph(true, nil)
	x := g.Input("x", 1, 3, 4, 6, 6)
	if err := G.Let(x, randTensor(rng, 0, 1, 3, 4, 6, 6)); err != nil {
		t.Fatal(err)
	}
	y, err := layer.Forward(g, x)
	if err != nil {
		t.Fatal(err)
	}
	r := randTensor(rng, 0, shapeOf(y)...)
	rn := G.NewTensor(g.Exp, tensor.Float32, 5, G.WithShape(shapeOf(y)...), G.WithValue(r), G.WithName("R"))
	_, wn := g.Learnables()
	grads, err := G.Backpropagate(G.Nodes{y}, G.Nodes{rn}, wn)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range g.Exp.AllNodes() {
		if n.Op() != nil && strings.HasPrefix(n.Op().String(), "Conv3dGradInput") {
			t.Errorf("graph has an input-gradient node %v", n)
		}
	}
	m := G.NewTapeMachine(g.Exp)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	// Compare with the layer's gradient computed with NoInputGrad unset.
	_, want := convRunGrad(t, func(in []*G.Node) (*G.Node, error) {
		return Conv3d(in[0], in[1], nil, ConvConfig{Stride: layer.Stride, Padding: layer.Padding})
	}, []*tensor.Dense{x.Value().(*tensor.Dense), layer.Weight.Value}, []bool{false, true}, r)
	convApprox(t, "dw", want[0], grads[0].Value().(*tensor.Dense))

	// Asking for the input's gradient through such a layer is an error.
	g2 := NewGraph(true, nil)
	x2 := g2.Input("x", 1, 3, 4, 6, 6)
	y2, err := layer.Forward(g2, x2)
	if err != nil {
		t.Fatal(err)
	}
	r2 := G.NewTensor(g2.Exp, tensor.Float32, 5, G.WithShape(shapeOf(y2)...), G.WithName("R"))
	if _, err := G.Backpropagate(G.Nodes{y2}, G.Nodes{r2}, G.Nodes{x2}); err == nil {
		t.Error("input gradient through a NoInputGrad layer: no error")
	}
}

func TestConv3dErrors(t *testing.T) {
	cases := []struct {
		name    string
		x, w, b []int
		cfg     ConvConfig
		want    string
	}{
		{"rank x", []int{2, 3, 8, 8}, []int{4, 3, 3, 3, 3}, nil, ConvConfig{Name: "c1"}, `nn: Conv3d "c1": input (2, 3, 8, 8) has rank 4, want 5`},
		{"rank w", []int{1, 3, 4, 8, 8}, []int{4, 3, 3, 3}, nil, ConvConfig{Name: "c2"}, `weight (4, 3, 3, 3) has rank 4`},
		{"channels", []int{1, 3, 4, 8, 8}, []int{4, 2, 3, 3, 3}, nil, ConvConfig{Name: "layer1.0.conv1"}, `nn: Conv3d "layer1.0.conv1": input (1, 3, 4, 8, 8) has 3 channels but weight (4, 2, 3, 3, 3) expects 2`},
		{"bias", []int{1, 3, 4, 8, 8}, []int{4, 3, 3, 3, 3}, []int{3}, ConvConfig{Name: "c3"}, `bias (3) does not match weight (4, 3, 3, 3, 3)`},
		{"kernel", []int{1, 3, 2, 8, 8}, []int{4, 3, 3, 3, 3}, nil, ConvConfig{Name: "c4"}, `kernel (3, 3, 3) is larger than the padded input (2, 8, 8)`},
		{"stride", []int{1, 3, 4, 8, 8}, []int{4, 3, 3, 3, 3}, nil, ConvConfig{Name: "c5", Stride: [3]int{1, -1, 1}}, `stride [1 -1 1] must be positive`},
		{"padding", []int{1, 3, 4, 8, 8}, []int{4, 3, 3, 3, 3}, nil, ConvConfig{Name: "c6", Padding: [3]int{0, -1, 0}}, `padding [0 -1 0] must not be negative`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := G.NewGraph()
			x := G.NewTensor(g, tensor.Float32, len(c.x), G.WithShape(c.x...), G.WithName("x"))
			w := G.NewTensor(g, tensor.Float32, len(c.w), G.WithShape(c.w...), G.WithName("w"))
			var b *G.Node
			if c.b != nil {
				b = G.NewTensor(g, tensor.Float32, len(c.b), G.WithShape(c.b...), G.WithName("b"))
			}
			_, err := Conv3d(x, w, b, c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// TestConv3dDoErrors checks that values not matching the graph's shapes are
// errors, not panics.
func TestConv3dDoErrors(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 5, G.WithShape(1, 2, 3, 4, 4), G.WithName("x"))
	w := G.NewTensor(g, tensor.Float32, 5, G.WithShape(3, 2, 1, 1, 1), G.WithName("w"))
	y, err := Conv3d(x, w, nil, ConvConfig{Name: "c"})
	if err != nil {
		t.Fatal(err)
	}
	op := y.Op()
	if _, err := op.Do(newFloat32(1, 2, 3, 4, 5), newFloat32(3, 2, 1, 1, 1)); err == nil || !strings.Contains(err.Error(), "input is (1, 2, 3, 4, 5), want (1, 2, 3, 4, 4)") {
		t.Errorf("Do with a wrong input: %v", err)
	}
	if _, err := op.Do(newFloat32(1, 2, 3, 4, 4)); err == nil {
		t.Errorf("Do with one input: no error")
	}
	if _, err := op.Do(tensor.New(tensor.WithShape(1, 2, 3, 4, 4), tensor.Of(tensor.Float64)), newFloat32(3, 2, 1, 1, 1)); err == nil {
		t.Errorf("Do with float64: no error")
	}
}

// TestConv3dOpString checks that ops of different layers or attributes differ
// in String (and so in hash), since gorgonia de-duplicates nodes by hash.
func TestConv3dOpString(t *testing.T) {
	mk := func(name string, stride, pad [3]int, bias bool) string {
		geo, err := newConvGeom(name, []int{1, 2, 5, 5, 5}, []int{3, 2, 3, 3, 3}, []int{3}, bias, stride, pad)
		if err != nil {
			t.Fatal(err)
		}
		return (&conv3dOp{opBase: opBase{name: name}, geo: geo, bias: bias}).String()
	}
	base := mk("a", [3]int{1, 1, 1}, [3]int{1, 1, 1}, false)
	for _, other := range []string{
		mk("b", [3]int{1, 1, 1}, [3]int{1, 1, 1}, false),
		mk("a", [3]int{1, 2, 1}, [3]int{1, 1, 1}, false),
		mk("a", [3]int{1, 1, 1}, [3]int{1, 0, 1}, false),
		mk("a", [3]int{1, 1, 1}, [3]int{1, 1, 1}, true),
	} {
		if other == base {
			t.Errorf("ops print alike: %s", base)
		}
	}
	if !strings.Contains(base, `"a"`) || !strings.Contains(base, "stride=[1 1 1]") || !strings.Contains(base, "pad=[1 1 1]") || !strings.Contains(base, "w=(3, 2, 3, 3, 3)") {
		t.Errorf("String %s lacks an attribute", base)
	}
}

func TestConv3dLayer(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	l := NewConv3dLayer("layer2.0.downsample.0", 64, 128, [3]int{1, 1, 1}, [3]int{2, 2, 2}, [3]int{}, false, rng)
	ps := l.Params()
	if len(ps) != 1 || ps[0].Name != "layer2.0.downsample.0.weight" || !tensor.Shape(ps[0].Shape()).Eq(tensor.Shape{128, 64, 1, 1, 1}) {
		t.Fatalf("params %v", ps)
	}
	// kaiming_normal_(mode="fan_out"): std = sqrt(2 / (128*1)).
	var s2 float64
	for _, v := range ps[0].Data() {
		s2 += float64(v) * float64(v)
	}
	std := math.Sqrt(s2 / float64(len(ps[0].Data())))
	if want := math.Sqrt(2.0 / 128); math.Abs(std-want) > 0.05*want {
		t.Errorf("weight std %.4f, want %.4f", std, want)
	}
	lb := NewConv3dLayer("head", 4, 2, [3]int{3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}, true, rng)
	if ps := lb.Params(); len(ps) != 2 || ps[1].Name != "head.bias" || ps[1].Data()[0] != 0 {
		t.Fatalf("params with bias %v", ps)
	}
	g := NewGraph(false, nil)
	x := g.Input("x", 2, 64, 4, 8, 8)
	y, err := l.Forward(g, x)
	if err != nil {
		t.Fatal(err)
	}
	if got := y.Shape(); !got.Eq(tensor.Shape{2, 128, 2, 4, 4}) {
		t.Errorf("output shape %v", got)
	}
}
