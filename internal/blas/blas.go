// Package blas selects the matrix-multiply back end used by vidssl's CPU kernels.
//
// Three implementations exist:
//
//   - vidssl's own SGEMM (gemm.go), written the BLIS way with assembly
//     micro-kernels for AVX-512F and AVX2+FMA chosen at run time, and a
//     plain-Go micro-kernel on every other CPU and GOARCH;
//   - OpenBLAS's cblas_sgemm, loaded at run time through purego when
//     libopenblas.so.0 can be opened (no cgo is needed);
//   - gonum's pure-Go Sgemm.
//
// Default picks vidssl's SGEMM when it has an AVX-512 kernel (on a Zen 4 it
// used about 8% less CPU time than OpenBLAS for R3D-18's training step at
// 8x4x112x112 and about the same at 2x16x112x112), else OpenBLAS when it
// loads, else vidssl's SGEMM when it has an AVX2
// kernel, else gonum (whose amd64 assembly inner loops beat the plain-Go
// micro-kernel). The environment variable VIDSSL_BLAS forces one: "go" (the
// best kernel the CPU supports), "go-generic" (the plain-Go kernel),
// "go-avx2" (the AVX2+FMA kernels even on a CPU with AVX-512, so that they
// can be tested there; internal/vec then runs its AVX2 loops too),
// "openblas" or "gonum".
package blas

import (
	"fmt"
	"os"
	"sync"

	gonumblas "gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// EnvVar is the environment variable that forces a back end: "go",
// "go-generic", "go-avx2", "openblas" or "gonum".
const EnvVar = "VIDSSL_BLAS"

// Impl is a single-precision matrix multiply on row-major matrices.
type Impl interface {
	// Sgemm computes C = alpha*op(A)*op(B) + beta*C where op(X) is X or its
	// transpose, op(A) is m x k, op(B) is k x n and C is m x n, all row-major
	// with leading dimensions lda, ldb and ldc.
	Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	// Name names the implementation: "go-avx512", "go-avx2", "go-generic",
	// "openblas" or "gonum".
	Name() string
}

// Go returns vidssl's own SGEMM with the fastest micro-kernel the CPU
// supports: AVX-512F or AVX2+FMA assembly on amd64, plain Go elsewhere.
func Go() Impl {
	if k, name, ok := simdKernel(); ok {
		return &goImpl{name: "go-" + name, k: k}
	}
	return GoGeneric()
}

// GoGeneric returns vidssl's own SGEMM with its plain-Go micro-kernel, the
// one used on CPUs without a SIMD kernel.
func GoGeneric() Impl { return &goImpl{name: "go-generic", k: genericKernel} }

// Serial returns impl computing each product on the calling goroutine
// alone, for callers that run several products at once on goroutines of
// their own (one per part of a batch), and true; or impl and false when impl
// cannot be made serial (OpenBLAS and gonum use threads of their own).
func Serial(impl Impl) (Impl, bool) {
	g, ok := impl.(*goImpl)
	if !ok {
		return impl, false
	}
	if g.noSplit {
		return g, true
	}
	s := *g
	s.noSplit = true
	return &s, true
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
// names, else vidssl's SGEMM when the CPU has AVX-512, else OpenBLAS when it
// loads, else vidssl's SGEMM when the CPU has AVX2 and FMA, else gonum. It
// returns an error only when VIDSSL_BLAS holds an unknown name, forces
// OpenBLAS and it cannot be loaded, or forces go-avx2 on a CPU without
// AVX2 and FMA.
func Default() (Impl, error) {
	defaultOnce.Do(func() { defaultImpl, defaultErr = choose(os.Getenv(EnvVar)) })
	return defaultImpl, defaultErr
}

// MustDefault is Default for callers that have no way to report an error: on
// error it falls back to vidssl's SGEMM, which always works.
func MustDefault() Impl {
	impl, err := Default()
	if err != nil {
		return Go()
	}
	return impl
}

// Active names the back end Default uses, for logs: "go-avx512", "go-avx2",
// "go-generic", "openblas" or "gonum".
func Active() string { return MustDefault().Name() }

func choose(env string) (Impl, error) {
	switch env {
	case "go":
		return Go(), nil
	case "go-generic":
		return GoGeneric(), nil
	case "go-avx2":
		k, ok := namedKernel("avx2")
		if !ok {
			return Go(), fmt.Errorf("blas: %s=go-avx2: the CPU lacks AVX2 or FMA", EnvVar)
		}
		return &goImpl{name: "go-avx2", k: k}, nil
	case "gonum":
		return Gonum(), nil
	case "openblas":
		impl, err := OpenBLAS()
		if err != nil {
			return Go(), fmt.Errorf("blas: %s=openblas: %w", EnvVar, err)
		}
		return impl, nil
	case "":
		_, name, simd := simdKernel()
		if simd && name == "avx512" {
			return Go(), nil
		}
		if impl, err := OpenBLAS(); err == nil {
			return impl, nil
		}
		if simd {
			return Go(), nil
		}
		return Gonum(), nil
	default:
		return Go(), fmt.Errorf("blas: %s=%q: want \"go\", \"go-generic\", \"go-avx2\", \"openblas\" or \"gonum\"", EnvVar, env)
	}
}
