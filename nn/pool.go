package nn

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/parallel"
)

// PoolConfig holds the attributes of a 3-D pooling window. Output sizes are
// PyTorch's with ceil_mode=False: To = (T + 2*Padding[0] - Kernel[0])/Stride[0] + 1,
// and likewise for H and W.
type PoolConfig struct {
	// Name labels the layer in errors and in the op's hash.
	Name string
	// Kernel is the window size per dimension (T, H, W).
	Kernel [3]int
	// Stride per dimension; a zero entry means the kernel size, PyTorch's
	// default.
	Stride [3]int
	// Padding per dimension, at most half the kernel size, as in PyTorch.
	// Max pooling pads with -Inf, average pooling with zeros that count in
	// the divisor (count_include_pad=True).
	Padding [3]int
}

func (c PoolConfig) stride() [3]int {
	s := c.Stride
	for i := range s {
		if s[i] == 0 {
			s[i] = c.Kernel[i]
		}
	}
	return s
}

// MaxPool3d returns the maximum of x (N, C, T, H, W) over each window, as
// PyTorch's max_pool3d (dilation 1, ceil_mode=False). Its gradient goes to
// the first maximum of each window (in T, H, W order), as PyTorch's does; a
// NaN counts as the maximum.
func MaxPool3d(x *G.Node, cfg PoolConfig) (*G.Node, error) {
	return applyPool(x, cfg, "MaxPool3d", func(geo poolGeom) G.Op { return &maxPool3dOp{opBase{cfg.Name}, geo} })
}

// AvgPool3d returns the mean of x (N, C, T, H, W) over each window, as
// PyTorch's avg_pool3d with its defaults ceil_mode=False and
// count_include_pad=True: padding zeros count in the divisor.
func AvgPool3d(x *G.Node, cfg PoolConfig) (*G.Node, error) {
	return applyPool(x, cfg, "AvgPool3d", func(geo poolGeom) G.Op { return &avgPool3dOp{opBase{cfg.Name}, geo} })
}

func applyPool(x *G.Node, cfg PoolConfig, kind string, mk func(poolGeom) G.Op) (*G.Node, error) {
	if x == nil {
		return nil, fmt.Errorf("nn: %s %q: nil input node", kind, cfg.Name)
	}
	geo, err := newPoolGeom(kind, cfg.Name, shapeOf(x), cfg.Kernel, cfg.stride(), cfg.Padding)
	if err != nil {
		return nil, err
	}
	n, err := G.ApplyOp(mk(geo), x)
	if err != nil {
		return nil, fmt.Errorf("nn: %s %q of %v: %w", kind, cfg.Name, tensor.Shape(shapeOf(x)), err)
	}
	return n, nil
}

// GlobalAvgPool3d returns the mean of x (N, C, T, H, W) over T, H and W as a
// (N, C, 1, 1, 1) tensor, as PyTorch's AdaptiveAvgPool3d(1); flatten it for
// a linear layer. name labels the layer in errors and the op's hash.
func GlobalAvgPool3d(x *G.Node, name string) (*G.Node, error) {
	if x == nil {
		return nil, fmt.Errorf("nn: GlobalAvgPool3d %q: nil input node", name)
	}
	s := shapeOf(x)
	if err := checkPoolInput("GlobalAvgPool3d", name, s); err != nil {
		return nil, err
	}
	n, err := G.ApplyOp(&globalAvgPool3dOp{opBase{name}, tensor.Shape(s)}, x)
	if err != nil {
		return nil, fmt.Errorf("nn: GlobalAvgPool3d %q of %v: %w", name, tensor.Shape(s), err)
	}
	return n, nil
}

// MaxPool3dLayer is MaxPool3d as a Module.
type MaxPool3dLayer struct {
	// Name labels the layer in errors.
	Name string
	// Kernel, Stride and Padding are as in PoolConfig.
	Kernel, Stride, Padding [3]int
}

// Forward max-pools x.
func (l *MaxPool3dLayer) Forward(_ *Graph, x *G.Node) (*G.Node, error) {
	return MaxPool3d(x, PoolConfig{Name: l.Name, Kernel: l.Kernel, Stride: l.Stride, Padding: l.Padding})
}

// Params returns nothing: pooling has no state.
func (l *MaxPool3dLayer) Params() []*Param { return nil }

// AvgPool3dLayer is AvgPool3d as a Module.
type AvgPool3dLayer struct {
	// Name labels the layer in errors.
	Name string
	// Kernel, Stride and Padding are as in PoolConfig.
	Kernel, Stride, Padding [3]int
}

// Forward average-pools x.
func (l *AvgPool3dLayer) Forward(_ *Graph, x *G.Node) (*G.Node, error) {
	return AvgPool3d(x, PoolConfig{Name: l.Name, Kernel: l.Kernel, Stride: l.Stride, Padding: l.Padding})
}

// Params returns nothing: pooling has no state.
func (l *AvgPool3dLayer) Params() []*Param { return nil }

// GlobalAvgPool3dLayer is GlobalAvgPool3d as a Module: torchvision's
// AdaptiveAvgPool3d(1) ("avgpool" in its video ResNets).
type GlobalAvgPool3dLayer struct {
	// Name labels the layer in errors.
	Name string
}

// Forward averages x over time and space, to (N, C, 1, 1, 1).
func (l *GlobalAvgPool3dLayer) Forward(_ *Graph, x *G.Node) (*G.Node, error) {
	return GlobalAvgPool3d(x, l.Name)
}

// Params returns nothing: pooling has no state.
func (l *GlobalAvgPool3dLayer) Params() []*Param { return nil }

// poolGeom is the geometry of one pooling: input, window, stride, padding
// and output sizes.
type poolGeom struct {
	n, c, t, h, w int
	kt, kh, kw    int
	st, sh, sw    int
	pt, ph, pw    int
	ot, oh, ow    int
}

func checkPoolInput(kind, name string, xs []int) error {
	if len(xs) != 5 {
		return fmt.Errorf("nn: %s %q: input %v has rank %d, want 5 (N, C, T, H, W)", kind, name, tensor.Shape(xs), len(xs))
	}
	for i, v := range xs {
		if v <= 0 {
			return fmt.Errorf("nn: %s %q: input %v has an empty dimension %d", kind, name, tensor.Shape(xs), i)
		}
	}
	return nil
}

func newPoolGeom(kind, name string, xs []int, kernel, stride, pad [3]int) (poolGeom, error) {
	if err := checkPoolInput(kind, name, xs); err != nil {
		return poolGeom{}, err
	}
	where := fmt.Sprintf("nn: %s %q", kind, name)
	var out [3]int
	for i := 0; i < 3; i++ {
		if kernel[i] < 1 {
			return poolGeom{}, fmt.Errorf("%s: kernel %v must be positive", where, kernel)
		}
		if stride[i] < 1 {
			return poolGeom{}, fmt.Errorf("%s: stride %v must be positive", where, stride)
		}
		if pad[i] < 0 || 2*pad[i] > kernel[i] {
			return poolGeom{}, fmt.Errorf("%s: padding %v must be between 0 and half the kernel %v", where, pad, kernel)
		}
		padded := xs[2+i] + 2*pad[i]
		if kernel[i] > padded {
			return poolGeom{}, fmt.Errorf("%s: kernel %v is larger than the padded input (%d, %d, %d) (input %v, padding %v)", where,
				kernel, xs[2]+2*pad[0], xs[3]+2*pad[1], xs[4]+2*pad[2], tensor.Shape(xs), pad)
		}
		out[i] = (padded-kernel[i])/stride[i] + 1
	}
	return poolGeom{
		n: xs[0], c: xs[1], t: xs[2], h: xs[3], w: xs[4],
		kt: kernel[0], kh: kernel[1], kw: kernel[2],
		st: stride[0], sh: stride[1], sw: stride[2],
		pt: pad[0], ph: pad[1], pw: pad[2],
		ot: out[0], oh: out[1], ow: out[2],
	}, nil
}

func (g *poolGeom) xShape() tensor.Shape { return tensor.Shape{g.n, g.c, g.t, g.h, g.w} }
func (g *poolGeom) yShape() tensor.Shape { return tensor.Shape{g.n, g.c, g.ot, g.oh, g.ow} }

func (g *poolGeom) attrs() string {
	return fmt.Sprintf("x=%v kernel=[%d %d %d] stride=[%d %d %d] pad=[%d %d %d]", g.xShape(), g.kt, g.kh, g.kw, g.st, g.sh, g.sw, g.pt, g.ph, g.pw)
}

// window is one pooling window clipped to the input, with the divisor of
// average pooling (count_include_pad=True: the window clipped to the padded
// input).
type window struct {
	t0, t1, h0, h1, w0, w1 int
	divisor                int
}

// forEachWindow calls f for every output position o (flat within a plane) of
// the plane with its window, in order.
func (g *poolGeom) forEachWindow(f func(o int, win window)) {
	o := 0
	for to := 0; to < g.ot; to++ {
		t0 := to*g.st - g.pt
		t1 := min(t0+g.kt, g.t+g.pt)
		dt := t1 - t0
		t0, t1 = max(t0, 0), min(t1, g.t)
		for ho := 0; ho < g.oh; ho++ {
			h0 := ho*g.sh - g.ph
			h1 := min(h0+g.kh, g.h+g.ph)
			dh := h1 - h0
			h0, h1 = max(h0, 0), min(h1, g.h)
			for wo := 0; wo < g.ow; wo++ {
				w0 := wo*g.sw - g.pw
				w1 := min(w0+g.kw, g.w+g.pw)
				dw := w1 - w0
				w0, w1 = max(w0, 0), min(w1, g.w)
				f(o, window{t0, t1, h0, h1, w0, w1, dt * dh * dw})
				o++
			}
		}
	}
}

// planeGrain is the number of planes below which a pooling loop runs on
// one goroutine, given the work per plane.
func planeGrain(perPlane int) int { return max(1, elementGrain/max(1, perPlane)) }

// poolOp is what the pooling ops share.
type poolOp struct {
	opBase
	geo poolGeom
}

// input reads the op's one input and checks its shape.
func (op *poolOp) input(where string, vals []G.Value, want tensor.Shape) ([]float32, error) {
	if err := checkArity(where, 1, len(vals)); err != nil {
		return nil, err
	}
	x, xs, err := float32s(where, vals[0])
	if err != nil {
		return nil, err
	}
	if !xs.Eq(want) {
		return nil, fmt.Errorf("nn: %s: input is %v, want %v", where, xs, want)
	}
	return x, nil
}

// maxPool3dOp is max pooling: x -> y.
type maxPool3dOp poolOp

func (op *maxPool3dOp) Arity() int    { return 1 }
func (op *maxPool3dOp) Type() hm.Type { return fnType(1, []int{5}, 5) }
func (op *maxPool3dOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.geo.yShape(), nil
}
func (op *maxPool3dOp) String() string {
	return fmt.Sprintf("MaxPool3d{%q %s}", op.name, op.geo.attrs())
}
func (op *maxPool3dOp) Hashcode() uint32      { return hashOf(op) }
func (op *maxPool3dOp) WriteHash(h hash.Hash) { writeHash(h, op) }

func (op *maxPool3dOp) Do(vals ...G.Value) (G.Value, error) {
	where := fmt.Sprintf("MaxPool3d %q", op.name)
	x, err := (*poolOp)(op).input(where, vals, op.geo.xShape())
	if err != nil {
		return nil, err
	}
	g := &op.geo
	out := newFloat32(g.yShape()...)
	y := out.Data().([]float32)
	in, on := g.t*g.h*g.w, g.ot*g.oh*g.ow
	parallel.For(g.n*g.c, planeGrain(on*g.kt*g.kh*g.kw), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			xp, yp := x[p*in:(p+1)*in], y[p*on:(p+1)*on]
			g.forEachWindow(func(o int, win window) {
				_, v := g.argmax(xp, win)
				yp[o] = v
			})
		}
	})
	return out, nil
}

// argmax returns the index in the plane xp of the window's first maximum and
// its value, as PyTorch: a later element wins only when greater, or NaN.
func (g *poolGeom) argmax(xp []float32, win window) (int, float32) {
	best := (win.t0*g.h+win.h0)*g.w + win.w0
	bv := float32(math.Inf(-1))
	for t := win.t0; t < win.t1; t++ {
		for h := win.h0; h < win.h1; h++ {
			row := (t*g.h + h) * g.w
			for w := win.w0; w < win.w1; w++ {
				if v := xp[row+w]; v > bv || v != v {
					bv, best = v, row+w
				}
			}
		}
	}
	return best, bv
}

func (op *maxPool3dOp) DiffWRT(int) []bool { return []bool{true} }

func (op *maxPool3dOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&maxPool3dGradOp{op.opBase, op.geo}, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx}, nil
}

// maxPool3dGradOp routes the output gradient to each window's first
// maximum: (x, dy) -> dx.
type maxPool3dGradOp poolOp

func (op *maxPool3dGradOp) Arity() int    { return 2 }
func (op *maxPool3dGradOp) Type() hm.Type { return fnType(2, []int{5, 5}, 5) }
func (op *maxPool3dGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.geo.xShape(), nil
}
func (op *maxPool3dGradOp) String() string {
	return fmt.Sprintf("MaxPool3dGrad{%q %s}", op.name, op.geo.attrs())
}
func (op *maxPool3dGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *maxPool3dGradOp) WriteHash(h hash.Hash) { writeHash(h, op) }

func (op *maxPool3dGradOp) Do(vals ...G.Value) (G.Value, error) {
	where := fmt.Sprintf("MaxPool3d %q backward", op.name)
	if err := checkArity(where, 2, len(vals)); err != nil {
		return nil, err
	}
	g := &op.geo
	x, err := (*poolOp)(op).input(where, vals[:1], g.xShape())
	if err != nil {
		return nil, err
	}
	dy, err := (*poolOp)(op).input(where+" (output gradient)", vals[1:], g.yShape())
	if err != nil {
		return nil, err
	}
	out := newFloat32(g.xShape()...)
	dx := out.Data().([]float32)
	in, on := g.t*g.h*g.w, g.ot*g.oh*g.ow
	parallel.For(g.n*g.c, planeGrain(on*g.kt*g.kh*g.kw), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			xp, dxp, dyp := x[p*in:(p+1)*in], dx[p*in:(p+1)*in], dy[p*on:(p+1)*on]
			g.forEachWindow(func(o int, win window) {
				i, _ := g.argmax(xp, win)
				dxp[i] += dyp[o]
			})
		}
	})
	return out, nil
}

// avgPool3dOp is average pooling: x -> y.
type avgPool3dOp poolOp

func (op *avgPool3dOp) Arity() int    { return 1 }
func (op *avgPool3dOp) Type() hm.Type { return fnType(1, []int{5}, 5) }
func (op *avgPool3dOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.geo.yShape(), nil
}
func (op *avgPool3dOp) String() string {
	return fmt.Sprintf("AvgPool3d{%q %s count_include_pad=true}", op.name, op.geo.attrs())
}
func (op *avgPool3dOp) Hashcode() uint32      { return hashOf(op) }
func (op *avgPool3dOp) WriteHash(h hash.Hash) { writeHash(h, op) }

func (op *avgPool3dOp) Do(vals ...G.Value) (G.Value, error) {
	where := fmt.Sprintf("AvgPool3d %q", op.name)
	x, err := (*poolOp)(op).input(where, vals, op.geo.xShape())
	if err != nil {
		return nil, err
	}
	g := &op.geo
	out := newFloat32(g.yShape()...)
	y := out.Data().([]float32)
	in, on := g.t*g.h*g.w, g.ot*g.oh*g.ow
	parallel.For(g.n*g.c, planeGrain(on*g.kt*g.kh*g.kw), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			xp, yp := x[p*in:(p+1)*in], y[p*on:(p+1)*on]
			g.forEachWindow(func(o int, win window) {
				var s float32
				for t := win.t0; t < win.t1; t++ {
					for h := win.h0; h < win.h1; h++ {
						row := (t*g.h + h) * g.w
						for _, v := range xp[row+win.w0 : row+win.w1] {
							s += v
						}
					}
				}
				yp[o] = s / float32(win.divisor)
			})
		}
	})
	return out, nil
}

func (op *avgPool3dOp) DiffWRT(int) []bool { return []bool{true} }

func (op *avgPool3dOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&avgPool3dGradOp{op.opBase, op.geo}, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx}, nil
}

// avgPool3dGradOp spreads each output gradient over its window: dy -> dx.
type avgPool3dGradOp poolOp

func (op *avgPool3dGradOp) Arity() int    { return 1 }
func (op *avgPool3dGradOp) Type() hm.Type { return fnType(1, []int{5}, 5) }
func (op *avgPool3dGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.geo.xShape(), nil
}
func (op *avgPool3dGradOp) String() string {
	return fmt.Sprintf("AvgPool3dGrad{%q %s count_include_pad=true}", op.name, op.geo.attrs())
}
func (op *avgPool3dGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *avgPool3dGradOp) WriteHash(h hash.Hash) { writeHash(h, op) }

func (op *avgPool3dGradOp) Do(vals ...G.Value) (G.Value, error) {
	where := fmt.Sprintf("AvgPool3d %q backward", op.name)
	g := &op.geo
	dy, err := (*poolOp)(op).input(where, vals, g.yShape())
	if err != nil {
		return nil, err
	}
	out := newFloat32(g.xShape()...)
	dx := out.Data().([]float32)
	in, on := g.t*g.h*g.w, g.ot*g.oh*g.ow
	parallel.For(g.n*g.c, planeGrain(on*g.kt*g.kh*g.kw), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			dxp, dyp := dx[p*in:(p+1)*in], dy[p*on:(p+1)*on]
			g.forEachWindow(func(o int, win window) {
				d := dyp[o] / float32(win.divisor)
				for t := win.t0; t < win.t1; t++ {
					for h := win.h0; h < win.h1; h++ {
						row := (t*g.h + h) * g.w
						r := dxp[row+win.w0 : row+win.w1]
						for i := range r {
							r[i] += d
						}
					}
				}
			})
		}
	})
	return out, nil
}

// globalAvgPool3dOp averages each (n, c) plane: x -> (N, C, 1, 1, 1).
type globalAvgPool3dOp struct {
	opBase
	shape tensor.Shape // of the input
}

func (op *globalAvgPool3dOp) Arity() int    { return 1 }
func (op *globalAvgPool3dOp) Type() hm.Type { return fnType(1, []int{5}, 5) }
func (op *globalAvgPool3dOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.shape[0], op.shape[1], 1, 1, 1}, nil
}
func (op *globalAvgPool3dOp) String() string {
	return fmt.Sprintf("GlobalAvgPool3d{%q x=%v}", op.name, op.shape)
}
func (op *globalAvgPool3dOp) Hashcode() uint32      { return hashOf(op) }
func (op *globalAvgPool3dOp) WriteHash(h hash.Hash) { writeHash(h, op) }

func (op *globalAvgPool3dOp) Do(vals ...G.Value) (G.Value, error) {
	where := fmt.Sprintf("GlobalAvgPool3d %q", op.name)
	x, err := (&poolOp{opBase: op.opBase}).input(where, vals, op.shape)
	if err != nil {
		return nil, err
	}
	planes, size := op.shape[0]*op.shape[1], op.shape[2]*op.shape[3]*op.shape[4]
	out := newFloat32(op.shape[0], op.shape[1], 1, 1, 1)
	y := out.Data().([]float32)
	parallel.For(planes, planeGrain(size), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			var s float64
			for _, v := range x[p*size : (p+1)*size] {
				s += float64(v)
			}
			y[p] = float32(s / float64(size))
		}
	})
	return out, nil
}

func (op *globalAvgPool3dOp) DiffWRT(int) []bool { return []bool{true} }

func (op *globalAvgPool3dOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&globalAvgPool3dGradOp{op.opBase, op.shape}, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx}, nil
}

// globalAvgPool3dGradOp spreads each plane's gradient evenly: dy -> dx.
type globalAvgPool3dGradOp struct {
	opBase
	shape tensor.Shape // of the forward input
}

func (op *globalAvgPool3dGradOp) Arity() int    { return 1 }
func (op *globalAvgPool3dGradOp) Type() hm.Type { return fnType(1, []int{5}, 5) }
func (op *globalAvgPool3dGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.shape.Clone(), nil
}
func (op *globalAvgPool3dGradOp) String() string {
	return fmt.Sprintf("GlobalAvgPool3dGrad{%q x=%v}", op.name, op.shape)
}
func (op *globalAvgPool3dGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *globalAvgPool3dGradOp) WriteHash(h hash.Hash) { writeHash(h, op) }

func (op *globalAvgPool3dGradOp) Do(vals ...G.Value) (G.Value, error) {
	where := fmt.Sprintf("GlobalAvgPool3d %q backward", op.name)
	dy, err := (&poolOp{opBase: op.opBase}).input(where, vals, tensor.Shape{op.shape[0], op.shape[1], 1, 1, 1})
	if err != nil {
		return nil, err
	}
	planes, size := op.shape[0]*op.shape[1], op.shape[2]*op.shape[3]*op.shape[4]
	out := newFloat32(op.shape...)
	dx := out.Data().([]float32)
	parallel.For(planes, planeGrain(size), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			d := dy[p] / float32(size)
			r := dx[p*size : (p+1)*size]
			for i := range r {
				r[i] = d
			}
		}
	})
	return out, nil
}
