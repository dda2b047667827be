package blas

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/ebitengine/purego"
)

// CBLAS enumerations.
const (
	cblasRowMajor = 101
	cblasNoTrans  = 111
	cblasTrans    = 112
)

type openblasImpl struct {
	sgemm func(order, transA, transB, m, n, k int32, alpha float32, a *float32, lda int32, b *float32, ldb int32, beta float32, c *float32, ldc int32)
	// split is true when OpenBLAS runs single-threaded and Sgemm splits
	// large products across goroutines itself (see Sgemm).
	split bool
}

// splitMinWork is the least m*n*k worth splitting across goroutines, and
// splitAlign the multiple of columns (or rows) each part holds: OpenBLAS's
// kernels work on 16-wide panels.
const (
	splitMinWork = 1 << 20
	splitAlign   = 16
)

var (
	openblasOnce sync.Once
	openblasLib  *openblasImpl
	openblasErr  error
)

// libNames are the file names tried, in order, when loading OpenBLAS.
var libNames = []string{"libopenblas.so.0", "libopenblas.so", "libopenblas64_.so.0", "libopenblas.dylib"}

// OpenBLAS loads OpenBLAS's cblas_sgemm at run time. The library is opened once
// per process; later calls return the same implementation or the same error.
func OpenBLAS() (Impl, error) {
	openblasOnce.Do(func() { openblasLib, openblasErr = loadOpenBLAS() })
	if openblasErr != nil {
		return nil, openblasErr
	}
	return openblasLib, nil
}

func loadOpenBLAS() (impl *openblasImpl, err error) {
	defer func() {
		// purego panics when a symbol cannot be registered; turn that into an error.
		if r := recover(); r != nil {
			impl, err = nil, fmt.Errorf("blas: load OpenBLAS: %v", r)
		}
	}()
	var lib uintptr
	var errs []error
	for _, name := range libNames {
		h, e := purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if e == nil {
			lib = h
			break
		}
		errs = append(errs, e)
	}
	if lib == 0 {
		return nil, fmt.Errorf("blas: OpenBLAS not found (tried %v): %v", libNames, errs)
	}
	sym, e := purego.Dlsym(lib, "cblas_sgemm")
	if e != nil {
		return nil, fmt.Errorf("blas: OpenBLAS has no cblas_sgemm: %w", e)
	}
	impl = &openblasImpl{}
	purego.RegisterFunc(&impl.sgemm, sym)
	// OpenBLAS's own threads wait for work by spinning on sched_yield, which
	// takes a core from the Go code (batch norm, vol2col, ...) that runs
	// between products. Run OpenBLAS on the calling thread instead, and
	// split each large product across goroutines (Sgemm).
	if set, e := purego.Dlsym(lib, "openblas_set_num_threads"); e == nil {
		var setThreads func(int32)
		purego.RegisterFunc(&setThreads, set)
		setThreads(1)
		impl.split = true
	}
	return impl, nil
}

func (*openblasImpl) Name() string { return "openblas" }

func (o *openblasImpl) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	ta, tb := int32(cblasNoTrans), int32(cblasNoTrans)
	if transA {
		ta = cblasTrans
	}
	if transB {
		tb = cblasTrans
	}
	if k == 0 {
		// C = beta*C; OpenBLAS does not read A or B.
		var zero float32
		o.sgemm(cblasRowMajor, ta, tb, int32(m), int32(n), 0, alpha, &zero, int32(lda), &zero, int32(ldb), beta, &c[0], int32(ldc))
		return
	}
	parts := 1
	if o.split && m*n*k >= splitMinWork {
		parts = min(runtime.GOMAXPROCS(0), (max(m, n)+splitAlign-1)/splitAlign)
	}
	if parts <= 1 {
		o.sgemm(cblasRowMajor, ta, tb, int32(m), int32(n), int32(k), alpha, &a[0], int32(lda), &b[0], int32(ldb), beta, &c[0], int32(ldc))
		return
	}
	// Split the larger of C's dimensions into parts of whole 16-wide panels,
	// one goroutine each.
	splitC(transA, transB, m, n, lda, ldb, ldc, parts, splitAlign, splitAlign, func(m, n, ao, bo, co int) {
		o.sgemm(cblasRowMajor, ta, tb, int32(m), int32(n), int32(k), alpha, &a[ao], int32(lda), &b[bo], int32(ldb), beta, &c[co], int32(ldc))
	})
}

// checkGemm panics, as gonum does, when a slice is too short for its matrix, so
// that a caller's bug never turns into an out-of-bounds read by C code.
func checkGemm(transA, transB bool, m, n, k, la, lda, lb, ldb, lc, ldc int) {
	rowsA, colsA := m, k
	if transA {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if transB {
		rowsB, colsB = n, k
	}
	need := func(rows, cols, ld, have int, name string) {
		if rows == 0 || cols == 0 {
			return
		}
		if ld < cols || have < (rows-1)*ld+cols {
			panic(fmt.Sprintf("blas: sgemm: %s is %d values with leading dimension %d, want %dx%d", name, have, ld, rows, cols))
		}
	}
	need(rowsA, colsA, lda, la, "A")
	need(rowsB, colsB, ldb, lb, "B")
	need(m, n, ldc, lc, "C")
}
