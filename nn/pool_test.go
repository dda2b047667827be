package nn

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/golden"
	"github.com/vidssl/vidssl/internal/gradcheck"
)

func TestPoolGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/pool/*.json")
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
			r := convGoldenTensor(t, file, m, "R")
			cfg := PoolConfig{
				Name:    name,
				Kernel:  convGoldenInts(t, file, m, "kernel"),
				Stride:  convGoldenInts(t, file, m, "stride"),
				Padding: convGoldenInts(t, file, m, "padding"),
			}
			kind := m["kind"].Data[0]
			y, grads := convRunGrad(t, func(in []*G.Node) (*G.Node, error) {
				switch kind {
				case 0:
					return MaxPool3d(in[0], cfg)
				case 1:
					return AvgPool3d(in[0], cfg)
				default:
					return GlobalAvgPool3d(in[0], name)
				}
			}, []*tensor.Dense{x}, []bool{true}, r)
			convApprox(t, "y", convGoldenTensor(t, file, m, "y"), y)
			convApprox(t, "dx", convGoldenTensor(t, file, m, "dx"), grads[0])
		})
	}
}

// distinctTensor returns a tensor holding a random permutation of
// 0.05*(i - n/2): values at least 0.05 apart, so that a finite-difference step
// of 0.01 never changes which element of a window is the maximum.
func distinctTensor(rng *rand.Rand, shape ...int) *tensor.Dense {
	t := newFloat32(shape...)
	d := t.Data().([]float32)
	for i, j := range rng.Perm(len(d)) {
		d[i] = 0.05 * float32(j-len(d)/2)
	}
	return t
}

func TestPoolGradient(t *testing.T) {
	cases := []struct {
		name string
		x    []int
		cfg  PoolConfig
		op   func(*G.Node, PoolConfig) (*G.Node, error)
	}{
		{"max k3s2p1", []int{2, 2, 5, 6, 7}, PoolConfig{Kernel: [3]int{3, 3, 3}, Stride: [3]int{2, 2, 2}, Padding: [3]int{1, 1, 1}}, MaxPool3d},
		{"max k2", []int{1, 3, 4, 4, 6}, PoolConfig{Kernel: [3]int{2, 2, 2}}, MaxPool3d},
		{"max overlap", []int{1, 2, 4, 5, 5}, PoolConfig{Kernel: [3]int{2, 3, 3}, Stride: [3]int{1, 1, 1}, Padding: [3]int{1, 1, 0}}, MaxPool3d},
		{"avg k3s2p1", []int{2, 2, 5, 6, 7}, PoolConfig{Kernel: [3]int{3, 3, 3}, Stride: [3]int{2, 2, 2}, Padding: [3]int{1, 1, 1}}, AvgPool3d},
		{"avg aniso", []int{1, 3, 4, 7, 5}, PoolConfig{Kernel: [3]int{1, 3, 2}, Stride: [3]int{1, 2, 1}, Padding: [3]int{0, 1, 1}}, AvgPool3d},
		{"global", []int{2, 3, 3, 4, 5}, PoolConfig{}, func(x *G.Node, _ PoolConfig) (*G.Node, error) { return GlobalAvgPool3d(x, "avgpool") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, uint64(len(c.name))))
			c.cfg.Name = c.name
			err := gradcheck.Check(func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
				return c.op(in[0], c.cfg)
			}, []*tensor.Dense{distinctTensor(rng, c.x...)}, []bool{true}, gradcheck.Options{Eps: 1e-2, Samples: 64})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestMaxPoolTiesAndNaN checks PyTorch's choice among equal maxima (the
// first) and that NaN wins.
func TestMaxPoolTiesAndNaN(t *testing.T) {
	nan := float32(math.NaN())
	x := tensor.New(tensor.WithShape(1, 1, 1, 2, 3), tensor.WithBacking([]float32{1, 3, 3, 3, nan, 2}))
	r := tensor.New(tensor.WithShape(1, 1, 1, 1, 1), tensor.WithBacking([]float32{1}))
	y, grads := convRunGrad(t, func(in []*G.Node) (*G.Node, error) {
		return MaxPool3d(in[0], PoolConfig{Kernel: [3]int{1, 2, 3}})
	}, []*tensor.Dense{x}, []bool{true}, r)
	if v := y.Data().([]float32)[0]; v == v {
		t.Errorf("max with a NaN = %v, want NaN", v)
	}
	if got := grads[0].Data().([]float32); got[4] != 1 || got[1] != 0 {
		t.Errorf("gradient %v, want it at the NaN", got)
	}
	x = tensor.New(tensor.WithShape(1, 1, 1, 2, 3), tensor.WithBacking([]float32{1, 3, 0, 3, 3, 2}))
	_, grads = convRunGrad(t, func(in []*G.Node) (*G.Node, error) {
		return MaxPool3d(in[0], PoolConfig{Kernel: [3]int{1, 2, 3}})
	}, []*tensor.Dense{x}, []bool{true}, r)
	if got, want := grads[0].Data().([]float32), []float32{0, 1, 0, 0, 0, 0}; !slicesEqual32(got, want) {
		t.Errorf("gradient with ties %v, want %v", got, want)
	}
}

func slicesEqual32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPoolErrors(t *testing.T) {
	cases := []struct {
		name string
		x    []int
		cfg  PoolConfig
		want string
	}{
		{"rank", []int{2, 3, 8, 8}, PoolConfig{Name: "p1", Kernel: [3]int{2, 2, 2}}, `nn: MaxPool3d "p1": input (2, 3, 8, 8) has rank 4, want 5`},
		{"kernel", []int{1, 3, 4, 8, 8}, PoolConfig{Name: "p2", Kernel: [3]int{0, 2, 2}}, `kernel [0 2 2] must be positive`},
		{"padding", []int{1, 3, 4, 8, 8}, PoolConfig{Name: "p3", Kernel: [3]int{3, 3, 3}, Padding: [3]int{2, 1, 1}}, `padding [2 1 1] must be between 0 and half the kernel [3 3 3]`},
		{"too large", []int{1, 3, 2, 8, 8}, PoolConfig{Name: "p4", Kernel: [3]int{3, 3, 3}}, `kernel [3 3 3] is larger than the padded input (2, 8, 8)`},
		{"stride", []int{1, 3, 4, 8, 8}, PoolConfig{Name: "p5", Kernel: [3]int{2, 2, 2}, Stride: [3]int{-1, 1, 1}}, `stride [-1 1 1] must be positive`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := G.NewGraph()
			x := G.NewTensor(g, tensor.Float32, len(c.x), G.WithShape(c.x...), G.WithName("x"))
			if _, err := MaxPool3d(x, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("MaxPool3d error %v, want it to contain %q", err, c.want)
			}
			want := strings.ReplaceAll(c.want, "MaxPool3d", "AvgPool3d")
			if _, err := AvgPool3d(x, c.cfg); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("AvgPool3d error %v, want it to contain %q", err, want)
			}
		})
	}
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(2, 3, 4, 4), G.WithName("x"))
	if _, err := GlobalAvgPool3d(x, "avgpool"); err == nil || !strings.Contains(err.Error(), `nn: GlobalAvgPool3d "avgpool": input (2, 3, 4, 4) has rank 4`) {
		t.Errorf("GlobalAvgPool3d error %v", err)
	}
}

func TestPoolLayers(t *testing.T) {
	g := NewGraph(false, nil)
	x := g.Input("x", 2, 8, 8, 14, 14)
	cases := []struct {
		m    Module
		want tensor.Shape
	}{
		{&MaxPool3dLayer{Name: "maxpool", Kernel: [3]int{1, 3, 3}, Stride: [3]int{1, 2, 2}, Padding: [3]int{0, 1, 1}}, tensor.Shape{2, 8, 8, 7, 7}},
		{&AvgPool3dLayer{Name: "avg", Kernel: [3]int{2, 2, 2}}, tensor.Shape{2, 8, 4, 7, 7}},
		{&GlobalAvgPool3dLayer{Name: "avgpool"}, tensor.Shape{2, 8, 1, 1, 1}},
	}
	for _, c := range cases {
		y, err := c.m.Forward(g, x)
		if err != nil {
			t.Fatal(err)
		}
		if !y.Shape().Eq(c.want) {
			t.Errorf("%T: output %v, want %v", c.m, y.Shape(), c.want)
		}
		if c.m.Params() != nil {
			t.Errorf("%T has params", c.m)
		}
	}
}

// TestPoolOpStrings checks that different attributes give different op
// strings (and so hashes).
func TestPoolOpStrings(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 5, G.WithShape(1, 2, 6, 6, 6), G.WithName("x"))
	seen := map[string]bool{}
	for _, cfg := range []PoolConfig{
		{Name: "a", Kernel: [3]int{2, 2, 2}},
		{Name: "b", Kernel: [3]int{2, 2, 2}},
		{Name: "a", Kernel: [3]int{2, 2, 2}, Stride: [3]int{1, 1, 1}},
		{Name: "a", Kernel: [3]int{2, 2, 2}, Padding: [3]int{1, 1, 1}},
		{Name: "a", Kernel: [3]int{2, 3, 2}},
	} {
		for _, f := range []func(*G.Node, PoolConfig) (*G.Node, error){MaxPool3d, AvgPool3d} {
			y, err := f(x, cfg)
			if err != nil {
				t.Fatal(err)
			}
			s := y.Op().String()
			if seen[s] {
				t.Errorf("duplicate op string %s", s)
			}
			seen[s] = true
		}
	}
}
