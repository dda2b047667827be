package gpu

import (
	"fmt"
	"math"
	"slices"

	"github.com/vidssl/vidssl/internal/cuda"
	"github.com/vidssl/vidssl/internal/vec"
)

// Engine runs tensor operations on one device: a GPU through CUDA
// ([OpenCUDA]) or the host's CPU with nn's kernels ([NewHostEngine]). Every
// operation checks shapes and aliasing before it queues any work, and
// reports bad arguments as errors naming the op. On the
// CUDA engine operations are queued on one stream and run asynchronously;
// only Download and AllFinite wait for the device.
//
// An Engine is not safe for concurrent use.
type Engine struct {
	b backend
}

// backend is what an engine implementation provides. Arguments are checked
// by Engine before they get here.
type backend interface {
	name() string
	alloc(n int) (*buffer, error)
	free(b *buffer) error
	upload(dst *Tensor, src []float32) error
	download(dst []float32, src *Tensor) error
	fill(t *Tensor, v float32) error
	copy(dst, src *Tensor) error
	sync() error
	close() error

	conv(x, w, y *Tensor, g convGeom) error
	convBackwardData(w, dy, dx *Tensor, g convGeom) error
	convBackwardFilter(x, dy, dw *Tensor, g convGeom) error
	bnTrain(x, y *Tensor, bn *BatchNorm) error
	bnInfer(x, y *Tensor, bn *BatchNorm) error
	bnBackward(x, dy, dx, dw, db *Tensor, bn *BatchNorm) error
	pool(x, y *Tensor, g poolGeom) error
	poolBackward(x, y, dy, dx *Tensor, g poolGeom) error
	relu(x, y *Tensor) error
	reluBackward(y, dy, dx *Tensor) error
	add(a, b, y *Tensor, relu bool) error
	globalAvgPool(x, y *Tensor) error
	globalAvgPoolBackward(dy, dx *Tensor) error
	linear(x, w, b, y *Tensor) error
	linearBackward(x, w, dy, dx, dw, db *Tensor) error
	adam(p, g, m, v *Tensor, s vec.AdamCoeffs) error
	sgd(p, g, buf *Tensor, s vec.SGDCoeffs) error // buf is nil without momentum
	nonFinite(t *Tensor) (bool, error)
}

func newEngine(b backend) *Engine { return &Engine{b: b} }

// Name describes the engine, e.g. "host" or "cuda:0 NVIDIA H100 80GB HBM3
// (sm_90, driver 12.4, cuDNN 9.6.0, cuBLAS 12.4.5)".
func (e *Engine) Name() string { return e.b.name() }

// Close frees the engine's own resources (and, for CUDA, stops the device's
// thread). Tensors must not be used afterwards.
func (e *Engine) Close() error {
	return e.b.close()
}

// New allocates a zero-filled tensor. Its memory is not garbage collected:
// release it with Free.
func (e *Engine) New(shape ...int) (*Tensor, error) {
	if err := checkShape(shape); err != nil {
		return nil, fmt.Errorf("gpu: new: %w", err)
	}
	b, err := e.b.alloc(numel(shape))
	if err != nil {
		return nil, err
	}
	b.e = e
	t := &Tensor{shape: slices.Clone(shape), buf: b}
	b.owner = t
	if err := e.b.fill(t, 0); err != nil {
		_ = e.b.free(b)
		return nil, err
	}
	return t, nil
}

// FromHost allocates a tensor holding a copy of data.
func (e *Engine) FromHost(data []float32, shape ...int) (*Tensor, error) {
	t, err := e.New(shape...)
	if err != nil {
		return nil, err
	}
	if err := e.Upload(t, data); err != nil {
		_ = e.Free(t)
		return nil, err
	}
	return t, nil
}

// Free releases a tensor made by New; its views become invalid. Freeing a
// view is an error.
func (e *Engine) Free(t *Tensor) error {
	if err := e.check("free", t); err != nil {
		return err
	}
	if t.buf.owner != t {
		return fmt.Errorf("gpu: free: %v is a view, not an allocation", t)
	}
	t.buf.freed = true
	return e.b.free(t.buf)
}

// Upload copies src (as many values as dst holds) into dst.
func (e *Engine) Upload(dst *Tensor, src []float32) error {
	if err := e.check("upload", dst); err != nil {
		return err
	}
	if len(src) != dst.Len() {
		return fmt.Errorf("gpu: upload: %d values for %v (%d elements)", len(src), dst, dst.Len())
	}
	return e.b.upload(dst, src)
}

// Download waits for the work queued so far and copies src into dst, which
// must hold exactly src.Len() values.
func (e *Engine) Download(dst []float32, src *Tensor) error {
	if err := e.check("download", src); err != nil {
		return err
	}
	if len(dst) != src.Len() {
		return fmt.Errorf("gpu: download: %d values for %v (%d elements)", len(dst), src, src.Len())
	}
	return e.b.download(dst, src)
}

// ToHost returns a copy of t's values.
func (e *Engine) ToHost(t *Tensor) ([]float32, error) {
	if err := e.check("download", t); err != nil {
		return nil, err
	}
	out := make([]float32, t.Len())
	return out, e.b.download(out, t)
}

// Fill sets every element of t to v.
func (e *Engine) Fill(t *Tensor, v float32) error {
	if err := e.check("fill", t); err != nil {
		return err
	}
	return e.b.fill(t, v)
}

// Copy copies src into dst, which must have as many elements and must not
// overlap it.
func (e *Engine) Copy(dst, src *Tensor) error {
	if err := e.check("copy", dst, src); err != nil {
		return err
	}
	if dst.Len() != src.Len() || overlaps(dst, src) {
		return fmt.Errorf("gpu: copy %v to %v: want equal sizes and no overlap", src, dst)
	}
	return e.b.copy(dst, src)
}

// Sync waits for all queued work.
func (e *Engine) Sync() error { return e.b.sync() }

// check verifies that the tensors (nil ones are skipped) belong to e and are
// not freed.
func (e *Engine) check(op string, ts ...*Tensor) error {
	for _, t := range ts {
		if t == nil {
			continue
		}
		if t.buf == nil || t.buf.e != e {
			return fmt.Errorf("gpu: %s: %v belongs to another engine", op, t)
		}
		if t.buf.freed {
			return fmt.Errorf("gpu: %s: %v has been freed", op, t)
		}
	}
	return nil
}

// noOverlap reports an error when an output overlaps an input or another
// output. exact lists pairs (output index, input index) that may be the same
// elements, as elementwise ops allow.
func noOverlap(op string, outs, ins []*Tensor, exact ...[2]int) error {
	allowed := func(o, i int) bool {
		for _, p := range exact {
			if p[0] == o && p[1] == i {
				return true
			}
		}
		return false
	}
	for o, out := range outs {
		if out == nil {
			continue
		}
		for i, in := range ins {
			if in == nil || !overlaps(out, in) {
				continue
			}
			if allowed(o, i) && same(out, in) {
				continue
			}
			return fmt.Errorf("gpu: %s: output %v overlaps input %v", op, out, in)
		}
		for o2 := o + 1; o2 < len(outs); o2++ {
			if overlaps(out, outs[o2]) {
				return fmt.Errorf("gpu: %s: outputs %v and %v overlap", op, out, outs[o2])
			}
		}
	}
	return nil
}

func wantShape(op, what string, t *Tensor, shape ...int) error {
	if !sameShape(t.shape, shape) {
		return fmt.Errorf("gpu: %s: %s is %v, want %v", op, what, t.shape, shape)
	}
	return nil
}

// ConvParams are a 3-D convolution's stride and zero padding per dimension
// (T, H, W). Dilation is 1 and there is one group, as in vidssl's nn.Conv3d;
// the kernel size comes from the weight (Cout, Cin, kT, kH, kW). A zero
// stride means 1.
type ConvParams struct {
	// Stride and Padding are per dimension (T, H, W).
	Stride, Padding [3]int
}

// convGeom is a checked convolution: input, weight and output shapes.
type convGeom struct {
	x, w, y     [5]int
	stride, pad [3]int
}

func (p ConvParams) geometry(op string, xs, ws []int) (convGeom, error) {
	if len(xs) != 5 || len(ws) != 5 {
		return convGeom{}, fmt.Errorf("gpu: %s: input %v and weight %v, want 5 dimensions each", op, xs, ws)
	}
	if xs[1] != ws[1] {
		return convGeom{}, fmt.Errorf("gpu: %s: input %v has %d channels, weight %v expects %d", op, xs, xs[1], ws, ws[1])
	}
	g := convGeom{x: [5]int(xs), w: [5]int(ws), pad: p.Padding}
	g.y[0], g.y[1] = xs[0], ws[0]
	for i := range 3 {
		s := p.Stride[i]
		if s == 0 {
			s = 1
		}
		if s < 0 || p.Padding[i] < 0 {
			return convGeom{}, fmt.Errorf("gpu: %s: stride %v and padding %v must not be negative", op, p.Stride, p.Padding)
		}
		g.stride[i] = s
		padded := xs[2+i] + 2*p.Padding[i]
		if ws[2+i] > padded {
			return convGeom{}, fmt.Errorf("gpu: %s: kernel %v is larger than the padded input %v (padding %v)", op, ws[2:], xs, p.Padding)
		}
		g.y[2+i] = (padded-ws[2+i])/s + 1
	}
	return g, nil
}

// ConvOutputShape returns the output shape of a convolution of an input of
// shape x by a weight of shape w, or an error when they do not fit.
func ConvOutputShape(x, w []int, p ConvParams) ([]int, error) {
	g, err := p.geometry("Conv3d", x, w)
	if err != nil {
		return nil, err
	}
	return g.y[:], nil
}

// Conv3d computes y = x * w (cross-correlation, as PyTorch's conv3d without
// bias) for x (N, Cin, T, H, W), w (Cout, Cin, kT, kH, kW) and y of the
// output shape.
func (e *Engine) Conv3d(x, w, y *Tensor, p ConvParams) error {
	const op = "Conv3d"
	if err := e.check(op, x, w, y); err != nil {
		return err
	}
	g, err := p.geometry(op, x.shape, w.shape)
	if err != nil {
		return err
	}
	if err := wantShape(op, "output", y, g.y[:]...); err != nil {
		return err
	}
	if err := noOverlap(op, []*Tensor{y}, []*Tensor{x, w}); err != nil {
		return err
	}
	return e.b.conv(x, w, y, g)
}

// Conv3dBackwardData computes the gradient dx of a convolution's input from
// its weight and output gradient dy.
func (e *Engine) Conv3dBackwardData(w, dy, dx *Tensor, p ConvParams) error {
	const op = "Conv3dBackwardData"
	if err := e.check(op, w, dy, dx); err != nil {
		return err
	}
	g, err := p.geometry(op, dx.shape, w.shape)
	if err != nil {
		return err
	}
	if err := wantShape(op, "output gradient", dy, g.y[:]...); err != nil {
		return err
	}
	if err := noOverlap(op, []*Tensor{dx}, []*Tensor{w, dy}); err != nil {
		return err
	}
	return e.b.convBackwardData(w, dy, dx, g)
}

// Conv3dBackwardFilter computes the gradient dw of a convolution's weight
// from its input x and output gradient dy (overwriting dw).
func (e *Engine) Conv3dBackwardFilter(x, dy, dw *Tensor, p ConvParams) error {
	const op = "Conv3dBackwardFilter"
	if err := e.check(op, x, dy, dw); err != nil {
		return err
	}
	g, err := p.geometry(op, x.shape, dw.shape)
	if err != nil {
		return err
	}
	if err := wantShape(op, "output gradient", dy, g.y[:]...); err != nil {
		return err
	}
	if err := noOverlap(op, []*Tensor{dw}, []*Tensor{x, dy}); err != nil {
		return err
	}
	return e.b.convBackwardFilter(x, dy, dw, g)
}

// BatchNorm is a BatchNorm3d layer's state on an engine. Every tensor has
// shape (C). SaveMean and SaveInvStd are written by BatchNormTrain (the
// batch's mean and 1/sqrt(var + Eps)) and read by BatchNormBackward.
type BatchNorm struct {
	// Weight (gamma) and Bias (beta) are the learned affine parameters.
	Weight, Bias *Tensor
	// RunningMean and RunningVar are the running statistics (buffers).
	RunningMean, RunningVar *Tensor
	// SaveMean and SaveInvStd hold the last training batch's statistics.
	SaveMean, SaveInvStd *Tensor
	// Eps is added to the variance (PyTorch: 1e-5).
	Eps float64
	// Momentum weighs the batch in the running statistics (PyTorch: 0.1):
	// running = (1-Momentum)*running + Momentum*batch, with the unbiased
	// batch variance, as PyTorch and cuDNN compute it.
	Momentum float64
}

func (bn *BatchNorm) check(e *Engine, op string, x *Tensor, train bool) error {
	if bn == nil {
		return fmt.Errorf("gpu: %s: nil BatchNorm", op)
	}
	ts := []*Tensor{bn.Weight, bn.Bias, bn.RunningMean, bn.RunningVar}
	if train {
		ts = append(ts, bn.SaveMean, bn.SaveInvStd)
	}
	for _, t := range ts {
		if t == nil {
			return fmt.Errorf("gpu: %s: BatchNorm has a nil tensor", op)
		}
	}
	if err := e.check(op, append(ts, x)...); err != nil {
		return err
	}
	if len(x.shape) != 5 {
		return fmt.Errorf("gpu: %s: input %v, want (N, C, T, H, W)", op, x.shape)
	}
	for _, t := range ts {
		if err := wantShape(op, "per-channel tensor", t, x.shape[1]); err != nil {
			return err
		}
	}
	if !(bn.Eps > 0) || math.IsInf(bn.Eps, 0) || !(bn.Momentum >= 0 && bn.Momentum <= 1) {
		return fmt.Errorf("gpu: %s: eps %v and momentum %v, want eps > 0 and momentum in [0, 1]", op, bn.Eps, bn.Momentum)
	}
	if train && x.Len()/x.shape[1] < 2 {
		return fmt.Errorf("gpu: %s: expected more than 1 value per channel when training, got input %v", op, x.shape)
	}
	return nil
}

// BatchNormTrain normalises x (N, C, T, H, W) with the batch's statistics into
// y, updates the running statistics and saves the batch statistics for
// BatchNormBackward.
func (e *Engine) BatchNormTrain(x, y *Tensor, bn *BatchNorm) error {
	const op = "BatchNormTrain"
	if err := bn.check(e, op, x, true); err != nil {
		return err
	}
	if err := e.check(op, y); err != nil {
		return err
	}
	if err := wantShape(op, "output", y, x.shape...); err != nil {
		return err
	}
	outs := []*Tensor{y, bn.RunningMean, bn.RunningVar, bn.SaveMean, bn.SaveInvStd}
	if err := noOverlap(op, outs, []*Tensor{x, bn.Weight, bn.Bias}); err != nil {
		return err
	}
	return e.b.bnTrain(x, y, bn)
}

// BatchNormInfer normalises x with the running statistics into y.
func (e *Engine) BatchNormInfer(x, y *Tensor, bn *BatchNorm) error {
	const op = "BatchNormInfer"
	if err := bn.check(e, op, x, false); err != nil {
		return err
	}
	if err := e.check(op, y); err != nil {
		return err
	}
	if err := wantShape(op, "output", y, x.shape...); err != nil {
		return err
	}
	if err := noOverlap(op, []*Tensor{y}, []*Tensor{x, bn.Weight, bn.Bias, bn.RunningMean, bn.RunningVar}); err != nil {
		return err
	}
	return e.b.bnInfer(x, y, bn)
}

// BatchNormBackward computes, for a BatchNormTrain of x, the input gradient
// dx and the weight and bias gradients dWeight and dBias (overwritten) from
// the output gradient dy, using the statistics BatchNormTrain saved (cuDNN)
// or, on the host engine, the same statistics recomputed from x in float64,
// as nn's gradient ops do.
func (e *Engine) BatchNormBackward(x, dy, dx, dWeight, dBias *Tensor, bn *BatchNorm) error {
	const op = "BatchNormBackward"
	if err := bn.check(e, op, x, true); err != nil {
		return err
	}
	if err := e.check(op, dy, dx, dWeight, dBias); err != nil {
		return err
	}
	if dy == nil || dx == nil || dWeight == nil || dBias == nil {
		return fmt.Errorf("gpu: %s: nil gradient tensor", op)
	}
	for _, t := range []*Tensor{dy, dx} {
		if err := wantShape(op, "gradient", t, x.shape...); err != nil {
			return err
		}
	}
	for _, t := range []*Tensor{dWeight, dBias} {
		if err := wantShape(op, "parameter gradient", t, x.shape[1]); err != nil {
			return err
		}
	}
	ins := []*Tensor{x, dy, bn.Weight, bn.SaveMean, bn.SaveInvStd}
	if err := noOverlap(op, []*Tensor{dx, dWeight, dBias}, ins); err != nil {
		return err
	}
	return e.b.bnBackward(x, dy, dx, dWeight, dBias, bn)
}

// PoolParams describe a 3-D pooling window per dimension (T, H, W), as
// PyTorch's max_pool3d and avg_pool3d with ceil_mode=False; average pooling
// counts padding in the divisor (count_include_pad=True). A zero stride
// means the kernel size.
type PoolParams struct {
	// Kernel, Stride and Padding are per dimension (T, H, W).
	Kernel, Stride, Padding [3]int
	// Max selects max pooling; otherwise average pooling.
	Max bool
}

type poolGeom struct {
	x, y                [5]int
	kernel, stride, pad [3]int
	max                 bool
}

func (p PoolParams) geometry(op string, xs []int) (poolGeom, error) {
	if len(xs) != 5 {
		return poolGeom{}, fmt.Errorf("gpu: %s: input %v, want (N, C, T, H, W)", op, xs)
	}
	g := poolGeom{x: [5]int(xs), kernel: p.Kernel, pad: p.Padding, max: p.Max}
	g.y[0], g.y[1] = xs[0], xs[1]
	for i := range 3 {
		k, s := p.Kernel[i], p.Stride[i]
		if s == 0 {
			s = k
		}
		if k < 1 || s < 1 || p.Padding[i] < 0 || 2*p.Padding[i] > k || k > xs[2+i]+2*p.Padding[i] {
			return poolGeom{}, fmt.Errorf("gpu: %s: kernel %v, stride %v, padding %v do not fit input %v", op, p.Kernel, p.Stride, p.Padding, xs)
		}
		g.stride[i] = s
		g.y[2+i] = (xs[2+i]+2*p.Padding[i]-k)/s + 1
	}
	return g, nil
}

// Pool3d pools x (N, C, T, H, W) into y.
func (e *Engine) Pool3d(x, y *Tensor, p PoolParams) error {
	const op = "Pool3d"
	if err := e.check(op, x, y); err != nil {
		return err
	}
	g, err := p.geometry(op, x.shape)
	if err != nil {
		return err
	}
	if err := wantShape(op, "output", y, g.y[:]...); err != nil {
		return err
	}
	if err := noOverlap(op, []*Tensor{y}, []*Tensor{x}); err != nil {
		return err
	}
	return e.b.pool(x, y, g)
}

// Pool3dBackward computes the input gradient dx of Pool3d(x) = y from the
// output gradient dy.
func (e *Engine) Pool3dBackward(x, y, dy, dx *Tensor, p PoolParams) error {
	const op = "Pool3dBackward"
	if err := e.check(op, x, y, dy, dx); err != nil {
		return err
	}
	g, err := p.geometry(op, x.shape)
	if err != nil {
		return err
	}
	for _, c := range []struct {
		what string
		t    *Tensor
		s    []int
	}{{"output", y, g.y[:]}, {"output gradient", dy, g.y[:]}, {"input gradient", dx, g.x[:]}} {
		if err := wantShape(op, c.what, c.t, c.s...); err != nil {
			return err
		}
	}
	if err := noOverlap(op, []*Tensor{dx}, []*Tensor{x, y, dy}); err != nil {
		return err
	}
	return e.b.poolBackward(x, y, dy, dx, g)
}

// ReLU computes y = max(x, 0) (NaN stays NaN); y may be x.
func (e *Engine) ReLU(x, y *Tensor) error {
	const op = "ReLU"
	if err := e.check(op, x, y); err != nil {
		return err
	}
	if err := wantShape(op, "output", y, x.shape...); err != nil {
		return err
	}
	if err := noOverlap(op, []*Tensor{y}, []*Tensor{x}, [2]int{0, 0}); err != nil {
		return err
	}
	return e.b.relu(x, y)
}

// ReLUBackward computes dx = dy where y > 0, else 0, from ReLU's output y;
// dx may be dy or y.
func (e *Engine) ReLUBackward(y, dy, dx *Tensor) error {
	const op = "ReLUBackward"
	if err := e.check(op, y, dy, dx); err != nil {
		return err
	}
	for _, t := range []*Tensor{dy, dx} {
		if err := wantShape(op, "gradient", t, y.shape...); err != nil {
			return err
		}
	}
	if err := noOverlap(op, []*Tensor{dx}, []*Tensor{y, dy}, [2]int{0, 0}, [2]int{0, 1}); err != nil {
		return err
	}
	return e.b.reluBackward(y, dy, dx)
}

// Add computes y = a + b elementwise for tensors of one shape; y may be a or b.
func (e *Engine) Add(a, b, y *Tensor) error { return e.addOp("Add", a, b, y, false) }

// AddReLU computes y = max(a + b, 0), the end of a residual block; y may be
// a or b.
func (e *Engine) AddReLU(a, b, y *Tensor) error { return e.addOp("AddReLU", a, b, y, true) }

func (e *Engine) addOp(op string, a, b, y *Tensor, relu bool) error {
	if err := e.check(op, a, b, y); err != nil {
		return err
	}
	for _, t := range []*Tensor{b, y} {
		if err := wantShape(op, "operand", t, a.shape...); err != nil {
			return err
		}
	}
	if err := noOverlap(op, []*Tensor{y}, []*Tensor{a, b}, [2]int{0, 0}, [2]int{0, 1}); err != nil {
		return err
	}
	return e.b.add(a, b, y, relu)
}

// GlobalAvgPool averages x (N, C, T, H, W) over T, H and W into y (N, C):
// AdaptiveAvgPool3d(1) followed by flatten.
func (e *Engine) GlobalAvgPool(x, y *Tensor) error {
	const op = "GlobalAvgPool"
	if err := e.check(op, x, y); err != nil {
		return err
	}
	if len(x.shape) != 5 {
		return fmt.Errorf("gpu: %s: input %v, want (N, C, T, H, W)", op, x.shape)
	}
	if err := wantShape(op, "output", y, x.shape[0], x.shape[1]); err != nil {
		return err
	}
	if err := noOverlap(op, []*Tensor{y}, []*Tensor{x}); err != nil {
		return err
	}
	return e.b.globalAvgPool(x, y)
}

// GlobalAvgPoolBackward spreads dy (N, C) evenly over dx (N, C, T, H, W).
func (e *Engine) GlobalAvgPoolBackward(dy, dx *Tensor) error {
	const op = "GlobalAvgPoolBackward"
	if err := e.check(op, dy, dx); err != nil {
		return err
	}
	if len(dx.shape) != 5 {
		return fmt.Errorf("gpu: %s: input gradient %v, want (N, C, T, H, W)", op, dx.shape)
	}
	if err := wantShape(op, "output gradient", dy, dx.shape[0], dx.shape[1]); err != nil {
		return err
	}
	if err := noOverlap(op, []*Tensor{dx}, []*Tensor{dy}); err != nil {
		return err
	}
	return e.b.globalAvgPoolBackward(dy, dx)
}

// Linear computes y = x w^T + b for x (N, in), w (out, in), b (out) or nil,
// and y (N, out), as torch.nn.functional.linear (through cuBLAS on CUDA).
func (e *Engine) Linear(x, w, b, y *Tensor) error {
	const op = "Linear"
	if err := e.check(op, x, w, b, y); err != nil {
		return err
	}
	if err := linearShapes(op, x, w, b); err != nil {
		return err
	}
	if err := wantShape(op, "output", y, x.shape[0], w.shape[0]); err != nil {
		return err
	}
	if err := noOverlap(op, []*Tensor{y}, []*Tensor{x, w, b}); err != nil {
		return err
	}
	return e.b.linear(x, w, b, y)
}

func linearShapes(op string, x, w, b *Tensor) error {
	if len(x.shape) != 2 || len(w.shape) != 2 || x.shape[1] != w.shape[1] {
		return fmt.Errorf("gpu: %s: input %v and weight %v, want (N, in) and (out, in)", op, x.shape, w.shape)
	}
	if b != nil {
		return wantShape(op, "bias", b, w.shape[0])
	}
	return nil
}

// LinearBackward computes Linear's gradients from dy (N, out): dx (N, in),
// dw (out, in) and db (out), each overwritten; dx and db may be nil when not
// wanted.
func (e *Engine) LinearBackward(x, w, dy, dx, dw, db *Tensor) error {
	const op = "LinearBackward"
	if err := e.check(op, x, w, dy, dx, dw, db); err != nil {
		return err
	}
	if dw == nil {
		return fmt.Errorf("gpu: %s: nil weight gradient", op)
	}
	if err := linearShapes(op, x, w, db); err != nil {
		return err
	}
	if err := wantShape(op, "output gradient", dy, x.shape[0], w.shape[0]); err != nil {
		return err
	}
	if err := wantShape(op, "weight gradient", dw, w.shape...); err != nil {
		return err
	}
	if dx != nil {
		if err := wantShape(op, "input gradient", dx, x.shape...); err != nil {
			return err
		}
	}
	if err := noOverlap(op, []*Tensor{dx, dw, db}, []*Tensor{x, w, dy}); err != nil {
		return err
	}
	return e.b.linearBackward(x, w, dy, dx, dw, db)
}

// AdamStep is one step of Adam's hyperparameters, as nn.Adam: learning rate,
// betas, eps, L2 weight decay, and the step number t (from 1) for the bias
// corrections.
type AdamStep struct {
	// LR, Beta1, Beta2, Eps and WeightDecay are nn.Adam's fields.
	LR, Beta1, Beta2, Eps, WeightDecay float64
	// Step is the update's number, from 1.
	Step int64
}

// scalars checks s and returns the float32 coefficients of the update,
// computed as nn.Adam computes them.
func (s AdamStep) scalars() (vec.AdamCoeffs, error) {
	switch {
	case !(s.LR >= 0) || math.IsInf(s.LR, 0):
		return vec.AdamCoeffs{}, fmt.Errorf("gpu: Adam: invalid learning rate %v", s.LR)
	case !(s.Beta1 >= 0 && s.Beta1 < 1):
		return vec.AdamCoeffs{}, fmt.Errorf("gpu: Adam: invalid beta1 %v, want [0, 1)", s.Beta1)
	case !(s.Beta2 >= 0 && s.Beta2 < 1):
		return vec.AdamCoeffs{}, fmt.Errorf("gpu: Adam: invalid beta2 %v, want [0, 1)", s.Beta2)
	case !(s.Eps >= 0) || math.IsInf(s.Eps, 0):
		return vec.AdamCoeffs{}, fmt.Errorf("gpu: Adam: invalid eps %v", s.Eps)
	case !(s.WeightDecay >= 0) || math.IsInf(s.WeightDecay, 0):
		return vec.AdamCoeffs{}, fmt.Errorf("gpu: Adam: invalid weight decay %v", s.WeightDecay)
	case s.Step < 1:
		return vec.AdamCoeffs{}, fmt.Errorf("gpu: Adam: step %d, want >= 1", s.Step)
	}
	return vec.NewAdamCoeffs(s.LR, s.Beta1, s.Beta2, s.Eps, s.WeightDecay, s.Step), nil
}

// Adam applies one Adam update to parameters p from gradients g, with first
// and second moments m and v (all of one size, pairwise disjoint), exactly
// as nn.Adam computes it per element.
func (e *Engine) Adam(p, g, m, v *Tensor, s AdamStep) error {
	const op = "Adam"
	if err := e.check(op, p, g, m, v); err != nil {
		return err
	}
	sc, err := s.scalars()
	if err != nil {
		return err
	}
	if err := sameSizeDisjoint(op, p, g, m, v); err != nil {
		return err
	}
	return e.b.adam(p, g, m, v, sc)
}

// sameSizeDisjoint reports an error unless the tensors of an optimiser
// step (parameters, gradients and state) are all given, all have the
// first's size and no two overlap.
func sameSizeDisjoint(op string, ts ...*Tensor) error {
	if slices.Contains(ts, nil) {
		return fmt.Errorf("gpu: %s: a nil tensor", op)
	}
	for _, t := range ts[1:] {
		if t.Len() != ts[0].Len() {
			return fmt.Errorf("gpu: %s: tensors of %d and %d elements, want equal sizes", op, ts[0].Len(), t.Len())
		}
	}
	for i := range ts {
		for j := i + 1; j < len(ts); j++ {
			if overlaps(ts[i], ts[j]) {
				return fmt.Errorf("gpu: %s: %v and %v overlap", op, ts[i], ts[j])
			}
		}
	}
	return nil
}

// SGDStep is one step of SGD's hyperparameters, as nn.SGD: learning rate,
// momentum, dampening, L2 weight decay and Nesterov momentum, and whether
// the momentum buffer is still unset (nn.SGD's first step with momentum for
// a Param, which sets the buffer to the gradient instead of decaying it).
type SGDStep struct {
	// LR, Momentum, Dampening, WeightDecay and Nesterov are nn.SGD's
	// fields.
	LR, Momentum, Dampening, WeightDecay float64
	Nesterov                             bool
	// First marks the first step with momentum: the buffer's contents are
	// ignored and it is set to the (weight-decayed) gradient.
	First bool
}

// scalars checks s and returns the float32 coefficients of the update,
// computed as nn.SGD computes them.
func (s SGDStep) scalars() (vec.SGDCoeffs, error) {
	switch {
	case !(s.LR >= 0) || math.IsInf(s.LR, 0):
		return vec.SGDCoeffs{}, fmt.Errorf("gpu: SGD: invalid learning rate %v", s.LR)
	case !(s.Momentum >= 0) || math.IsInf(s.Momentum, 0):
		return vec.SGDCoeffs{}, fmt.Errorf("gpu: SGD: invalid momentum %v", s.Momentum)
	case math.IsNaN(s.Dampening) || math.IsInf(s.Dampening, 0):
		return vec.SGDCoeffs{}, fmt.Errorf("gpu: SGD: invalid dampening %v", s.Dampening)
	case !(s.WeightDecay >= 0) || math.IsInf(s.WeightDecay, 0):
		return vec.SGDCoeffs{}, fmt.Errorf("gpu: SGD: invalid weight decay %v", s.WeightDecay)
	case s.Nesterov && (s.Momentum <= 0 || s.Dampening != 0):
		return vec.SGDCoeffs{}, fmt.Errorf("gpu: SGD: Nesterov momentum needs a positive momentum and zero dampening")
	}
	return vec.SGDCoeffs{
		NegLR: float32(-s.LR), WeightDecay: float32(s.WeightDecay), Momentum: float32(s.Momentum),
		OneMinusDampening: float32(1 - s.Dampening), Nesterov: s.Nesterov, First: s.First,
	}, nil
}

// SGD applies one SGD update to parameters p from gradients g, with
// momentum buffer buf (all of one size, pairwise disjoint), exactly as
// nn.SGD computes it per element. buf may be nil when s.Momentum is 0: plain
// gradient descent has no buffer (one that is given is left unchanged).
func (e *Engine) SGD(p, g, buf *Tensor, s SGDStep) error {
	const op = "SGD"
	ts := []*Tensor{p, g}
	if buf != nil {
		ts = append(ts, buf)
	} else if s.Momentum != 0 {
		return fmt.Errorf("gpu: %s: momentum %v without a momentum buffer", op, s.Momentum)
	}
	if err := e.check(op, ts...); err != nil {
		return err
	}
	sc, err := s.scalars()
	if err != nil {
		return err
	}
	if err := sameSizeDisjoint(op, ts...); err != nil {
		return err
	}
	return e.b.sgd(p, g, buf, sc)
}

// AllFinite reports whether every element of t is finite. It waits for the
// device.
func (e *Engine) AllFinite(t *Tensor) (bool, error) {
	if err := e.check("AllFinite", t); err != nil {
		return false, err
	}
	bad, err := e.b.nonFinite(t)
	return !bad, err
}

// IsOutOfMemory reports whether err is a failure to allocate device memory
// (of the driver, cuBLAS or cuDNN), after which a smaller batch may fit.
func IsOutOfMemory(err error) bool { return cuda.IsOutOfMemory(err) }
