package cuda

import (
	"errors"
	"fmt"
)

// Error is a failed call into one of the libraries.
type Error struct {
	// Call is the C function, e.g. "cuMemAlloc_v2".
	Call string
	// Code is the status it returned (CUresult, cublasStatus_t or
	// cudnnStatus_t).
	Code int
	// Name is the status's name, e.g. "CUDA_ERROR_OUT_OF_MEMORY".
	Name string
	// Detail is the library's description of the status, when it has one.
	Detail string
}

// Error formats the call, the status's name and code, and the detail.
func (e *Error) Error() string {
	s := fmt.Sprintf("cuda: %s: %s (%d)", e.Call, e.Name, e.Code)
	if e.Detail != "" && e.Detail != e.Name {
		s += ": " + e.Detail
	}
	return s
}

// IsOutOfMemory reports whether err is a device memory allocation failure of
// the driver, cuBLAS or cuDNN.
func IsOutOfMemory(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Name {
	case "CUDA_ERROR_OUT_OF_MEMORY", "CUBLAS_STATUS_ALLOC_FAILED",
		"CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED", "CUDNN_STATUS_ALLOC_FAILED":
		return true
	}
	return false
}

// ErrClosed is returned by Device.Do after Close.
var ErrClosed = errors.New("cuda: device is closed")
