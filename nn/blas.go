package nn

import "github.com/vidssl/vidssl/internal/blas"

// BLAS names the matrix-product implementation that Conv3d, Linear and the
// other ops use: "go-avx512", "go-avx2" or "go-generic" (vidssl's own
// SGEMM), "openblas" or "gonum". The environment variable VIDSSL_BLAS
// forces one; programs log it so that a run's speed can be read.
func BLAS() string { return blas.Active() }
