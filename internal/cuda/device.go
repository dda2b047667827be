package cuda

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// worker runs functions one at a time on a goroutine locked to one OS thread.
type worker struct {
	jobs      chan func()
	stop      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
}

// startWorker starts the goroutine, runs init on it and returns init's error
// (after which the goroutine has ended and its thread is gone). cleanup runs
// on the same thread when the worker is closed.
func startWorker(init func() error, cleanup func()) (*worker, error) {
	w := &worker{jobs: make(chan func()), stop: make(chan struct{}), stopped: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Never unlocked: when the goroutine ends, its thread ends with it,
		// taking any thread-local CUDA state along.
		runtime.LockOSThread()
		defer close(w.stopped)
		if err := safeCall(init); err != nil {
			started <- err
			return
		}
		started <- nil
		for {
			select {
			case job := <-w.jobs:
				job()
			case <-w.stop:
				if cleanup != nil {
					_ = safeCall(func() error { cleanup(); return nil })
				}
				return
			}
		}
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return w, nil
}

// do runs f on the worker's thread and returns its error; ErrClosed once the
// worker is closed. A panic in f becomes an error.
func (w *worker) do(f func() error) error {
	res := make(chan error, 1)
	job := func() { res <- safeCall(f) }
	select {
	case w.jobs <- job:
		return <-res
	case <-w.stopped:
		return ErrClosed
	}
}

// close stops the worker after the job it is running, if any, and waits.
func (w *worker) close() {
	w.closeOnce.Do(func() { close(w.stop) })
	<-w.stopped
}

func safeCall(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cuda: panic on the device thread: %v", r)
		}
	}()
	return f()
}

// Device is one GPU with its primary context, a stream, a cuBLAS handle and a
// cuDNN handle, all bound to that stream. Every call into the libraries for
// the device must run inside Do, on the device's own thread; the methods
// below that touch the device say so.
type Device struct {
	// Ordinal is the device's index (cuDeviceGet's ordinal).
	Ordinal int
	// Name is the device's name, e.g. "NVIDIA H100 80GB HBM3".
	Name string
	// Major and Minor are the compute capability (9, 0 for an H100).
	Major, Minor int
	// TotalMem is the device memory in bytes.
	TotalMem uint64
	// DriverVersion is cuDriverGetVersion's value, e.g. 12040 for CUDA 12.4.
	DriverVersion int
	// DNNVersion is cudnnGetVersion's value, e.g. 90600 for cuDNN 9.6.0.
	DNNVersion int
	// BLASVersion is cublasGetVersion_v2's value, e.g. 120402.
	BLASVersion int

	// Driver is the CUDA driver's function table.
	Driver *Driver
	// BLAS is cuBLAS's function table.
	BLAS *CUBLAS
	// DNN is cuDNN's function table.
	DNN *CUDNN
	// Stream is the stream all work is queued on. It is a blocking stream,
	// so the synchronous copies (on the legacy NULL stream) are ordered with it.
	Stream uintptr
	// BLASHandle and DNNHandle are the library handles, bound to Stream.
	BLASHandle, DNNHandle uintptr

	dev int32
	ctx uintptr
	w   *worker
}

// Libraries loads the driver, cuBLAS and cuDNN (once per process) and
// returns their tables, or the first error: the way to ask whether CUDA is
// usable at all before opening a device.
func Libraries() (*Driver, *CUBLAS, *CUDNN, error) {
	drv, err := LoadDriver()
	if err != nil {
		return nil, nil, nil, err
	}
	var ver int32
	if r := drv.DriverGetVersion(&ver); r != Success {
		return nil, nil, nil, drv.Check("cuDriverGetVersion", r)
	}
	blas, err := LoadCUBLAS(int(ver))
	if err != nil {
		return nil, nil, nil, err
	}
	dnn, err := LoadCUDNN()
	if err != nil {
		return nil, nil, nil, err
	}
	return drv, blas, dnn, nil
}

// Open loads the libraries, starts the device's thread and makes the
// device's primary context current on it, with a new stream and cuBLAS and
// cuDNN handles. Close releases them.
func Open(ordinal int) (*Device, error) {
	drv, blas, dnn, err := Libraries()
	if err != nil {
		return nil, err
	}
	d := &Device{Ordinal: ordinal, Driver: drv, BLAS: blas, DNN: dnn}
	w, err := startWorker(d.init, d.release)
	if err != nil {
		return nil, err
	}
	d.w = w
	return d, nil
}

// init runs on the device thread.
func (d *Device) init() (err error) {
	drv := d.Driver
	defer func() {
		if err != nil {
			d.release()
		}
	}()
	if err := drv.Check("cuInit", drv.Init(0)); err != nil {
		return err
	}
	var v, n int32
	if err := drv.Check("cuDriverGetVersion", drv.DriverGetVersion(&v)); err != nil {
		return err
	}
	d.DriverVersion = int(v)
	if err := drv.Check("cuDeviceGetCount", drv.DeviceGetCount(&n)); err != nil {
		return err
	}
	if d.Ordinal < 0 || d.Ordinal >= int(n) {
		return fmt.Errorf("cuda: device %d requested, %d present", d.Ordinal, n)
	}
	if err := drv.Check("cuDeviceGet", drv.DeviceGet(&d.dev, int32(d.Ordinal))); err != nil {
		return err
	}
	name := make([]byte, 256)
	if err := drv.Check("cuDeviceGetName", drv.DeviceGetName(&name[0], int32(len(name)), d.dev)); err != nil {
		return err
	}
	d.Name = strings.TrimRight(string(name[:clen(name)]), " ")
	var major, minor int32
	if err := drv.Check("cuDeviceGetAttribute", drv.DeviceGetAttribute(&major, AttrComputeCapabilityMajor, d.dev)); err != nil {
		return err
	}
	if err := drv.Check("cuDeviceGetAttribute", drv.DeviceGetAttribute(&minor, AttrComputeCapabilityMinor, d.dev)); err != nil {
		return err
	}
	d.Major, d.Minor = int(major), int(minor)
	var total uintptr
	if err := drv.Check("cuDeviceTotalMem_v2", drv.DeviceTotalMem(&total, d.dev)); err != nil {
		return err
	}
	d.TotalMem = uint64(total)
	var ctx uintptr
	if err := drv.Check("cuDevicePrimaryCtxRetain", drv.DevicePrimaryCtxRetain(&ctx, d.dev)); err != nil {
		return err
	}
	d.ctx = ctx
	if err := drv.Check("cuCtxSetCurrent", drv.CtxSetCurrent(ctx)); err != nil {
		return err
	}
	if err := drv.Check("cuStreamCreate", drv.StreamCreate(&d.Stream, StreamDefault)); err != nil {
		return err
	}
	if err := d.BLAS.Check("cublasCreate_v2", d.BLAS.Create(&d.BLASHandle)); err != nil {
		return err
	}
	if err := d.BLAS.Check("cublasSetStream_v2", d.BLAS.SetStream(d.BLASHandle, d.Stream)); err != nil {
		return err
	}
	var bv int32
	if err := d.BLAS.Check("cublasGetVersion_v2", d.BLAS.GetVersion(d.BLASHandle, &bv)); err != nil {
		return err
	}
	d.BLASVersion = int(bv)
	if err := d.DNN.Check("cudnnCreate", d.DNN.Create(&d.DNNHandle)); err != nil {
		return err
	}
	if err := d.DNN.Check("cudnnSetStream", d.DNN.SetStream(d.DNNHandle, d.Stream)); err != nil {
		return err
	}
	d.DNNVersion = int(d.DNN.GetVersion())
	return nil
}

// release frees what init made, in reverse order; it runs on the device
// thread and ignores errors (the device may be in a failed state).
func (d *Device) release() {
	if d.DNNHandle != 0 {
		d.DNN.Destroy(d.DNNHandle)
		d.DNNHandle = 0
	}
	if d.BLASHandle != 0 {
		d.BLAS.Destroy(d.BLASHandle)
		d.BLASHandle = 0
	}
	if d.Stream != 0 {
		d.Driver.StreamSynchronize(d.Stream)
		d.Driver.StreamDestroy(d.Stream)
		d.Stream = 0
	}
	if d.ctx != 0 {
		d.Driver.CtxSetCurrent(0)
		d.Driver.DevicePrimaryCtxRelease(d.dev)
		d.ctx = 0
	}
}

func clen(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}

// Do runs f on the device's thread, where the device's context is current,
// and returns its error. Calls are serialised: f runs after every earlier Do
// has returned. f must not call Do (it would wait for itself). After Close,
// Do returns ErrClosed.
func (d *Device) Do(f func() error) error { return d.w.do(f) }

// Close waits for queued work, destroys the handles and the stream, releases
// the primary context and stops the device's thread. Memory still allocated
// is freed with the context when no other user holds it.
func (d *Device) Close() error {
	d.w.close()
	return nil
}

// The methods below must be called inside Do.

// Alloc allocates bytes of device memory (at least 256-byte aligned).
func (d *Device) Alloc(bytes int) (uintptr, error) {
	var p uintptr
	if bytes <= 0 {
		return 0, fmt.Errorf("cuda: allocate %d bytes", bytes)
	}
	if err := d.Driver.Check("cuMemAlloc_v2", d.Driver.MemAlloc(&p, uintptr(bytes))); err != nil {
		return 0, fmt.Errorf("%w (allocating %d bytes)", err, bytes)
	}
	return p, nil
}

// Free waits for the stream and frees device memory from Alloc.
func (d *Device) Free(p uintptr) error {
	if p == 0 {
		return nil
	}
	if err := d.Sync(); err != nil {
		return err
	}
	return d.Driver.Check("cuMemFree_v2", d.Driver.MemFree(p))
}

// Sync waits for all work queued on the stream.
func (d *Device) Sync() error {
	return d.Driver.Check("cuStreamSynchronize", d.Driver.StreamSynchronize(d.Stream))
}

// MemInfo returns the free and total device memory in bytes.
func (d *Device) MemInfo() (free, total uint64, err error) {
	var f, t uintptr
	if err := d.Driver.Check("cuMemGetInfo_v2", d.Driver.MemGetInfo(&f, &t)); err != nil {
		return 0, 0, err
	}
	return uint64(f), uint64(t), nil
}

// CopyToDevice copies src into device memory at dst, after the work queued
// so far; src may be reused when it returns.
func (d *Device) CopyToDevice(dst uintptr, src []float32) error {
	if len(src) == 0 {
		return nil
	}
	return d.Driver.Check("cuMemcpyHtoD_v2", d.Driver.MemcpyHtoD(dst, unsafe.Pointer(&src[0]), uintptr(4*len(src))))
}

// CopyToHost waits for the stream and copies len(dst) values from device
// memory at src.
func (d *Device) CopyToHost(dst []float32, src uintptr) error {
	if len(dst) == 0 {
		return nil
	}
	if err := d.Sync(); err != nil {
		return err
	}
	return d.Driver.Check("cuMemcpyDtoH_v2", d.Driver.MemcpyDtoH(unsafe.Pointer(&dst[0]), src, uintptr(4*len(dst))))
}

// CopyDevice queues a copy of n float32 values from src to dst.
func (d *Device) CopyDevice(dst, src uintptr, n int) error {
	if n == 0 {
		return nil
	}
	return d.Driver.Check("cuMemcpyDtoDAsync_v2", d.Driver.MemcpyDtoDAsync(dst, src, uintptr(4*n), d.Stream))
}

// Fill queues setting n 32-bit words at dst to the bits of v.
func (d *Device) Fill(dst uintptr, v float32, n int) error {
	if n == 0 {
		return nil
	}
	return d.Driver.Check("cuMemsetD32Async", d.Driver.MemsetD32Async(dst, math.Float32bits(v), uintptr(n), d.Stream))
}

// Module is a loaded PTX module.
type Module struct {
	d      *Device
	handle uintptr
}

// LoadModule compiles PTX text for the device (the driver's JIT). A
// compilation error carries the JIT's error log.
func (d *Device) LoadModule(ptx string) (*Module, error) {
	log := make([]byte, 8192)
	opts := []int32{JITErrorLogBuffer, JITErrorLogBufferSizeBytes}
	vals := []uintptr{uintptr(unsafe.Pointer(&log[0])), uintptr(len(log))}
	var h uintptr
	r := d.Driver.ModuleLoadDataEx(&h, ptx, uint32(len(opts)), &opts[0], &vals[0])
	runtime.KeepAlive(log)
	if err := d.Driver.Check("cuModuleLoadDataEx", r); err != nil {
		if msg := strings.TrimSpace(string(log[:clen(log)])); msg != "" {
			return nil, fmt.Errorf("%w: %s", err, msg)
		}
		return nil, err
	}
	return &Module{d: d, handle: h}, nil
}

// Function returns the kernel of the given .entry name.
func (m *Module) Function(name string) (uintptr, error) {
	var f uintptr
	if err := m.d.Driver.Check("cuModuleGetFunction", m.d.Driver.ModuleGetFunction(&f, m.handle, name)); err != nil {
		return 0, fmt.Errorf("%w (kernel %q)", err, name)
	}
	return f, nil
}

// Unload unloads the module.
func (m *Module) Unload() error {
	return m.d.Driver.Check("cuModuleUnload", m.d.Driver.ModuleUnload(m.handle))
}

// Launch queues kernel fn on the stream with a one-dimensional grid and
// block. Each parameter is one 64-bit slot holding the argument's bits: a
// device pointer or u64 as is, an f32 or u32 in the low 32 bits (the driver
// reads as many bytes as the kernel's parameter declares, and these targets
// are little-endian).
func (d *Device) Launch(fn uintptr, grid, block int, params []uint64) error {
	if grid <= 0 || block <= 0 || grid > math.MaxInt32 || block > 1024 {
		return fmt.Errorf("cuda: launch with grid %d and block %d", grid, block)
	}
	slots := make([]uint64, len(params))
	copy(slots, params)
	ptrs := make([]unsafe.Pointer, len(slots)+1)
	for i := range slots {
		ptrs[i] = unsafe.Pointer(&slots[i])
	}
	r := d.Driver.LaunchKernel(fn, uint32(grid), 1, 1, uint32(block), 1, 1, 0, d.Stream, &ptrs[0], nil)
	runtime.KeepAlive(slots)
	runtime.KeepAlive(ptrs)
	return d.Driver.Check("cuLaunchKernel", r)
}
