package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/blas"
	"github.com/vidssl/vidssl/internal/golden"
	"github.com/vidssl/vidssl/internal/gradcheck"
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

// convApprox compares got against want with relative tolerance 1e-4 and an
// absolute tolerance of 1e-5 times want's largest magnitude (for values that
// cancel to near zero).
func convApprox(t *testing.T, what string, want, got *tensor.Dense) {
	t.Helper()
	if !want.Shape().Eq(got.Shape()) {
		t.Errorf("%s: shape %v, want %v", what, got.Shape(), want.Shape())
		return
	}
	w, g := want.Data().([]float32), got.Data().([]float32)
	var scale float64
	for _, v := range w {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	opt := cmpopts.EquateApprox(1e-4, 1e-5*math.Max(scale, 1e-3))
	if !cmp.Equal(w, g, opt) {
		bad := 0
		first := -1
		for i := range w {
			if !cmp.Equal(w[i], g[i], opt) {
				bad++
				if first < 0 {
					first = i
				}
			}
		}
		t.Errorf("%s: %d of %d values differ; first at %d: got %g, want %g", what, bad, len(w), first, g[first], w[first])
	}
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

// convBlockSizes runs f with each lowering (implicit GEMM, for every
// weight gradient it can compute too, row-shift or strided pointwise where
// they apply, and plain vol2col), with and without trimming padding-only taps, with the
// default vol2col block size and a tiny one, which splits every case into
// many blocks, and with and without splitting the batch over goroutines
// (splitItems; the tests' shapes are all small enough for it).
func convBlockSizes(t *testing.T, f func(t *testing.T)) {
	for _, trim := range []bool{true, false} {
		for _, lower := range []string{"implicit", "shift", "vol2col"} {
			shift, implicit := lower != "vol2col", lower == "implicit"
			for _, block := range []int{colBlockFloats, 64} {
				for _, split := range []bool{true, false} {
					t.Run(fmt.Sprintf("trim=%t/%s/block=%d/split=%t", trim, lower, block, split), func(t *testing.T) {
						oldTrim, oldShift, oldBlock, oldMin, oldSplit, oldImplicit, oldForce := useTrim, useShift, colBlockFloats, minBlockCols, itemSplitMaxWork, useImplicit, forceImplicit
						useTrim, useShift, useStrided, colBlockFloats, useImplicit, forceImplicit = trim, shift, shift, block, implicit, implicit
						if block < oldBlock {
							minBlockCols = 1
						}
						if !split {
							itemSplitMaxWork = -1
						}
						defer func() {
							useTrim, useShift, useStrided, colBlockFloats, minBlockCols, itemSplitMaxWork, useImplicit, forceImplicit = oldTrim, oldShift, true, oldBlock, oldMin, oldSplit, oldImplicit, oldForce
						}()
						f(t)
					})
				}
			}
		}
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

// TestConv3dBackends checks the three kernels on every BLAS back end that
// loads (vidssl's SGEMM with its best and its generic micro-kernel and gonum
// always; OpenBLAS when present) against direct definitions, since the
// golden tests only see the default one.
func TestConv3dBackends(t *testing.T) {
	impls := []blas.Impl{blas.Go(), blas.GoGeneric(), blas.Gonum()}
	if ob, err := blas.OpenBLAS(); err == nil {
		impls = append(impls, ob)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for _, c := range []struct {
		x, w        []int
		stride, pad [3]int
	}{
		{[]int{2, 3, 4, 6, 5}, []int{4, 3, 3, 3, 3}, [3]int{1, 2, 1}, [3]int{1, 1, 0}},
		{[]int{2, 5, 3, 4, 5}, []int{4, 5, 1, 1, 1}, [3]int{1, 1, 1}, [3]int{}},
		{[]int{2, 4, 4, 5, 6}, []int{3, 4, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
		{[]int{1, 2, 3, 4, 4}, []int{3, 2, 1, 2, 2}, [3]int{1, 1, 1}, [3]int{1, 2, 2}},
		// Odd batches, split over goroutines in unequal parts.
		{[]int{3, 3, 4, 7, 9}, []int{5, 3, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
		{[]int{5, 3, 3, 9, 7}, []int{4, 3, 3, 7, 7}, [3]int{1, 2, 2}, [3]int{1, 3, 3}},
		{[]int{3, 4, 2, 6, 6}, []int{6, 4, 1, 1, 1}, [3]int{2, 2, 2}, [3]int{}},
		// Strided 1x1x1 (the downsample shortcut; conv3d_strided.go): odd
		// sizes, stride 2 along W only, stride 3, and rows wider than
		// zeroRow can interleave.
		{[]int{2, 3, 3, 5, 7}, []int{4, 3, 1, 1, 1}, [3]int{2, 2, 2}, [3]int{}},
		{[]int{3, 2, 2, 3, 9}, []int{3, 2, 1, 1, 1}, [3]int{1, 1, 2}, [3]int{}},
		{[]int{2, 2, 5, 7, 8}, []int{5, 2, 1, 1, 1}, [3]int{3, 2, 3}, [3]int{}},
		{[]int{1, 2, 1, 2, 2051}, []int{3, 2, 1, 1, 1}, [3]int{1, 2, 2}, [3]int{}},
		// Stride 2 along W under the row-shift lowering (one matrix per
		// phase), with one frame, frames smaller than the kernel and odd
		// widths; 8 output channels (the dot-product weight gradient).
		{[]int{3, 3, 1, 5, 9}, []int{4, 3, 3, 7, 7}, [3]int{1, 2, 2}, [3]int{1, 3, 3}},
		{[]int{2, 2, 2, 4, 3}, []int{8, 2, 3, 3, 3}, [3]int{2, 2, 2}, [3]int{1, 1, 1}},
		{[]int{4, 3, 3, 6, 13}, []int{8, 3, 3, 5, 5}, [3]int{1, 1, 2}, [3]int{1, 2, 2}},
		{[]int{2, 2, 3, 5, 11}, []int{2, 2, 1, 2, 4}, [3]int{1, 1, 3}, [3]int{0, 1, 2}},
		{[]int{1, 2, 2, 3, 3}, []int{8, 2, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}}, // small batch: col2vol
		{[]int{1, 3, 4, 9, 8}, []int{2, 3, 3, 3, 1}, [3]int{2, 3, 2}, [3]int{1, 1, 0}},
		// Kernel taps that read only padding (trimmed): one frame (layer3
		// and layer4 at 4 frames), two frames at stride 2, one row too.
		{[]int{2, 4, 1, 5, 6}, []int{3, 4, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
		{[]int{2, 3, 2, 5, 6}, []int{4, 3, 3, 3, 3}, [3]int{2, 2, 2}, [3]int{1, 1, 1}},
		{[]int{2, 3, 1, 1, 7}, []int{3, 3, 3, 3, 3}, [3]int{2, 1, 1}, [3]int{1, 1, 1}},
		{[]int{1, 2, 1, 1, 1}, []int{3, 2, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
		// Frames whose temporal taps partly read padding (tapRuns): two
		// frames (row-shift), stride 2 (vol2col and col2vol), and frames
		// that read nothing but padding.
		{[]int{2, 3, 2, 5, 6}, []int{4, 3, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
		{[]int{2, 3, 3, 5, 6}, []int{4, 3, 3, 3, 3}, [3]int{2, 1, 2}, [3]int{1, 1, 1}},
		{[]int{1, 2, 1, 3, 3}, []int{3, 2, 1, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
		{[]int{1, 2, 1, 3, 3}, []int{3, 2, 1, 3, 3}, [3]int{1, 1, 2}, [3]int{1, 1, 1}},
	} {
		x, w := randTensor(rng, 0, c.x...), randTensor(rng, 0, c.w...)
		g := convGeomFor(t, x, w, c.stride, c.pad)
		dy := randTensor(rng, 0, g.yShape()...)
		xd, wd, dyd := x.Data().([]float32), w.Data().([]float32), dy.Data().([]float32)
		wantY := make([]float32, g.yShape().TotalSize())
		naiveConv3d(&g, xd, wd, wantY)
		wantDx, wantDw := make([]float32, len(xd)), make([]float32, len(wd))
		naiveConv3dGrads(&g, xd, wd, dyd, wantDx, wantDw)
		for _, bl := range impls {
			t.Run(fmt.Sprintf("%s/%v", bl.Name(), c.w), func(t *testing.T) {
				convBlockSizes(t, func(t *testing.T) {
					y, dx, dw := newFloat32(g.yShape()...), newFloat32(g.xShape()...), newFloat32(g.wShape()...)
					// y and dx must be overwritten whole (ops reuse their
					// output tensors); dw is zeroed by contract.
					for _, d := range [][]float32{y.Data().([]float32), dx.Data().([]float32)} {
						for i := range d {
							d[i] = float32(math.NaN())
						}
					}
					conv3dForward(bl, &g, xd, wd, nil, y.Data().([]float32))
					conv3dBackwardData(bl, &g, wd, dyd, dx.Data().([]float32))
					conv3dBackwardFilter(bl, &g, xd, dyd, dw.Data().([]float32))
					convApprox(t, "y", tensor.New(tensor.WithShape(g.yShape()...), tensor.WithBacking(wantY)), y)
					convApprox(t, "dx", tensor.New(tensor.WithShape(g.xShape()...), tensor.WithBacking(wantDx)), dx)
					convApprox(t, "dw", tensor.New(tensor.WithShape(g.wShape()...), tensor.WithBacking(wantDw)), dw)
				})
			})
		}
	}
}

// naiveConv3dGrads computes the input and weight gradients of the
// convolution for the output gradient dy by their definitions, for tests.
func naiveConv3dGrads(g *convGeom, x, w, dy, dx, dw []float32) {
	gx, gw := make([]float64, len(dx)), make([]float64, len(dw))
	for n := 0; n < g.n; n++ {
		for co := 0; co < g.cout; co++ {
			for to := 0; to < g.ot; to++ {
				for ho := 0; ho < g.oh; ho++ {
					for wo := 0; wo < g.ow; wo++ {
						d := float64(dy[(((n*g.cout+co)*g.ot+to)*g.oh+ho)*g.ow+wo])
						for ci := 0; ci < g.cin; ci++ {
							for kt := 0; kt < g.kt; kt++ {
								for kh := 0; kh < g.kh; kh++ {
									for kw := 0; kw < g.kw; kw++ {
										ti, hi, wi := to*g.st-g.pt+kt, ho*g.sh-g.ph+kh, wo*g.sw-g.pw+kw
										if ti < 0 || ti >= g.t || hi < 0 || hi >= g.h || wi < 0 || wi >= g.w {
											continue
										}
										xi := (((n*g.cin+ci)*g.t+ti)*g.h+hi)*g.w + wi
										wj := (((co*g.cin+ci)*g.kt+kt)*g.kh+kh)*g.kw + kw
										gx[xi] += d * float64(w[wj])
										gw[wj] += d * float64(x[xi])
									}
								}
							}
						}
					}
				}
			}
		}
	}
	for i, v := range gx {
		dx[i] = float32(v)
	}
	for i, v := range gw {
		dw[i] = float32(v)
	}
}

func convGeomFor(t *testing.T, x, w *tensor.Dense, stride, pad [3]int) convGeom {
	t.Helper()
	g, err := newConvGeom("test", x.Shape(), w.Shape(), nil, false, stride, pad)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// naiveConv3d is the definition of the convolution, for tests.
func naiveConv3d(g *convGeom, x, w, y []float32) {
	for n := 0; n < g.n; n++ {
		for co := 0; co < g.cout; co++ {
			for to := 0; to < g.ot; to++ {
				for ho := 0; ho < g.oh; ho++ {
					for wo := 0; wo < g.ow; wo++ {
						var s float64
						for ci := 0; ci < g.cin; ci++ {
							for kt := 0; kt < g.kt; kt++ {
								for kh := 0; kh < g.kh; kh++ {
									for kw := 0; kw < g.kw; kw++ {
										ti, hi, wi := to*g.st-g.pt+kt, ho*g.sh-g.ph+kh, wo*g.sw-g.pw+kw
										if ti < 0 || ti >= g.t || hi < 0 || hi >= g.h || wi < 0 || wi >= g.w {
											continue
										}
										s += float64(x[(((n*g.cin+ci)*g.t+ti)*g.h+hi)*g.w+wi]) * float64(w[(((co*g.cin+ci)*g.kt+kt)*g.kh+kh)*g.kw+kw])
									}
								}
							}
						}
						y[(((n*g.cout+co)*g.ot+to)*g.oh+ho)*g.ow+wo] = float32(s)
					}
				}
			}
		}
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
			if c.smallBlocks {
				old, oldMin := colBlockFloats, minBlockCols
				colBlockFloats, minBlockCols = 16, 1
				defer func() { colBlockFloats, minBlockCols = old, oldMin }()
			}
			rng := rand.New(rand.NewPCG(3, uint64(len(c.name))))
			inputs := []*tensor.Dense{randTensor(rng, 0, c.x...), randTensor(rng, 0, c.w...)}
			if c.bias {
				inputs = append(inputs, randTensor(rng, 0, c.w[0]))
			}
			cfg := ConvConfig{Name: c.name, Stride: c.stride, Padding: c.pad}
			err := gradcheck.Check(func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
				var b *G.Node
				if c.bias {
					b = in[2]
				}
				return Conv3d(in[0], in[1], b, cfg)
			}, inputs, []bool{true, true, true}[:len(inputs)], gradcheck.Options{Eps: 1e-2, Samples: 32})
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

// TestConv3dConcurrent runs each op from several goroutines, as two machines
// over one graph would, to catch races on scratch buffers (go test -race).
func TestConv3dConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, c := range []struct {
		x, w   []int
		stride [3]int
	}{
		{[]int{2, 3, 4, 6, 5}, []int{4, 3, 3, 3, 3}, [3]int{1, 1, 1}}, // row-shift, transposed input gradient
		{[]int{2, 3, 4, 6, 5}, []int{4, 3, 3, 3, 3}, [3]int{1, 1, 2}}, // phases, vol2col, col2vol
	} {
		x, w := randTensor(rng, 0, c.x...), randTensor(rng, 0, c.w...)
		g := convGeomFor(t, x, w, c.stride, [3]int{1, 1, 1})
		if _, ok := g.transposed(false); ok != (c.stride[2] == 1) || g.shiftable() != (c.stride[2] == 1) {
			t.Fatalf("stride %v: not the intended paths", c.stride)
		}
		dy := randTensor(rng, 0, g.yShape()...)
		base := opBase{name: "c"}
		runs := []func() (G.Value, error){
			func() (G.Value, error) { return (&conv3dOp{opBase: base, geo: g}).Do(x, w) },
			func() (G.Value, error) { return (&conv3dDataGradOp{opBase: base, geo: g}).Do(w, dy) },
			func() (G.Value, error) { return (&conv3dFilterGradOp{opBase: base, geo: g}).Do(x, dy) },
		}
		for i, run := range runs {
			want, err := run()
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for j := 0; j < 4; j++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := 0; k < 5; k++ {
						got, err := run()
						if err != nil {
							t.Error(err)
							return
						}
						if !cmp.Equal(want.Data(), got.Data()) {
							t.Errorf("op %d: concurrent Do gave a different result", i)
							return
						}
					}
				}()
			}
			wg.Wait()
		}
	}
}

// TestConvTrimmed checks which kernel taps trimmed drops: those that read
// only padding, as at R3D-18's layer3 and layer4 with 4-frame clips.
func TestConvTrimmed(t *testing.T) {
	for _, c := range []struct {
		x, w        []int
		stride, pad [3]int
		ok          bool
		k, p, first [3]int
	}{
		{x: []int{8, 256, 1, 14, 14}, w: []int{256, 256, 3, 3, 3}, stride: [3]int{1, 1, 1}, pad: [3]int{1, 1, 1}, ok: true, k: [3]int{1, 3, 3}, p: [3]int{0, 1, 1}, first: [3]int{1, 0, 0}},
		{x: []int{8, 128, 2, 28, 28}, w: []int{256, 128, 3, 3, 3}, stride: [3]int{2, 2, 2}, pad: [3]int{1, 1, 1}, ok: true, k: [3]int{2, 3, 3}, p: [3]int{0, 1, 1}, first: [3]int{1, 0, 0}},
		{x: []int{8, 256, 1, 14, 14}, w: []int{512, 256, 3, 3, 3}, stride: [3]int{2, 2, 2}, pad: [3]int{1, 1, 1}, ok: true, k: [3]int{1, 3, 3}, p: [3]int{0, 1, 1}, first: [3]int{1, 0, 0}},
		{x: []int{1, 2, 1, 1, 1}, w: []int{3, 2, 3, 3, 3}, stride: [3]int{1, 1, 1}, pad: [3]int{1, 1, 1}, ok: true, k: [3]int{1, 1, 1}, first: [3]int{1, 1, 1}},
		{x: []int{8, 64, 4, 56, 56}, w: []int{64, 64, 3, 3, 3}, stride: [3]int{1, 1, 1}, pad: [3]int{1, 1, 1}},
		{x: []int{8, 128, 2, 28, 28}, w: []int{128, 128, 3, 3, 3}, stride: [3]int{1, 1, 1}, pad: [3]int{1, 1, 1}},
		{x: []int{2, 3, 2, 4, 4}, w: []int{3, 3, 3, 3, 3}, stride: [3]int{1, 1, 1}, pad: [3]int{2, 1, 1}},
	} {
		g, err := newConvGeom("test", c.x, c.w, nil, false, c.stride, c.pad)
		if err != nil {
			t.Fatal(err)
		}
		tg, first, ok := g.trimmed()
		if ok != c.ok {
			t.Errorf("x %v w %v: trimmed ok = %t, want %t", c.x, c.w, ok, c.ok)
			continue
		}
		if !ok {
			continue
		}
		if k, p := [3]int{tg.kt, tg.kh, tg.kw}, [3]int{tg.pt, tg.ph, tg.pw}; k != c.k || p != c.p || first != c.first {
			t.Errorf("x %v w %v: kernel %v padding %v first %v, want %v %v %v", c.x, c.w, k, p, first, c.k, c.p, c.first)
		}
		if !tg.yShape().Eq(g.yShape()) {
			t.Errorf("x %v w %v: trimmed output %v, want %v", c.x, c.w, tg.yShape(), g.yShape())
		}
	}
}
