//go:build amd64

package blas

import "golang.org/x/sys/cpu"

// The assembly micro-kernels of kernel_amd64.s (made by gen_kernels.go).
// Each computes one mr x nr tile; see kernel for the contract. The pointers
// must cover kc*mr values of a, (kc-1)*ldb+nr of b and (mr-1)*ldc+nr of c:
// the wrappers below check that before calling.

//go:noescape
func kernelAVX512x8x32(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX512x12x32(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX512x14x32(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX512x8x32Rows(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX512x12x32Rows(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX512x8x32Ind(k int, a *float32, lda int, b *float32, off *int, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX512x12x32Ind(k int, a *float32, lda int, b *float32, off *int, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX512x12x16(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX512x12x16Rows(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX2x6x16Rows(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX2x6x16Ind(k int, a *float32, lda int, b *float32, off *int, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX2x6x16(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX2x4x24(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX2x4x24Rows(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)

// dotAVX512x8x3 computes the 24 dot products of 8 rows of a (lda apart)
// with 3 rows of b (ldb apart), k values each, into t (dot_amd64.s).
//
//go:noescape
func dotAVX512x8x3(k int, a *float32, lda int, b *float32, ldb int, t *float32)

// dotKernelAVX512 is dotAVX512x8x3 with the bounds checks that keep it
// inside its slices (see kernel.dot).
func dotKernelAVX512(kc int, a []float32, lda int, b []float32, ldb int, t *[dotRows * dotCols]float32) {
	if kc <= 0 || lda < 0 || ldb < 0 || len(a) < (dotRows-1)*lda+kc || len(b) < (dotCols-1)*ldb+kc {
		panic("blas: dot kernel called with short slices")
	}
	dotAVX512x8x3(kc, &a[0], lda, &b[0], ldb, &t[0])
}

// dotAVX2x4x3 computes the 12 dot products of 4 rows of a (lda apart)
// with 3 rows of b (ldb apart), k values each, into t[0:12]
// (kernel_amd64.s, made by gen_kernels.go).
//
//go:noescape
func dotAVX2x4x3(k int, a *float32, lda int, b *float32, ldb int, t *float32)

// dotKernelAVX2 is kernel.dot for AVX2: dotAVX2x4x3 on rows 0-3 of a and
// then on rows 4-7 (16 ymm registers hold 12 sums, not 24), with the
// bounds checks that keep it inside its slices.
func dotKernelAVX2(kc int, a []float32, lda int, b []float32, ldb int, t *[dotRows * dotCols]float32) {
	if kc <= 0 || lda < 0 || ldb < 0 || len(a) < (dotRows-1)*lda+kc || len(b) < (dotCols-1)*ldb+kc {
		panic("blas: dot kernel called with short slices")
	}
	dotAVX2x4x3(kc, &a[0], lda, &b[0], ldb, &t[0])
	dotAVX2x4x3(kc, &a[4*lda], lda, &b[0], ldb, &t[4*dotCols])
}

// asmKernel wraps an assembly micro-kernel of mr x nr with the bounds checks
// that keep it inside its slices.
func asmKernel(mr, nr int, f func(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)) kernel {
	return kernel{mr: mr, nr: nr, run: func(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
		if kc <= 0 || len(a) < kc*mr || ldb < nr || len(b) < (kc-1)*ldb+nr || ldc < nr || len(c) < (mr-1)*ldc+nr {
			panic("blas: micro-kernel called with short slices")
		}
		f(kc, &a[0], &b[0], ldb, &c[0], ldc, alpha, beta)
	}}
}

// withRows adds to k its variant f that reads A's rows in place.
func withRows(k kernel, f func(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)) kernel {
	mr, nr := k.mr, k.nr
	k.runRows = func(kc int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
		if kc <= 0 || lda < kc || len(a) < (mr-1)*lda+kc || ldb < nr || len(b) < (kc-1)*ldb+nr || ldc < nr || len(c) < (mr-1)*ldc+nr {
			panic("blas: micro-kernel called with short slices")
		}
		f(kc, &a[0], lda, &b[0], ldb, &c[0], ldc, alpha, beta)
	}
	return k
}

// withInd adds to k its implicit-GEMM variant f (kernel.runInd). The
// wrapper checks A, C and off; B's rows, b[off[p]:off[p]+nr], are checked by
// its one caller, serialOffsets, once for the whole product.
func withInd(k kernel, f func(k int, a *float32, lda int, b *float32, off *int, c *float32, ldc int, alpha, beta float32)) kernel {
	mr, nr := k.mr, k.nr
	k.runInd = func(kc int, a []float32, lda int, b []float32, off []int, c []float32, ldc int, alpha, beta float32) {
		if kc <= 0 || lda < kc || len(a) < (mr-1)*lda+kc || len(off) < kc || len(b) < nr || ldc < nr || len(c) < (mr-1)*ldc+nr {
			panic("blas: micro-kernel called with short slices")
		}
		f(kc, &a[0], lda, &b[0], &off[0], &c[0], ldc, alpha, beta)
	}
	return k
}

// inPlaceA marks k as reading a non-transposed A in place (kernel.inPlaceA).
func inPlaceA(k kernel) kernel {
	k.inPlaceA = true
	return k
}

var (
	avx512Kernel  = withInd(inPlaceA(withRows(asmKernel(12, 32, kernelAVX512x12x32), kernelAVX512x12x32Rows)), kernelAVX512x12x32Ind)
	avx512Kernel8 = withInd(inPlaceA(withRows(asmKernel(8, 32, kernelAVX512x8x32), kernelAVX512x8x32Rows)), kernelAVX512x8x32Ind)
	avx512Narrow  = withRows(asmKernel(12, 16, kernelAVX512x12x16), kernelAVX512x12x16Rows)
	avx2Kernel4   = inPlaceA(withRows(asmKernel(4, 24, kernelAVX2x4x24), kernelAVX2x4x24Rows))
	avx2Kernel    = withAlt(withDot(withInd(withRows(asmKernel(6, 16, kernelAVX2x6x16), kernelAVX2x6x16Rows), kernelAVX2x6x16Ind), dotKernelAVX2), &avx2Kernel4, 25)
)

// withAlt adds to k the kernel alt for products whose row count alt pads
// less by more than margin percent (kernel.alt, kernel.altMargin).
func withAlt(k kernel, alt *kernel, margin int) kernel {
	k.alt, k.altMargin = alt, margin
	return k
}

// withDot adds to k the dot-product kernel f (kernel.dot).
func withDot(k kernel, f func(kc int, a []float32, lda int, b []float32, ldb int, t *[dotRows * dotCols]float32)) kernel {
	k.dot = f
	return k
}

// hasAVX512 and hasAVX2 say whether the CPU and the OS support the kernels
// (x/sys/cpu checks that the OS saves the vector registers).
var (
	hasAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
)

// simdKernel returns the fastest micro-kernel the CPU supports and its
// name, or ok false when it supports none (then the generic one is used).
// Where there is one, k.alt is a kernel with fewer rows for products whose
// row count it divides better.
func simdKernel() (k kernel, name string, ok bool) {
	switch {
	case hasAVX512:
		k = avx512Kernel
		k.alt = &avx512Kernel8
		k.narrow = &avx512Narrow
		k.dot = dotKernelAVX512
		return k, "avx512", true
	case hasAVX2:
		return avx2Kernel, "avx2", true
	}
	return kernel{}, "", false
}

// namedKernel returns the kernel set that VIDSSL_BLAS=go-<name> forces:
// "avx2" (the AVX2+FMA kernels, also on a CPU with AVX-512, to test them
// there), or ok false when the CPU cannot run it or there is none of that
// name.
func namedKernel(name string) (k kernel, ok bool) {
	if name == "avx2" && hasAVX2 {
		return avx2Kernel, true
	}
	return kernel{}, false
}

// allKernels lists every micro-kernel this CPU can run, by name, for tests
// and benchmarks.
func allKernels() map[string]kernel {
	out := map[string]kernel{"generic": genericKernel}
	if hasAVX2 {
		out["avx2"] = avx2Kernel
		out["avx2x4x24"] = avx2Kernel4
	}
	if hasAVX512 {
		out["avx512"] = avx512Kernel
		out["avx512x8"] = avx512Kernel8
		out["avx512x12x16"] = avx512Narrow
		out["avx512x14"] = asmKernel(14, 32, kernelAVX512x14x32)
	}
	return out
}

// Loops for measuring the core's peak (peak_amd64.s; BenchmarkPeak).

// fmaLoopAVX512 runs n iterations of 16 independent 512-bit FMAs.
func fmaLoopAVX512(n int)

// fmaLoopAVX2 runs n iterations of 12 independent 256-bit FMAs.
func fmaLoopAVX2(n int)

// addChain runs n iterations of 16 dependent one-cycle integer adds.
func addChain(n int)
