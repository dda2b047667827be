package cuda

import (
	"fmt"
	"sync"
	"unsafe"
)

// Result is a CUresult.
type Result int32

// CUresult values used by name (cuda.h).
const (
	Success           Result = 0   // CUDA_SUCCESS
	ErrOutOfMemory    Result = 2   // CUDA_ERROR_OUT_OF_MEMORY
	ErrNoDevice       Result = 100 // CUDA_ERROR_NO_DEVICE
	ErrInvalidPTX     Result = 218 // CUDA_ERROR_INVALID_PTX
	ErrUnsupportedPTX Result = 222 // CUDA_ERROR_UNSUPPORTED_PTX_VERSION
)

// Driver enumerations (cuda.h).
const (
	AttrMultiprocessorCount    = 16 // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
	AttrComputeCapabilityMajor = 75 // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
	AttrComputeCapabilityMinor = 76 // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR

	JITErrorLogBuffer          = 5 // CU_JIT_ERROR_LOG_BUFFER
	JITErrorLogBufferSizeBytes = 6 // CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES

	StreamDefault = 0 // CU_STREAM_DEFAULT: synchronises with the legacy NULL stream
)

// Driver is the part of the CUDA driver API (libcuda.so.1) that vidssl uses.
// Device pointers (CUdeviceptr), contexts, streams, modules and functions
// are uintptr; CUdevice is int32. Versioned symbols are those cuda.h maps the
// plain names to (cuMemAlloc -> cuMemAlloc_v2), which every driver since CUDA
// 4 exports and CUDA 13 keeps; the primary context is used rather than
// cuCtxCreate, whose signature CUDA 13 changed.
type Driver struct {
	// Path is the library file that was loaded.
	Path string

	// Init is cuInit(unsigned int Flags).
	Init func(flags uint32) Result `sym:"cuInit"`
	// DriverGetVersion is cuDriverGetVersion(int *driverVersion).
	DriverGetVersion func(version *int32) Result `sym:"cuDriverGetVersion"`
	// DeviceGetCount is cuDeviceGetCount(int *count).
	DeviceGetCount func(count *int32) Result `sym:"cuDeviceGetCount"`
	// DeviceGet is cuDeviceGet(CUdevice *device, int ordinal).
	DeviceGet func(device *int32, ordinal int32) Result `sym:"cuDeviceGet"`
	// DeviceGetName is cuDeviceGetName(char *name, int len, CUdevice dev).
	DeviceGetName func(name *byte, n int32, dev int32) Result `sym:"cuDeviceGetName"`
	// DeviceGetAttribute is cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev).
	DeviceGetAttribute func(value *int32, attr int32, dev int32) Result `sym:"cuDeviceGetAttribute"`
	// DeviceTotalMem is cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev).
	DeviceTotalMem func(bytes *uintptr, dev int32) Result `sym:"cuDeviceTotalMem_v2"`
	// DevicePrimaryCtxRetain is cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev).
	DevicePrimaryCtxRetain func(ctx *uintptr, dev int32) Result `sym:"cuDevicePrimaryCtxRetain"`
	// DevicePrimaryCtxRelease is cuDevicePrimaryCtxRelease_v2(CUdevice dev).
	DevicePrimaryCtxRelease func(dev int32) Result `sym:"cuDevicePrimaryCtxRelease_v2"`
	// CtxSetCurrent is cuCtxSetCurrent(CUcontext ctx).
	CtxSetCurrent func(ctx uintptr) Result `sym:"cuCtxSetCurrent"`
	// CtxSynchronize is cuCtxSynchronize(void).
	CtxSynchronize func() Result `sym:"cuCtxSynchronize"`
	// MemGetInfo is cuMemGetInfo_v2(size_t *free, size_t *total).
	MemGetInfo func(free, total *uintptr) Result `sym:"cuMemGetInfo_v2"`
	// MemAlloc is cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize).
	MemAlloc func(dptr *uintptr, bytes uintptr) Result `sym:"cuMemAlloc_v2"`
	// MemFree is cuMemFree_v2(CUdeviceptr dptr).
	MemFree func(dptr uintptr) Result `sym:"cuMemFree_v2"`
	// MemcpyHtoD is cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t ByteCount).
	MemcpyHtoD func(dst uintptr, src unsafe.Pointer, bytes uintptr) Result `sym:"cuMemcpyHtoD_v2"`
	// MemcpyDtoH is cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t ByteCount).
	MemcpyDtoH func(dst unsafe.Pointer, src uintptr, bytes uintptr) Result `sym:"cuMemcpyDtoH_v2"`
	// MemcpyDtoDAsync is cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount, CUstream hStream).
	MemcpyDtoDAsync func(dst, src, bytes, stream uintptr) Result `sym:"cuMemcpyDtoDAsync_v2"`
	// MemsetD32Async is cuMemsetD32Async(CUdeviceptr dst, unsigned int ui, size_t N, CUstream hStream).
	MemsetD32Async func(dst uintptr, value uint32, n uintptr, stream uintptr) Result `sym:"cuMemsetD32Async"`
	// ModuleLoadDataEx is cuModuleLoadDataEx(CUmodule *module, const void *image,
	// unsigned int numOptions, CUjit_option *options, void **optionValues). The
	// image (PTX text) is passed as a Go string, which purego copies with a
	// terminating NUL.
	ModuleLoadDataEx func(module *uintptr, image string, numOptions uint32, options *int32, values *uintptr) Result `sym:"cuModuleLoadDataEx"`
	// ModuleUnload is cuModuleUnload(CUmodule hmod).
	ModuleUnload func(module uintptr) Result `sym:"cuModuleUnload"`
	// ModuleGetFunction is cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name).
	ModuleGetFunction func(fn *uintptr, module uintptr, name string) Result `sym:"cuModuleGetFunction"`
	// LaunchKernel is cuLaunchKernel(CUfunction f, unsigned gridDimX, gridDimY,
	// gridDimZ, blockDimX, blockDimY, blockDimZ, unsigned sharedMemBytes,
	// CUstream hStream, void **kernelParams, void **extra).
	LaunchKernel func(fn uintptr, gx, gy, gz, bx, by, bz, sharedMem uint32, stream uintptr, params *unsafe.Pointer, extra *unsafe.Pointer) Result `sym:"cuLaunchKernel"`
	// StreamCreate is cuStreamCreate(CUstream *phStream, unsigned int Flags).
	StreamCreate func(stream *uintptr, flags uint32) Result `sym:"cuStreamCreate"`
	// StreamDestroy is cuStreamDestroy_v2(CUstream hStream).
	StreamDestroy func(stream uintptr) Result `sym:"cuStreamDestroy_v2"`
	// StreamSynchronize is cuStreamSynchronize(CUstream hStream).
	StreamSynchronize func(stream uintptr) Result `sym:"cuStreamSynchronize"`
	// GetErrorName is cuGetErrorName(CUresult error, const char **pStr).
	GetErrorName func(r Result, s **byte) Result `sym:"cuGetErrorName"`
	// GetErrorString is cuGetErrorString(CUresult error, const char **pStr).
	GetErrorString func(r Result, s **byte) Result `sym:"cuGetErrorString"`
}

var (
	driverOnce sync.Once
	driverLib  *Driver
	driverErr  error
)

// LoadDriver loads libcuda.so.1 once per process; later calls return the
// same table or the same error. It does not call cuInit.
func LoadDriver() (*Driver, error) {
	driverOnce.Do(func() { driverLib, driverErr = loadDriver(systemFinder()) })
	return driverLib, driverErr
}

func loadDriver(f finder) (*Driver, error) {
	d := &Driver{}
	lib, err := load(f, []string{"libcuda.so.1"}, nil, d)
	if err != nil {
		return nil, err
	}
	d.Path = lib.path
	return d, nil
}

// Check turns a CUresult into nil or an *Error naming call.
func (d *Driver) Check(call string, r Result) error {
	if r == Success {
		return nil
	}
	e := &Error{Call: call, Code: int(r), Name: fmt.Sprintf("CUresult %d", int(r))}
	var s *byte
	if d.GetErrorName != nil && d.GetErrorName(r, &s) == Success && s != nil {
		e.Name = goString(s)
	}
	s = nil
	if d.GetErrorString != nil && d.GetErrorString(r, &s) == Success && s != nil {
		e.Detail = goString(s)
	}
	return e
}

// goString copies a NUL-terminated C string.
func goString(p *byte) string {
	if p == nil {
		return ""
	}
	var b []byte
	for q := p; *q != 0; q = (*byte)(unsafe.Add(unsafe.Pointer(q), 1)) {
		b = append(b, *q)
	}
	return string(b)
}
