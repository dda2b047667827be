package nn

import (
	"fmt"
	"hash"
	"math/rand/v2"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/blas"
	"github.com/vidssl/vidssl/internal/conv3d"
)

// ConvConfig holds the attributes of a 3-D convolution besides its weight.
// The kernel size is read from the weight's shape (Cout, Cin, kT, kH, kW).
type ConvConfig struct {
	// Name labels the layer in errors and in the op's hash, e.g.
	// "layer1.0.conv1". Empty uses the weight node's name.
	Name string
	// Stride per dimension (T, H, W); a zero entry means 1.
	Stride [3]int
	// Padding per dimension (T, H, W): zeros added on both sides.
	Padding [3]int
	// NoInputGrad skips the gradient with respect to the input x. gorgonia
	// evaluates every gradient node a backward pass creates, needed or not,
	// so set it on a network's first layer when its input needs no gradient
	// (the R3D stem in training) to save a whole backward-data pass. A graph
	// that asks for x's gradient through such a layer gets an error from
	// gorgonia.Grad.
	NoInputGrad bool
}

func (c ConvConfig) stride() [3]int {
	s := c.Stride
	for i := range s {
		if s[i] == 0 {
			s[i] = 1
		}
	}
	return s
}

// Conv3d returns the 3-D cross-correlation of x (N, Cin, T, H, W) with w
// (Cout, Cin, kT, kH, kW) plus the bias b (Cout) when b is not nil, as
// PyTorch's torch.nn.functional.conv3d (dilation 1, one group). The output is
// (N, Cout, To, Ho, Wo) with To = (T + 2*Padding[0] - kT)/Stride[0] + 1, and
// likewise for H and W.
//
// The gradients with respect to x, w and b are gorgonia Ops of their own, so
// gorgonia.Grad differentiates through Conv3d. Wrong ranks, mismatched
// channels and kernels larger than the padded input are errors that name the
// layer and the shapes.
func Conv3d(x, w, b *G.Node, cfg ConvConfig) (*G.Node, error) {
	name := cfg.Name
	if name == "" && w != nil {
		name = w.Name()
	}
	if x == nil || w == nil {
		return nil, fmt.Errorf("nn: Conv3d %q: nil input or weight node", name)
	}
	var bShape []int
	if b != nil {
		bShape = shapeOf(b)
	}
	geo, err := newConvGeom(name, shapeOf(x), shapeOf(w), bShape, b != nil, cfg.stride(), cfg.Padding)
	if err != nil {
		return nil, err
	}
	op := &conv3dOp{opBase: opBase{name: name}, geo: geo, bias: b != nil, noInputGrad: cfg.NoInputGrad}
	var n *G.Node
	if b != nil {
		n, err = G.ApplyOp(op, x, w, b)
	} else {
		n, err = G.ApplyOp(op, x, w)
	}
	if err != nil {
		return nil, fmt.Errorf("nn: Conv3d %q of %v with weight %v: %w", name, tensor.Shape(shapeOf(x)), tensor.Shape(shapeOf(w)), err)
	}
	return n, nil
}

// Conv3dLayer is a 3-D convolution as a Module, with torchvision's names: the
// weight is "<Name>.weight" (Cout, Cin, kT, kH, kW) and the optional bias
// "<Name>.bias" (Cout).
type Conv3dLayer struct {
	// Name is the layer's state_dict prefix, e.g. "layer1.0.conv1.0".
	Name string
	// Weight is the kernel, (Cout, Cin, kT, kH, kW).
	Weight *Param
	// Bias is the per-channel bias, or nil for a layer without one.
	Bias *Param
	// Stride and Padding are per dimension (T, H, W).
	Stride, Padding [3]int
	// NoInputGrad skips the input gradient; see ConvConfig.NoInputGrad.
	NoInputGrad bool
}

// NewConv3dLayer returns a convolution from cin to cout channels with the given
// kernel, stride and padding (each T, H, W), with a bias when bias is true. The
// weight is drawn as torchvision's video ResNets do, from
// KaimingNormalFanOut with rng, and the bias starts at zero.
func NewConv3dLayer(name string, cin, cout int, kernel, stride, padding [3]int, bias bool, rng *rand.Rand) *Conv3dLayer {
	l := &Conv3dLayer{
		Name:    name,
		Weight:  NewParam(name+".weight", cout, cin, kernel[0], kernel[1], kernel[2]),
		Stride:  stride,
		Padding: padding,
	}
	KaimingNormalFanOut(l.Weight, rng)
	if bias {
		l.Bias = NewParam(name+".bias", cout)
	}
	return l
}

// Forward convolves x, which must be (N, Cin, T, H, W) in g.
func (l *Conv3dLayer) Forward(g *Graph, x *G.Node) (*G.Node, error) {
	w := g.Bind(l.Weight)
	var b *G.Node
	if l.Bias != nil {
		b = g.Bind(l.Bias)
	}
	return Conv3d(x, w, b, ConvConfig{Name: l.Name, Stride: l.Stride, Padding: l.Padding, NoInputGrad: l.NoInputGrad})
}

// Params returns the weight and, when present, the bias.
func (l *Conv3dLayer) Params() []*Param {
	if l.Bias != nil {
		return []*Param{l.Weight, l.Bias}
	}
	return []*Param{l.Weight}
}

// convGeom is the geometry of one convolution, as the kernels of
// internal/conv3d take it.
type convGeom struct{ conv3d.Geom }

// newConvGeom checks the shapes of a convolution and returns its geometry.
func newConvGeom(name string, xs, ws, bs []int, hasBias bool, stride, pad [3]int) (convGeom, error) {
	where := fmt.Sprintf("nn: Conv3d %q", name)
	if len(xs) != 5 {
		return convGeom{}, fmt.Errorf("%s: input %v has rank %d, want 5 (N, C, T, H, W)", where, tensor.Shape(xs), len(xs))
	}
	if len(ws) != 5 {
		return convGeom{}, fmt.Errorf("%s: weight %v has rank %d, want 5 (Cout, Cin, kT, kH, kW)", where, tensor.Shape(ws), len(ws))
	}
	if xs[1] != ws[1] {
		return convGeom{}, fmt.Errorf("%s: input %v has %d channels but weight %v expects %d", where, tensor.Shape(xs), xs[1], tensor.Shape(ws), ws[1])
	}
	if hasBias && (len(bs) != 1 || bs[0] != ws[0]) {
		return convGeom{}, fmt.Errorf("%s: bias %v does not match weight %v: want (%d)", where, tensor.Shape(bs), tensor.Shape(ws), ws[0])
	}
	for i, v := range xs {
		if v <= 0 {
			return convGeom{}, fmt.Errorf("%s: input %v has an empty dimension %d", where, tensor.Shape(xs), i)
		}
	}
	for i, v := range ws {
		if v <= 0 {
			return convGeom{}, fmt.Errorf("%s: weight %v has an empty dimension %d", where, tensor.Shape(ws), i)
		}
	}
	for i := 0; i < 3; i++ {
		if stride[i] < 1 {
			return convGeom{}, fmt.Errorf("%s: stride %v must be positive", where, stride)
		}
		if pad[i] < 0 {
			return convGeom{}, fmt.Errorf("%s: padding %v must not be negative", where, pad)
		}
		padded := xs[2+i] + 2*pad[i]
		if ws[2+i] > padded {
			return convGeom{}, fmt.Errorf("%s: kernel %v is larger than the padded input %v (input %v, padding %v)", where,
				tensor.Shape(ws[2:]), tensor.Shape{xs[2] + 2*pad[0], xs[3] + 2*pad[1], xs[4] + 2*pad[2]}, tensor.Shape(xs), pad)
		}
	}
	return convGeom{conv3d.New([5]int(xs), [5]int(ws), stride, pad)}, nil
}

func (g *convGeom) xShape() tensor.Shape { s := g.X(); return s[:] }
func (g *convGeom) wShape() tensor.Shape { s := g.W(); return s[:] }
func (g *convGeom) yShape() tensor.Shape { s := g.Y(); return s[:] }

// attrs formats every attribute that defines the op, for String and hashes.
func (g *convGeom) attrs() string {
	st, pad := g.Stride(), g.Pad()
	return fmt.Sprintf("x=%v w=%v stride=[%d %d %d] pad=[%d %d %d]", g.xShape(), g.wShape(), st[0], st[1], st[2], pad[0], pad[1], pad[2])
}

// checkValues checks that the runtime values match the geometry built with
// the graph.
func (g *convGeom) check(where, what string, got, want tensor.Shape) error {
	if !got.Eq(want) {
		return fmt.Errorf("nn: %s: %s is %v, want %v", where, what, got, want)
	}
	return nil
}

// conv3dOp is the forward convolution: (x, w[, b]) -> y.
type conv3dOp struct {
	opBase
	geo         convGeom
	bias        bool
	noInputGrad bool
	out         outBuf
}

func (op *conv3dOp) Arity() int {
	if op.bias {
		return 3
	}
	return 2
}
func (op *conv3dOp) Type() hm.Type {
	if op.bias {
		return fnType(3, []int{5, 5, 1}, 5)
	}
	return fnType(2, []int{5, 5}, 5)
}
func (op *conv3dOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if len(in) != op.Arity() {
		return nil, checkArity(op.String(), op.Arity(), len(in))
	}
	xs, ok1 := in[0].(tensor.Shape)
	ws, ok2 := in[1].(tensor.Shape)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("nn: Conv3d %q: input shapes unknown", op.name)
	}
	var bs []int
	if op.bias {
		if s, ok := in[2].(tensor.Shape); ok {
			bs = s
		}
	}
	geo, err := newConvGeom(op.name, xs, ws, bs, op.bias, op.geo.Stride(), op.geo.Pad())
	if err != nil {
		return nil, err
	}
	return geo.yShape(), nil
}
func (op *conv3dOp) String() string {
	return fmt.Sprintf("Conv3d{%q %s bias=%t noInputGrad=%t}", op.name, op.geo.attrs(), op.bias, op.noInputGrad)
}
func (op *conv3dOp) Hashcode() uint32      { return hashOf(op) }
func (op *conv3dOp) WriteHash(h hash.Hash) { writeHash(h, op) }

func (op *conv3dOp) Do(vals ...G.Value) (G.Value, error) {
	where := fmt.Sprintf("Conv3d %q", op.name)
	if err := checkArity(where, op.Arity(), len(vals)); err != nil {
		return nil, err
	}
	x, xs, err := float32s(where, vals[0])
	if err != nil {
		return nil, err
	}
	w, ws, err := float32s(where, vals[1])
	if err != nil {
		return nil, err
	}
	g := &op.geo
	if err := g.check(where, "input", xs, g.xShape()); err != nil {
		return nil, err
	}
	if err := g.check(where, "weight", ws, g.wShape()); err != nil {
		return nil, err
	}
	var b []float32
	if op.bias {
		var bs tensor.Shape
		if b, bs, err = float32s(where, vals[2]); err != nil {
			return nil, err
		}
		if err := g.check(where, "bias", bs, g.wShape()[:1]); err != nil {
			return nil, err
		}
	}
	out := op.out.take(false, g.yShape()...)
	defer op.out.put(out)
	conv3d.Forward(blas.MustDefault(), &g.Geom, x, w, b, out.Data().([]float32))
	return out, nil
}

func (op *conv3dOp) DiffWRT(n int) []bool {
	d := []bool{!op.noInputGrad, true, true}
	return d[:n]
}

func (op *conv3dOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if len(inputs) != op.Arity() {
		return nil, checkArity(op.String(), op.Arity(), len(inputs))
	}
	out := make(G.Nodes, len(inputs))
	var err error
	if !op.noInputGrad {
		if out[0], err = G.ApplyOp(&conv3dDataGradOp{opBase: op.opBase, geo: op.geo}, inputs[1], grad); err != nil {
			return nil, err
		}
	}
	if out[1], err = G.ApplyOp(&conv3dFilterGradOp{opBase: op.opBase, geo: op.geo}, inputs[0], grad); err != nil {
		return nil, err
	}
	if op.bias {
		if out[2], err = G.ApplyOp(&conv3dBiasGradOp{opBase: op.opBase, geo: op.geo}, grad); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// conv3dDataGradOp computes the gradient with respect to the input: (w, dy) -> dx.
type conv3dDataGradOp struct {
	opBase
	geo convGeom
	out outBuf
}

func (op *conv3dDataGradOp) Arity() int    { return 2 }
func (op *conv3dDataGradOp) Type() hm.Type { return fnType(2, []int{5, 5}, 5) }
func (op *conv3dDataGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.geo.xShape(), nil
}
func (op *conv3dDataGradOp) String() string {
	return fmt.Sprintf("Conv3dGradInput{%q %s}", op.name, op.geo.attrs())
}
func (op *conv3dDataGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *conv3dDataGradOp) WriteHash(h hash.Hash) { writeHash(h, op) }

func (op *conv3dDataGradOp) Do(vals ...G.Value) (G.Value, error) {
	where := fmt.Sprintf("Conv3d %q backward (input)", op.name)
	if err := checkArity(where, 2, len(vals)); err != nil {
		return nil, err
	}
	w, ws, err := float32s(where, vals[0])
	if err != nil {
		return nil, err
	}
	dy, dys, err := float32s(where, vals[1])
	if err != nil {
		return nil, err
	}
	g := &op.geo
	if err := g.check(where, "weight", ws, g.wShape()); err != nil {
		return nil, err
	}
	if err := g.check(where, "output gradient", dys, g.yShape()); err != nil {
		return nil, err
	}
	out := op.out.take(false, g.xShape()...)
	defer op.out.put(out)
	conv3d.BackwardData(blas.MustDefault(), &g.Geom, w, dy, out.Data().([]float32))
	return out, nil
}

// conv3dFilterGradOp computes the gradient with respect to the weight: (x, dy) -> dw.
type conv3dFilterGradOp struct {
	opBase
	geo convGeom
	out outBuf
}

func (op *conv3dFilterGradOp) Arity() int    { return 2 }
func (op *conv3dFilterGradOp) Type() hm.Type { return fnType(2, []int{5, 5}, 5) }
func (op *conv3dFilterGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.geo.wShape(), nil
}
func (op *conv3dFilterGradOp) String() string {
	return fmt.Sprintf("Conv3dGradWeight{%q %s}", op.name, op.geo.attrs())
}
func (op *conv3dFilterGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *conv3dFilterGradOp) WriteHash(h hash.Hash) { writeHash(h, op) }

func (op *conv3dFilterGradOp) Do(vals ...G.Value) (G.Value, error) {
	where := fmt.Sprintf("Conv3d %q backward (weight)", op.name)
	if err := checkArity(where, 2, len(vals)); err != nil {
		return nil, err
	}
	x, xs, err := float32s(where, vals[0])
	if err != nil {
		return nil, err
	}
	dy, dys, err := float32s(where, vals[1])
	if err != nil {
		return nil, err
	}
	g := &op.geo
	if err := g.check(where, "input", xs, g.xShape()); err != nil {
		return nil, err
	}
	if err := g.check(where, "output gradient", dys, g.yShape()); err != nil {
		return nil, err
	}
	out := op.out.take(true, g.wShape()...)
	defer op.out.put(out)
	conv3d.BackwardFilter(blas.MustDefault(), &g.Geom, x, dy, out.Data().([]float32))
	return out, nil
}

// conv3dBiasGradOp computes the gradient with respect to the bias: dy -> db,
// the sum of dy over all but the channel dimension.
type conv3dBiasGradOp struct {
	opBase
	geo convGeom
}

func (op *conv3dBiasGradOp) Arity() int    { return 1 }
func (op *conv3dBiasGradOp) Type() hm.Type { return fnType(1, []int{5}, 1) }
func (op *conv3dBiasGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.geo.wShape()[:1], nil
}
func (op *conv3dBiasGradOp) String() string {
	return fmt.Sprintf("Conv3dGradBias{%q %s}", op.name, op.geo.attrs())
}
func (op *conv3dBiasGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *conv3dBiasGradOp) WriteHash(h hash.Hash) { writeHash(h, op) }

func (op *conv3dBiasGradOp) Do(vals ...G.Value) (G.Value, error) {
	where := fmt.Sprintf("Conv3d %q backward (bias)", op.name)
	if err := checkArity(where, 1, len(vals)); err != nil {
		return nil, err
	}
	dy, dys, err := float32s(where, vals[0])
	if err != nil {
		return nil, err
	}
	g := &op.geo
	if err := g.check(where, "output gradient", dys, g.yShape()); err != nil {
		return nil, err
	}
	out := newFloat32(g.wShape()[0])
	y := g.Y()
	conv3d.SumChannels(dy, y[0], y[1], y[2]*y[3]*y[4], out.Data().([]float32))
	return out, nil
}

// ConvEnvVar is the environment variable that, set to "vol2col", turns the
// implicit-GEMM path off, so that every convolution takes the vol2col,
// row-shift or strided lowering it took before (to compare them).
const ConvEnvVar = conv3d.EnvVar
