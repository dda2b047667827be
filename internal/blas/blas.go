// Package blas selects the matrix-multiply back end used by vidssl's CPU kernels.
//
// Two implementations exist: OpenBLAS's cblas_sgemm, loaded at run time through
// purego when libopenblas.so.0 can be opened (no cgo is needed), and gonum's
// pure-Go Sgemm, which always works. Default picks OpenBLAS when it loads and
// gonum otherwise; the environment variable VIDSSL_BLAS ("openblas" or "gonum")
// forces either.
package blas

import (
	"fmt"
	"os"
	"sync"

	gonumblas "gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// EnvVar is the environment variable that forces a back end: "openblas" or "gonum".
const EnvVar = "VIDSSL_BLAS"

// Impl is a single-precision matrix multiply on row-major matrices.
type Impl interface {
	// Sgemm computes C = alpha*op(A)*op(B) + beta*C where op(X) is X or its
	// transpose, op(A) is m x k, op(B) is k x n and C is m x n, all row-major
	// with leading dimensions lda, ldb and ldc.
	Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	// Name names the implementation: "openblas" or "gonum".
	Name() string
}

// Gonum returns gonum's pure-Go implementation.
func Gonum() Impl { return gonumImpl{} }

type gonumImpl struct{}

func (gonumImpl) Name() string { return "gonum" }

func (gonumImpl) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	gonum.Implementation{}.Sgemm(trans(transA), trans(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func trans(t bool) gonumblas.Transpose {
	if t {
		return gonumblas.Trans
	}
	return gonumblas.NoTrans
}

var (
	defaultOnce sync.Once
	defaultImpl Impl
	defaultErr  error
)

// Default returns the process-wide back end, chosen once: the one VIDSSL_BLAS
// names, else OpenBLAS when it loads, else gonum. It returns an error only when
// VIDSSL_BLAS holds an unknown name or forces OpenBLAS and it cannot be loaded.
func Default() (Impl, error) {
	defaultOnce.Do(func() { defaultImpl, defaultErr = choose(os.Getenv(EnvVar)) })
	return defaultImpl, defaultErr
}

// MustDefault is Default for callers that have no way to report an error: on
// error it falls back to gonum, which always works.
func MustDefault() Impl {
	impl, err := Default()
	if err != nil {
		return Gonum()
	}
	return impl
}

// Active names the back end Default uses, for logs: "openblas" or "gonum".
func Active() string { return MustDefault().Name() }

func choose(env string) (Impl, error) {
	switch env {
	case "gonum":
		return Gonum(), nil
	case "openblas":
		impl, err := OpenBLAS()
		if err != nil {
			return Gonum(), fmt.Errorf("blas: %s=openblas: %w", EnvVar, err)
		}
		return impl, nil
	case "":
		if impl, err := OpenBLAS(); err == nil {
			return impl, nil
		}
		return Gonum(), nil
	default:
		return Gonum(), fmt.Errorf("blas: %s=%q: want \"openblas\" or \"gonum\"", EnvVar, env)
	}
}
