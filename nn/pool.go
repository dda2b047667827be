package nn

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/pool3d"
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

// poolGeom is the geometry of one pooling, as internal/pool3d's kernels
// take it.
type poolGeom struct{ pool3d.Geom }

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
	}
	return poolGeom{pool3d.New([5]int(xs), kernel, stride, pad)}, nil
}

func (g *poolGeom) xShape() tensor.Shape { s := g.X(); return s[:] }
func (g *poolGeom) yShape() tensor.Shape { s := g.Y(); return s[:] }

func (g *poolGeom) attrs() string {
	k, st, pad := g.Kernel(), g.Stride(), g.Pad()
	return fmt.Sprintf("x=%v kernel=[%d %d %d] stride=[%d %d %d] pad=[%d %d %d]", g.xShape(), k[0], k[1], k[2], st[0], st[1], st[2], pad[0], pad[1], pad[2])
}

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
	pool3d.MaxForward(&g.Geom, x, out.Data().([]float32))
	return out, nil
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
	pool3d.MaxBackward(&g.Geom, x, dy, out.Data().([]float32))
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
	pool3d.AvgForward(&g.Geom, x, out.Data().([]float32))
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
	pool3d.AvgBackward(&g.Geom, dy, out.Data().([]float32))
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
	out := newFloat32(op.shape[0], op.shape[1], 1, 1, 1)
	pool3d.GlobalAvgForward(x, out.Data().([]float32))
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
	out := newFloat32(op.shape...)
	pool3d.GlobalAvgBackward(dy, out.Data().([]float32))
	return out, nil
}
