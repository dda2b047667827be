package gpu

import (
	"errors"
	"fmt"
	"math"

	"github.com/vidssl/vidssl/internal/cuda"
	"github.com/vidssl/vidssl/internal/vec"
)

// CUDAOptions configure a CUDA engine.
type CUDAOptions struct {
	// Device is the GPU's ordinal (0 for the first).
	Device int
	// AllowTF32 lets cuDNN use TF32 tensor cores for convolutions on Ampere
	// and later GPUs (cuDNN's default math, and PyTorch's default
	// torch.backends.cudnn.allow_tf32=True): faster, with about 1e-3
	// relative error. Off, convolutions use plain FP32 FMA kernels, which
	// match the CPU ops to about 1e-5.
	AllowTF32 bool
	// Heuristic picks convolution algorithms with cuDNN's heuristics
	// (cudnnGetConvolution*Algorithm_v7) instead of timing them all on first
	// use of each shape (cudnnFindConvolution*AlgorithmEx, as PyTorch with
	// cudnn.benchmark=True).
	Heuristic bool
	// WorkspaceLimit caps a convolution's workspace in bytes; 0 means 4 GiB.
	// While searching, the workspace is also capped at half the free memory.
	WorkspaceLimit int64
}

// CUDAAvailable returns nil when the CUDA driver, cuBLAS and cuDNN 9 load
// and the driver reports at least one device, else an error saying what is
// missing, e.g. "cuda: libcuda.so.1 not found (searched ...)".
func CUDAAvailable() error {
	drv, _, _, err := cuda.Libraries()
	if err != nil {
		return err
	}
	if err := drv.Check("cuInit", drv.Init(0)); err != nil {
		return err
	}
	var n int32
	if err := drv.Check("cuDeviceGetCount", drv.DeviceGetCount(&n)); err != nil {
		return err
	}
	if n == 0 {
		return errors.New("cuda: the driver reports no device")
	}
	return nil
}

// OpenCUDA opens a GPU and returns its engine: tensors in device memory,
// convolutions, batch norm and pooling through cuDNN, Linear through cuBLAS,
// and hand-written PTX kernels for the rest. Close the engine to release
// the device.
func OpenCUDA(opts CUDAOptions) (*Engine, error) {
	d, err := cuda.Open(opts.Device)
	if err != nil {
		return nil, err
	}
	c := newCUDABackend(&realDevice{d: d}, opts)
	if err := c.api.do(c.init); err != nil {
		d.Close()
		return nil, err
	}
	return newEngine(c), nil
}

// devAPI is what the CUDA backend needs of a device. realDevice implements
// it with internal/cuda; tests implement it with a PTX interpreter and a CPU
// SGEMM, which exercises everything but the cuDNN calls.
type devAPI interface {
	// do runs f where the other methods may be called (the device thread).
	do(f func() error) error
	describe() string
	driverVersion() int
	alloc(bytes int) (uintptr, error)
	free(p uintptr) error
	toDevice(dst uintptr, src []float32) error
	toHost(dst []float32, src uintptr) error
	fill(dst uintptr, v float32, n int) error
	copyDevice(dst, src uintptr, n int) error
	sync() error
	memInfo() (free, total uint64, err error)
	loadKernels(ptx string, names []string) error
	launch(name string, grid, block int, params []uint64) error
	// sgemm is cuBLAS's column-major C = alpha*op(A)*op(B) + beta*C.
	sgemm(transA, transB bool, m, n, k int, alpha float32, a uintptr, lda int, b uintptr, ldb int, beta float32, c uintptr, ldc int) error
	// dnn returns the device for cuDNN calls, or an error when there is none.
	dnn() (*cuda.Device, error)
	close() error
}

// realDevice is a devAPI over a CUDA device.
type realDevice struct {
	d   *cuda.Device
	fns map[string]uintptr // kernels by name, from loadKernels
}

func (r *realDevice) do(f func() error) error { return r.d.Do(f) }
func (r *realDevice) describe() string {
	d := r.d
	return fmt.Sprintf("cuda:%d %s (sm_%d%d, driver %d.%d, cuDNN %d.%d.%d, cuBLAS %d)", d.Ordinal, d.Name, d.Major, d.Minor,
		d.DriverVersion/1000, d.DriverVersion%1000/10, d.DNNVersion/10000, d.DNNVersion%10000/100, d.DNNVersion%100, d.BLASVersion)
}
func (r *realDevice) driverVersion() int                        { return r.d.DriverVersion }
func (r *realDevice) alloc(bytes int) (uintptr, error)          { return r.d.Alloc(bytes) }
func (r *realDevice) free(p uintptr) error                      { return r.d.Free(p) }
func (r *realDevice) toDevice(dst uintptr, src []float32) error { return r.d.CopyToDevice(dst, src) }
func (r *realDevice) toHost(dst []float32, src uintptr) error   { return r.d.CopyToHost(dst, src) }
func (r *realDevice) fill(dst uintptr, v float32, n int) error  { return r.d.Fill(dst, v, n) }
func (r *realDevice) copyDevice(dst, src uintptr, n int) error  { return r.d.CopyDevice(dst, src, n) }
func (r *realDevice) sync() error                               { return r.d.Sync() }
func (r *realDevice) memInfo() (uint64, uint64, error)          { return r.d.MemInfo() }
func (r *realDevice) dnn() (*cuda.Device, error)                { return r.d, nil }
func (r *realDevice) close() error                              { return r.d.Close() }

var _ devAPI = (*realDevice)(nil)

func (r *realDevice) loadKernels(ptx string, names []string) error {
	mod, err := r.d.LoadModule(ptx)
	if err != nil {
		return err
	}
	fns := map[string]uintptr{}
	for _, n := range names {
		f, err := mod.Function(n)
		if err != nil {
			_ = mod.Unload()
			return err
		}
		fns[n] = f
	}
	r.fns = fns
	return nil
}

func (r *realDevice) launch(name string, grid, block int, params []uint64) error {
	fn, ok := r.fns[name]
	if !ok {
		return fmt.Errorf("gpu: no kernel %q loaded", name)
	}
	return r.d.Launch(fn, grid, block, params)
}

func (r *realDevice) sgemm(transA, transB bool, m, n, k int, alpha float32, a uintptr, lda int, b uintptr, ldb int, beta float32, c uintptr, ldc int) error {
	op := func(t bool) int32 {
		if t {
			return cuda.BLASOpT
		}
		return cuda.BLASOpN
	}
	d := r.d
	return d.BLAS.Check("cublasSgemm_v2", d.BLAS.Sgemm(d.BLASHandle, op(transA), op(transB), int32(m), int32(n), int32(k),
		&alpha, a, int32(lda), b, int32(ldb), &beta, c, int32(ldc)))
}

// cudaBackend implements backend on a devAPI. All of its methods run their
// device work inside api.do.
type cudaBackend struct {
	api  devAPI
	opts CUDAOptions

	tensorDescs map[[5]int]uintptr
	bnDescs     map[[5]int]uintptr
	poolDescs   map[poolKey]uintptr
	convs       map[convKey]*convPlan
	ws          uintptr // shared convolution workspace
	wsBytes     int
	flag        uintptr // one word for nonFinite
	// allowAlgo, when not nil, restricts the convolution algorithms of
	// each direction (tests compare algorithm families with it).
	allowAlgo func(dir int, algo int32) bool
}

func newCUDABackend(api devAPI, opts CUDAOptions) *cudaBackend {
	return &cudaBackend{
		api: api, opts: opts,
		tensorDescs: map[[5]int]uintptr{}, bnDescs: map[[5]int]uintptr{},
		poolDescs: map[poolKey]uintptr{}, convs: map[convKey]*convPlan{},
	}
}

// init loads the kernels and allocates the flag word; it runs on the device
// thread. The PTX is compiled for the target that suits the driver, and for
// the other one when that fails.
func (c *cudaBackend) init() error {
	names := make([]string, len(kernelSpecs))
	for i, k := range kernelSpecs {
		names[i] = k.name
	}
	target := ptxTarget(c.api.driverVersion())
	err := c.api.loadKernels(ptxModule(target), names)
	if err != nil {
		alt := "sm_75"
		if target == alt {
			alt = "sm_52"
		}
		if err2 := c.api.loadKernels(ptxModule(alt), names); err2 != nil {
			return fmt.Errorf("gpu: compile kernels for %s: %w", target, err)
		}
	}
	c.flag, err = c.api.alloc(256)
	return err
}

func (c *cudaBackend) name() string { return c.api.describe() }

// dptr is the device address of a tensor's first element.
func dptr(t *Tensor) uintptr {
	if t == nil {
		return 0
	}
	return t.buf.ptr + uintptr(4*t.off)
}

func (c *cudaBackend) alloc(n int) (*buffer, error) {
	// Round up to 64 floats, so that views at such offsets keep cuDNN's
	// preferred 256-byte alignment and no kernel reads past the end.
	bytes := 4 * ((n + 63) &^ 63)
	var p uintptr
	err := c.api.do(func() (err error) { p, err = c.api.alloc(bytes); return err })
	if err != nil {
		return nil, err
	}
	return &buffer{n: n, ptr: p}, nil
}

func (c *cudaBackend) free(b *buffer) error {
	return c.api.do(func() error { return c.api.free(b.ptr) })
}

func (c *cudaBackend) upload(dst *Tensor, src []float32) error {
	return c.api.do(func() error { return c.api.toDevice(dptr(dst), src) })
}

func (c *cudaBackend) download(dst []float32, src *Tensor) error {
	return c.api.do(func() error { return c.api.toHost(dst, dptr(src)) })
}

func (c *cudaBackend) fill(t *Tensor, v float32) error {
	return c.api.do(func() error { return c.api.fill(dptr(t), v, t.Len()) })
}

func (c *cudaBackend) copy(dst, src *Tensor) error {
	return c.api.do(func() error { return c.api.copyDevice(dptr(dst), dptr(src), src.Len()) })
}

func (c *cudaBackend) sync() error { return c.api.do(c.api.sync) }

func (c *cudaBackend) close() error {
	err := c.api.do(func() error {
		if d, err := c.api.dnn(); err == nil {
			c.destroyDescriptors(d)
		}
		if c.ws != 0 {
			_ = c.api.free(c.ws)
			c.ws, c.wsBytes = 0, 0
		}
		if c.flag != 0 {
			_ = c.api.free(c.flag)
			c.flag = 0
		}
		return nil
	})
	if cerr := c.api.close(); err == nil {
		err = cerr
	}
	return err
}

// karg is one kernel argument: its PTX type and its 64-bit slot.
type karg struct {
	typ  string
	bits uint64
}

func argU64(v int) karg      { return karg{"u64", uint64(v)} }
func argPtr(t *Tensor) karg  { return karg{"u64", uint64(dptr(t))} }
func argF32(v float32) karg  { return karg{"f32", uint64(math.Float32bits(v))} }
func argAddr(p uintptr) karg { return karg{"u64", uint64(p)} }

// launchBlock is the number of threads per block; maxGrid caps the grid
// (the kernels' grid-stride loops cover any count).
const (
	launchBlock = 256
	maxGrid     = 65535
)

// gridFor returns the number of blocks for a loop count.
func gridFor(count uint64) int {
	g := (count + launchBlock - 1) / launchBlock
	return int(min(max(g, 1), maxGrid))
}

// launchParams checks args against the kernel's declared parameters and
// returns their slots.
func launchParams(name string, args []karg) ([]uint64, error) {
	spec, ok := kernelByName(name)
	if !ok {
		return nil, fmt.Errorf("gpu: no kernel %q", name)
	}
	if len(args) != len(spec.params) {
		return nil, fmt.Errorf("gpu: kernel %s takes %d parameters, given %d", name, len(spec.params), len(args))
	}
	out := make([]uint64, len(args))
	for i, a := range args {
		if a.typ != spec.params[i] {
			return nil, fmt.Errorf("gpu: kernel %s parameter %d is .%s, given .%s", name, i, spec.params[i], a.typ)
		}
		out[i] = a.bits
	}
	return out, nil
}

// launch queues a kernel whose first argument is its loop count; a zero
// count queues nothing. It must run on the device thread.
func (c *cudaBackend) launch(name string, args ...karg) error {
	params, err := launchParams(name, args)
	if err != nil {
		return err
	}
	if params[0] == 0 {
		return nil
	}
	return c.api.launch(name, gridFor(params[0]), launchBlock, params)
}

// run runs one kernel launch on the device thread.
func (c *cudaBackend) run(name string, args ...karg) error {
	return c.api.do(func() error { return c.launch(name, args...) })
}

func (c *cudaBackend) relu(x, y *Tensor) error {
	return c.run("vs_relu", argU64(x.Len()), argPtr(x), argPtr(y))
}

func (c *cudaBackend) reluBackward(y, dy, dx *Tensor) error {
	return c.run("vs_relu_bwd", argU64(y.Len()), argPtr(y), argPtr(dy), argPtr(dx))
}

func (c *cudaBackend) add(a, b, y *Tensor, relu bool) error {
	k := "vs_add"
	if relu {
		k = "vs_add_relu"
	}
	return c.run(k, argU64(a.Len()), argPtr(a), argPtr(b), argPtr(y))
}

func (c *cudaBackend) globalAvgPool(x, y *Tensor) error {
	planes := x.shape[0] * x.shape[1]
	return c.run("vs_gap", argU64(planes), argU64(x.Len()/planes), argPtr(x), argPtr(y))
}

func (c *cudaBackend) globalAvgPoolBackward(dy, dx *Tensor) error {
	return c.run("vs_gap_bwd", argU64(dx.Len()), argU64(dx.Len()/dy.Len()), argPtr(dy), argPtr(dx))
}

// gemm is one cuBLAS call of a row-major matrix product, with its operands
// named: "x", "w", "y", "dy", "dx" or "dw".
type gemm struct {
	transA, transB bool
	m, n, k        int
	a, b, c        string
	lda, ldb, ldc  int
}

// Row-major matrices read as column-major are transposed, so each row-major
// product C = A B is computed as the column-major C^T = B^T A^T.

// linearForwardGemm: y (N, out) = x (N, in) w^T, i.e. y^T = w x^T with w read
// transposed.
func linearForwardGemm(n, in, out int) gemm {
	return gemm{transA: true, m: out, n: n, k: in, a: "w", lda: in, b: "x", ldb: in, c: "y", ldc: out}
}

// linearDataGemm: dx (N, in) = dy (N, out) w, i.e. dx^T = w^T dy^T.
func linearDataGemm(n, in, out int) gemm {
	return gemm{m: in, n: n, k: out, a: "w", lda: in, b: "dy", ldb: out, c: "dx", ldc: in}
}

// linearFilterGemm: dw (out, in) = dy^T x, i.e. dw^T = x^T dy with dy read
// transposed.
func linearFilterGemm(n, in, out int) gemm {
	return gemm{transB: true, m: in, n: out, k: n, a: "x", lda: in, b: "dy", ldb: out, c: "dw", ldc: in}
}

func (c *cudaBackend) gemm(g gemm, ops map[string]*Tensor) error {
	return c.api.sgemm(g.transA, g.transB, g.m, g.n, g.k, 1, dptr(ops[g.a]), g.lda, dptr(ops[g.b]), g.ldb, 0, dptr(ops[g.c]), g.ldc)
}

func (c *cudaBackend) linear(x, w, b, y *Tensor) error {
	n, in, out := x.shape[0], x.shape[1], w.shape[0]
	return c.api.do(func() error {
		if err := c.gemm(linearForwardGemm(n, in, out), map[string]*Tensor{"x": x, "w": w, "y": y}); err != nil {
			return err
		}
		if b == nil {
			return nil
		}
		return c.launch("vs_bias_rows", argU64(n*out), argU64(out), argPtr(y), argPtr(b))
	})
}

func (c *cudaBackend) linearBackward(x, w, dy, dx, dw, db *Tensor) error {
	n, in, out := x.shape[0], x.shape[1], w.shape[0]
	ops := map[string]*Tensor{"x": x, "w": w, "dy": dy, "dx": dx, "dw": dw}
	return c.api.do(func() error {
		if dx != nil {
			if err := c.gemm(linearDataGemm(n, in, out), ops); err != nil {
				return err
			}
		}
		if err := c.gemm(linearFilterGemm(n, in, out), ops); err != nil {
			return err
		}
		if db == nil {
			return nil
		}
		return c.launch("vs_sum_rows", argU64(out), argU64(n), argPtr(dy), argPtr(db))
	})
}

func (c *cudaBackend) adam(p, g, m, v *Tensor, s vec.AdamCoeffs) error {
	return c.run("vs_adam", argU64(p.Len()), argPtr(p), argPtr(g), argPtr(m), argPtr(v),
		argF32(s.Beta1), argF32(s.OneMinusBeta1), argF32(s.Beta2), argF32(s.OneMinusBeta2), argF32(s.WeightDecay), argF32(s.Eps), argF32(s.NegStep), argF32(s.BC2Sqrt))
}

func (c *cudaBackend) sgd(p, g, buf *Tensor, s vec.SGDCoeffs) error {
	if buf == nil {
		buf = g // never read or written without momentum
	}
	// momentum, first and nesterov go to the kernel as flags (0 or 1).
	flag := func(b bool) float32 {
		if b {
			return 1
		}
		return 0
	}
	return c.run("vs_sgd", argU64(p.Len()), argPtr(p), argPtr(g), argPtr(buf),
		argF32(s.WeightDecay), argF32(s.Momentum), argF32(s.OneMinusDampening), argF32(s.NegLR), argF32(flag(s.Momentum != 0)), argF32(flag(s.First)), argF32(flag(s.Nesterov)))
}

func (c *cudaBackend) nonFinite(t *Tensor) (bool, error) {
	var flag [1]float32
	err := c.api.do(func() error {
		if err := c.api.fill(c.flag, 0, 1); err != nil {
			return err
		}
		if err := c.launch("vs_nonfinite", argU64(t.Len()), argPtr(t), argAddr(c.flag)); err != nil {
			return err
		}
		return c.api.toHost(flag[:], c.flag)
	})
	return math.Float32bits(flag[0]) != 0, err
}
