package gpu

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vidssl/vidssl/internal/cuda"
)

// cuDNN's part of the CUDA backend: descriptors, cached per shape,
// convolution algorithms, chosen once per shape and direction, and the
// calls. Everything here runs on the device thread.

// alpha and beta scaling factors (host memory, float for float data).
var (
	one  float32 = 1
	zero float32 = 0
)

// packedStrides returns the strides of a packed row-major tensor.
func packedStrides(dims []int) []int32 {
	s := make([]int32, len(dims))
	acc := 1
	for i := len(dims) - 1; i >= 0; i-- {
		s[i] = int32(acc)
		acc *= dims[i]
	}
	return s
}

func int32s(v []int) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}

// tensorDesc returns the cached descriptor of a packed float NCDHW tensor.
func (c *cudaBackend) tensorDesc(d *cuda.Device, dims [5]int) (uintptr, error) {
	if h, ok := c.tensorDescs[dims]; ok {
		return h, nil
	}
	var h uintptr
	if err := d.DNN.Check("cudnnCreateTensorDescriptor", d.DNN.CreateTensorDescriptor(&h)); err != nil {
		return 0, err
	}
	dd, st := int32s(dims[:]), packedStrides(dims[:])
	if err := d.DNN.Check("cudnnSetTensorNdDescriptor", d.DNN.SetTensorNdDescriptor(h, cuda.DNNDataFloat, 5, &dd[0], &st[0])); err != nil {
		d.DNN.DestroyTensorDescriptor(h)
		return 0, fmt.Errorf("%w (tensor %v)", err, dims)
	}
	c.tensorDescs[dims] = h
	return h, nil
}

// convKey identifies a convolution for the plan cache: shapes, stride and
// padding. (The math mode is the engine's, fixed at open.)
type convKey struct {
	x, w        [5]int
	stride, pad [3]int
}

func (g convGeom) key() convKey { return convKey{x: g.x, w: g.w, stride: g.stride, pad: g.pad} }

// String formats the key for errors.
func (k convKey) String() string {
	return fmt.Sprintf("x=%v w=%v stride=%v pad=%v", k.x, k.w, k.stride, k.pad)
}

// Convolution directions.
const (
	dirForward = iota
	dirBackwardData
	dirBackwardFilter
)

var dirNames = [3]string{"forward", "backward data", "backward filter"}

// algoChoice is an algorithm with the math type and workspace to run it with.
type algoChoice struct {
	algo, mathType int32
	workspace      int
}

// convPlan holds a convolution's descriptors and, once found, its algorithm
// for each direction.
type convPlan struct {
	xd, wd, yd, cd uintptr
	chosen         [3]*algoChoice
}

// convDescArgs returns the arguments of cudnnSetConvolutionNdDescriptor for
// a geometry: padding, stride and dilation per spatial dimension.
func convDescArgs(g convGeom) (pad, stride, dilation []int32) {
	return int32s(g.pad[:]), int32s(g.stride[:]), []int32{1, 1, 1}
}

// mathType is the math type set on convolution descriptors before choosing
// algorithms.
func (c *cudaBackend) mathType() int32 {
	if c.opts.AllowTF32 {
		return cuda.DNNDefaultMath
	}
	return cuda.DNNFMAMath
}

func (c *cudaBackend) convPlan(d *cuda.Device, g convGeom) (*convPlan, error) {
	k := g.key()
	if p, ok := c.convs[k]; ok {
		return p, nil
	}
	p := &convPlan{}
	var err error
	if p.xd, err = c.tensorDesc(d, g.x); err != nil {
		return nil, err
	}
	if p.yd, err = c.tensorDesc(d, g.y); err != nil {
		return nil, err
	}
	dnn := d.DNN
	if err := dnn.Check("cudnnCreateFilterDescriptor", dnn.CreateFilterDescriptor(&p.wd)); err != nil {
		return nil, err
	}
	wdims := int32s(g.w[:])
	if err := dnn.Check("cudnnSetFilterNdDescriptor", dnn.SetFilterNdDescriptor(p.wd, cuda.DNNDataFloat, cuda.DNNTensorNCHW, 5, &wdims[0])); err != nil {
		dnn.DestroyFilterDescriptor(p.wd)
		return nil, fmt.Errorf("%w (conv %v)", err, k)
	}
	if err := dnn.Check("cudnnCreateConvolutionDescriptor", dnn.CreateConvolutionDescriptor(&p.cd)); err != nil {
		dnn.DestroyFilterDescriptor(p.wd)
		return nil, err
	}
	pad, stride, dil := convDescArgs(g)
	err = dnn.Check("cudnnSetConvolutionNdDescriptor", dnn.SetConvolutionNdDescriptor(p.cd, 3, &pad[0], &stride[0], &dil[0], cuda.DNNCrossCorrelation, cuda.DNNDataFloat))
	if err == nil {
		err = dnn.Check("cudnnSetConvolutionMathType", dnn.SetConvolutionMathType(p.cd, c.mathType()))
	}
	if err == nil {
		// cuDNN's idea of the output shape must be ours.
		var out [5]int32
		err = dnn.Check("cudnnGetConvolutionNdForwardOutputDim", dnn.GetConvolutionNdForwardOutputDim(p.cd, p.xd, p.wd, 5, &out[0]))
		if err == nil && out != [5]int32(int32s(g.y[:])) {
			err = fmt.Errorf("gpu: cuDNN computes output %v for conv %v, want %v", out, k, g.y)
		}
	}
	if err != nil {
		dnn.DestroyConvolutionDescriptor(p.cd)
		dnn.DestroyFilterDescriptor(p.wd)
		return nil, fmt.Errorf("%w (conv %v)", err, k)
	}
	c.convs[k] = p
	return p, nil
}

// chooseAlgo returns the first usable result, in cuDNN's order (fastest
// first for Find, best first for Get): status success, workspace within
// limit, and no tensor-op math when TF32 is not allowed (the choice then
// runs with FMA math whatever cuDNN reported).
func chooseAlgo(perfs []cuda.ConvPerf, limit int, allowTF32 bool) (algoChoice, error) {
	var tried []string
	for _, p := range perfs {
		switch {
		case p.Status != 0:
			tried = append(tried, fmt.Sprintf("algo %d: status %d", p.Algo, p.Status))
		case p.Memory > uint64(limit):
			tried = append(tried, fmt.Sprintf("algo %d: needs %d bytes of workspace, limit %d", p.Algo, p.Memory, limit))
		case !allowTF32 && (p.MathType == cuda.DNNTensorOp || p.MathType == cuda.DNNTensorOpAllowConversion):
			tried = append(tried, fmt.Sprintf("algo %d: tensor-op math", p.Algo))
		default:
			c := algoChoice{algo: p.Algo, mathType: p.MathType, workspace: int(p.Memory)}
			if !allowTF32 {
				// DEFAULT math permits TF32 on Ampere and later; pin FP32.
				c.mathType = cuda.DNNFMAMath
			}
			return c, nil
		}
	}
	return algoChoice{}, fmt.Errorf("no usable algorithm (%s)", strings.Join(tried, "; "))
}

func (c *cudaBackend) workspaceLimit() int {
	if c.opts.WorkspaceLimit > 0 {
		return int(c.opts.WorkspaceLimit)
	}
	return 4 << 30
}

// ensureWorkspace grows the shared workspace to at least n bytes.
func (c *cudaBackend) ensureWorkspace(n int) error {
	if n <= c.wsBytes {
		return nil
	}
	if c.ws != 0 {
		if err := c.api.free(c.ws); err != nil {
			return err
		}
		c.ws, c.wsBytes = 0, 0
	}
	p, err := c.api.alloc(n)
	if err != nil {
		return fmt.Errorf("%w (convolution workspace)", err)
	}
	c.ws, c.wsBytes = p, n
	return nil
}

// convIO are the device pointers of one convolution call: x, w and y are the
// forward's input, weight and output (for the backward directions: the
// input or its gradient, the weight or its gradient, the output gradient).
type convIO struct{ x, w, y uintptr }

// algorithm returns the plan's algorithm for a direction, finding it on
// first use. Find runs every algorithm on io's buffers (outputs get
// overwritten afterwards by the real call).
func (c *cudaBackend) algorithm(d *cuda.Device, p *convPlan, g convGeom, dir int, io convIO) (*algoChoice, error) {
	if a := p.chosen[dir]; a != nil {
		return a, nil
	}
	dnn, h := d.DNN, d.DNNHandle
	counts := [3]int{cuda.DNNFwdAlgoCount, cuda.DNNBwdDataAlgoCount, cuda.DNNBwdFilterAlgoCount}
	n := counts[dir]
	perfs := make([]cuda.ConvPerf, n)
	var got int32
	limit := c.workspaceLimit()
	if err := dnn.Check("cudnnSetConvolutionMathType", dnn.SetConvolutionMathType(p.cd, c.mathType())); err != nil {
		return nil, err
	}
	if c.opts.Heuristic {
		var s cuda.DNNStatus
		switch dir {
		case dirForward:
			s = dnn.GetConvolutionForwardAlgorithmV7(h, p.xd, p.wd, p.cd, p.yd, int32(n), &got, &perfs[0])
		case dirBackwardData:
			s = dnn.GetConvolutionBackwardDataAlgorithmV7(h, p.wd, p.yd, p.cd, p.xd, int32(n), &got, &perfs[0])
		default:
			s = dnn.GetConvolutionBackwardFilterAlgorithmV7(h, p.xd, p.yd, p.cd, p.wd, int32(n), &got, &perfs[0])
		}
		if err := dnn.Check("cudnnGetConvolution*Algorithm_v7", s); err != nil {
			return nil, err
		}
	} else {
		// Size the search workspace to the largest any algorithm asks for,
		// within the limit and half the free memory.
		need := 0
		for a := range n {
			var sz uintptr
			var s cuda.DNNStatus
			switch dir {
			case dirForward:
				s = dnn.GetConvolutionForwardWorkspaceSize(h, p.xd, p.wd, p.cd, p.yd, int32(a), &sz)
			case dirBackwardData:
				s = dnn.GetConvolutionBackwardDataWorkspaceSize(h, p.wd, p.yd, p.cd, p.xd, int32(a), &sz)
			default:
				s = dnn.GetConvolutionBackwardFilterWorkspaceSize(h, p.xd, p.yd, p.cd, p.wd, int32(a), &sz)
			}
			if s == 0 && int(sz) <= limit {
				need = max(need, int(sz))
			}
		}
		if free, _, err := c.api.memInfo(); err == nil {
			need = min(need, int(free/2))
		}
		var ws uintptr
		for need > 0 {
			var err error
			if ws, err = c.api.alloc(need); err == nil {
				break
			}
			if !cuda.IsOutOfMemory(err) {
				return nil, err
			}
			need /= 2
		}
		var s cuda.DNNStatus
		switch dir {
		case dirForward:
			s = dnn.FindConvolutionForwardAlgorithmEx(h, p.xd, io.x, p.wd, io.w, p.cd, p.yd, io.y, int32(n), &got, &perfs[0], ws, uintptr(need))
		case dirBackwardData:
			s = dnn.FindConvolutionBackwardDataAlgorithmEx(h, p.wd, io.w, p.yd, io.y, p.cd, p.xd, io.x, int32(n), &got, &perfs[0], ws, uintptr(need))
		default:
			s = dnn.FindConvolutionBackwardFilterAlgorithmEx(h, p.xd, io.x, p.yd, io.y, p.cd, p.wd, io.w, int32(n), &got, &perfs[0], ws, uintptr(need))
		}
		if ws != 0 {
			if err := c.api.free(ws); err != nil {
				return nil, err
			}
		}
		if err := dnn.Check("cudnnFindConvolution*AlgorithmEx", s); err != nil {
			return nil, fmt.Errorf("%w (%s of conv %v)", err, dirNames[dir], g.key())
		}
		limit = min(limit, max(need, 0))
	}
	if c.allowAlgo != nil {
		for i := range perfs[:got] {
			if !c.allowAlgo(dir, perfs[i].Algo) && perfs[i].Status == 0 {
				perfs[i].Status = -1 // skipped by chooseAlgo, named in its error
			}
		}
	}
	choice, err := chooseAlgo(perfs[:got], limit, c.opts.AllowTF32)
	if err != nil {
		return nil, fmt.Errorf("gpu: %s of conv %v: %w", dirNames[dir], g.key(), err)
	}
	p.chosen[dir] = &choice
	return &choice, nil
}

// convCall runs one direction of a convolution.
func (c *cudaBackend) convCall(g convGeom, dir int, io convIO) error {
	return c.api.do(func() error {
		d, err := c.api.dnn()
		if err != nil {
			return err
		}
		p, err := c.convPlan(d, g)
		if err != nil {
			return err
		}
		a, err := c.algorithm(d, p, g, dir, io)
		if err != nil {
			return err
		}
		dnn, h := d.DNN, d.DNNHandle
		if err := dnn.Check("cudnnSetConvolutionMathType", dnn.SetConvolutionMathType(p.cd, a.mathType)); err != nil {
			return err
		}
		if err := c.ensureWorkspace(a.workspace); err != nil {
			return err
		}
		ws, wsBytes := c.ws, uintptr(a.workspace)
		var s cuda.DNNStatus
		var call string
		switch dir {
		case dirForward:
			call = "cudnnConvolutionForward"
			s = dnn.ConvolutionForward(h, &one, p.xd, io.x, p.wd, io.w, p.cd, a.algo, ws, wsBytes, &zero, p.yd, io.y)
		case dirBackwardData:
			call = "cudnnConvolutionBackwardData"
			s = dnn.ConvolutionBackwardData(h, &one, p.wd, io.w, p.yd, io.y, p.cd, a.algo, ws, wsBytes, &zero, p.xd, io.x)
		default:
			call = "cudnnConvolutionBackwardFilter"
			s = dnn.ConvolutionBackwardFilter(h, &one, p.xd, io.x, p.yd, io.y, p.cd, a.algo, ws, wsBytes, &zero, p.wd, io.w)
		}
		if err := dnn.Check(call, s); err != nil {
			return fmt.Errorf("%w (conv %v, algo %d)", err, g.key(), a.algo)
		}
		return nil
	})
}

func (c *cudaBackend) conv(x, w, y *Tensor, g convGeom) error {
	return c.convCall(g, dirForward, convIO{x: dptr(x), w: dptr(w), y: dptr(y)})
}

func (c *cudaBackend) convBackwardData(w, dy, dx *Tensor, g convGeom) error {
	return c.convCall(g, dirBackwardData, convIO{x: dptr(dx), w: dptr(w), y: dptr(dy)})
}

func (c *cudaBackend) convBackwardFilter(x, dy, dw *Tensor, g convGeom) error {
	return c.convCall(g, dirBackwardFilter, convIO{x: dptr(x), w: dptr(dw), y: dptr(dy)})
}

// bnDesc returns the cached per-channel descriptor derived from an input
// shape (1, C, 1, 1, 1), with the input's descriptor.
func (c *cudaBackend) bnDesc(d *cuda.Device, x *Tensor) (xd, bnd uintptr, err error) {
	dims := [5]int(x.shape)
	if xd, err = c.tensorDesc(d, dims); err != nil {
		return 0, 0, err
	}
	if h, ok := c.bnDescs[dims]; ok {
		return xd, h, nil
	}
	dnn := d.DNN
	if err := dnn.Check("cudnnCreateTensorDescriptor", dnn.CreateTensorDescriptor(&bnd)); err != nil {
		return 0, 0, err
	}
	if err := dnn.Check("cudnnDeriveBNTensorDescriptor", dnn.DeriveBNTensorDescriptor(bnd, xd, cuda.DNNBatchNormSpatial)); err != nil {
		dnn.DestroyTensorDescriptor(bnd)
		return 0, 0, fmt.Errorf("%w (input %v)", err, x.shape)
	}
	c.bnDescs[dims] = bnd
	return xd, bnd, nil
}

// bnCall runs f with the batch norm descriptors of x.
func (c *cudaBackend) bnCall(x *Tensor, f func(d *cuda.Device, xd, bnd uintptr) error) error {
	return c.api.do(func() error {
		d, err := c.api.dnn()
		if err != nil {
			return err
		}
		xd, bnd, err := c.bnDesc(d, x)
		if err != nil {
			return err
		}
		return f(d, xd, bnd)
	})
}

func (c *cudaBackend) bnTrain(x, y *Tensor, bn *BatchNorm) error {
	return c.bnCall(x, func(d *cuda.Device, xd, bnd uintptr) error {
		s := d.DNN.BatchNormalizationForwardTraining(d.DNNHandle, cuda.DNNBatchNormSpatial, &one, &zero,
			xd, dptr(x), xd, dptr(y), bnd, dptr(bn.Weight), dptr(bn.Bias),
			bn.Momentum, dptr(bn.RunningMean), dptr(bn.RunningVar), bn.Eps, dptr(bn.SaveMean), dptr(bn.SaveInvStd))
		return d.DNN.Check("cudnnBatchNormalizationForwardTraining", s)
	})
}

func (c *cudaBackend) bnInfer(x, y *Tensor, bn *BatchNorm) error {
	return c.bnCall(x, func(d *cuda.Device, xd, bnd uintptr) error {
		s := d.DNN.BatchNormalizationForwardInference(d.DNNHandle, cuda.DNNBatchNormSpatial, &one, &zero,
			xd, dptr(x), xd, dptr(y), bnd, dptr(bn.Weight), dptr(bn.Bias), dptr(bn.RunningMean), dptr(bn.RunningVar), bn.Eps)
		return d.DNN.Check("cudnnBatchNormalizationForwardInference", s)
	})
}

func (c *cudaBackend) bnBackward(x, dy, dx, dw, db *Tensor, bn *BatchNorm) error {
	return c.bnCall(x, func(d *cuda.Device, xd, bnd uintptr) error {
		s := d.DNN.BatchNormalizationBackward(d.DNNHandle, cuda.DNNBatchNormSpatial, &one, &zero, &one, &zero,
			xd, dptr(x), xd, dptr(dy), xd, dptr(dx), bnd, dptr(bn.Weight), dptr(dw), dptr(db),
			bn.Eps, dptr(bn.SaveMean), dptr(bn.SaveInvStd))
		return d.DNN.Check("cudnnBatchNormalizationBackward", s)
	})
}

// poolKey identifies a pooling descriptor.
type poolKey struct {
	kernel, stride, pad [3]int
	max                 bool
}

// poolDescArgs returns cudnnSetPoolingNdDescriptor's mode, NaN option and
// window, padding and stride arrays (nbDims is 3, the spatial dimensions).
// Max pooling propagates NaN, as PyTorch's does.
func poolDescArgs(g poolGeom) (mode, nan int32, window, pad, stride []int32) {
	mode, nan = cuda.DNNPoolingAvgInclPad, cuda.DNNNotPropagateNaN
	if g.max {
		mode, nan = cuda.DNNPoolingMax, cuda.DNNPropagateNaN
	}
	return mode, nan, int32s(g.kernel[:]), int32s(g.pad[:]), int32s(g.stride[:])
}

func (c *cudaBackend) poolCall(g poolGeom, f func(d *cuda.Device, pd, xd, yd uintptr) error) error {
	return c.api.do(func() error {
		d, err := c.api.dnn()
		if err != nil {
			return err
		}
		k := poolKey{kernel: g.kernel, stride: g.stride, pad: g.pad, max: g.max}
		pd, ok := c.poolDescs[k]
		if !ok {
			dnn := d.DNN
			if err := dnn.Check("cudnnCreatePoolingDescriptor", dnn.CreatePoolingDescriptor(&pd)); err != nil {
				return err
			}
			mode, nan, win, pad, stride := poolDescArgs(g)
			if err := dnn.Check("cudnnSetPoolingNdDescriptor", dnn.SetPoolingNdDescriptor(pd, mode, nan, 3, &win[0], &pad[0], &stride[0])); err != nil {
				dnn.DestroyPoolingDescriptor(pd)
				return err
			}
			c.poolDescs[k] = pd
		}
		xd, err := c.tensorDesc(d, g.x)
		if err != nil {
			return err
		}
		yd, err := c.tensorDesc(d, g.y)
		if err != nil {
			return err
		}
		return f(d, pd, xd, yd)
	})
}

func (c *cudaBackend) pool(x, y *Tensor, g poolGeom) error {
	return c.poolCall(g, func(d *cuda.Device, pd, xd, yd uintptr) error {
		return d.DNN.Check("cudnnPoolingForward", d.DNN.PoolingForward(d.DNNHandle, pd, &one, xd, dptr(x), &zero, yd, dptr(y)))
	})
}

func (c *cudaBackend) poolBackward(x, y, dy, dx *Tensor, g poolGeom) error {
	return c.poolCall(g, func(d *cuda.Device, pd, xd, yd uintptr) error {
		return d.DNN.Check("cudnnPoolingBackward", d.DNN.PoolingBackward(d.DNNHandle, pd, &one, yd, dptr(y), yd, dptr(dy), xd, dptr(x), &zero, xd, dptr(dx)))
	})
}

// destroyDescriptors frees every cached descriptor (on the device thread).
func (c *cudaBackend) destroyDescriptors(d *cuda.Device) {
	dnn := d.DNN
	keys := make([]convKey, 0, len(c.convs))
	for k := range c.convs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, k := range keys {
		p := c.convs[k]
		dnn.DestroyConvolutionDescriptor(p.cd)
		dnn.DestroyFilterDescriptor(p.wd)
	}
	for _, h := range c.tensorDescs {
		dnn.DestroyTensorDescriptor(h)
	}
	for _, h := range c.bnDescs {
		dnn.DestroyTensorDescriptor(h)
	}
	for _, h := range c.poolDescs {
		dnn.DestroyPoolingDescriptor(h)
	}
	c.convs, c.tensorDescs, c.bnDescs, c.poolDescs = map[convKey]*convPlan{}, map[[5]int]uintptr{}, map[[5]int]uintptr{}, map[poolKey]uintptr{}
}
