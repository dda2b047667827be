package cuda

import (
	"fmt"
	"sync"
)

// BLASStatus is a cublasStatus_t.
type BLASStatus int32

// cuBLAS enumerations (cublas_api.h).
const (
	BLASOpN = 0 // CUBLAS_OP_N
	BLASOpT = 1 // CUBLAS_OP_T

	BLASDefaultMath  = 0 // CUBLAS_DEFAULT_MATH
	BLASPedanticMath = 2 // CUBLAS_PEDANTIC_MATH
	BLASTF32Math     = 3 // CUBLAS_TF32_TENSOR_OP_MATH
)

var blasStatusNames = map[BLASStatus]string{
	0:  "CUBLAS_STATUS_SUCCESS",
	1:  "CUBLAS_STATUS_NOT_INITIALIZED",
	3:  "CUBLAS_STATUS_ALLOC_FAILED",
	7:  "CUBLAS_STATUS_INVALID_VALUE",
	8:  "CUBLAS_STATUS_ARCH_MISMATCH",
	11: "CUBLAS_STATUS_MAPPING_ERROR",
	13: "CUBLAS_STATUS_EXECUTION_FAILED",
	14: "CUBLAS_STATUS_INTERNAL_ERROR",
	15: "CUBLAS_STATUS_NOT_SUPPORTED",
	16: "CUBLAS_STATUS_LICENSE_ERROR",
}

// CUBLAS is the part of cuBLAS (libcublas.so.12 or .13) that vidssl uses.
// cuBLAS is column-major; handles and streams are uintptr; alpha and beta
// point to host memory (CUBLAS_POINTER_MODE_HOST, the default).
type CUBLAS struct {
	// Path is the library file that was loaded.
	Path string

	// Create is cublasCreate_v2(cublasHandle_t *handle).
	Create func(handle *uintptr) BLASStatus `sym:"cublasCreate_v2"`
	// Destroy is cublasDestroy_v2(cublasHandle_t handle).
	Destroy func(handle uintptr) BLASStatus `sym:"cublasDestroy_v2"`
	// GetVersion is cublasGetVersion_v2(cublasHandle_t handle, int *version).
	GetVersion func(handle uintptr, version *int32) BLASStatus `sym:"cublasGetVersion_v2"`
	// SetStream is cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId).
	SetStream func(handle, stream uintptr) BLASStatus `sym:"cublasSetStream_v2"`
	// SetMathMode is cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode).
	SetMathMode func(handle uintptr, mode int32) BLASStatus `sym:"cublasSetMathMode"`
	// Sgemm is cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa,
	// cublasOperation_t transb, int m, int n, int k, const float *alpha,
	// const float *A, int lda, const float *B, int ldb, const float *beta,
	// float *C, int ldc).
	Sgemm func(handle uintptr, transa, transb int32, m, n, k int32, alpha *float32, a uintptr, lda int32, b uintptr, ldb int32, beta *float32, c uintptr, ldc int32) BLASStatus `sym:"cublasSgemm_v2"`
}

var (
	blasOnce sync.Once
	blasLib  *CUBLAS
	blasErr  error
)

// blasNames returns the cuBLAS file names to try: the one of the driver's
// CUDA major version first (CUDA 12 drivers cannot run cuBLAS 13).
func blasNames(driverVersion int) []string {
	if driverVersion >= 13000 {
		return []string{"libcublas.so.13", "libcublas.so.12"}
	}
	return []string{"libcublas.so.12", "libcublas.so.13"}
}

// blasCompanions are opened before libcublas from the same directory: its
// dependency libcublasLt of the same version.
func blasCompanions(name string) []string {
	return []string{"libcublasLt" + name[len("libcublas"):]}
}

// LoadCUBLAS loads cuBLAS once per process, preferring the version that
// matches driverVersion (as cuDriverGetVersion reports it, e.g. 12040).
func LoadCUBLAS(driverVersion int) (*CUBLAS, error) {
	blasOnce.Do(func() { blasLib, blasErr = loadCUBLAS(systemFinder(), driverVersion) })
	return blasLib, blasErr
}

func loadCUBLAS(f finder, driverVersion int) (*CUBLAS, error) {
	b := &CUBLAS{}
	lib, err := load(f, blasNames(driverVersion), blasCompanions, b)
	if err != nil {
		return nil, err
	}
	b.Path = lib.path
	return b, nil
}

// Check turns a cublasStatus_t into nil or an *Error naming call.
func (b *CUBLAS) Check(call string, s BLASStatus) error {
	if s == 0 {
		return nil
	}
	name, ok := blasStatusNames[s]
	if !ok {
		name = fmt.Sprintf("cublasStatus %d", int(s))
	}
	return &Error{Call: call, Code: int(s), Name: name}
}
