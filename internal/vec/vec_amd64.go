//go:build amd64

package vec

import (
	"os"

	"golang.org/x/sys/cpu"
)

// hasAVX512 says whether the assembly loops run: the CPU and the OS support
// them, and VIDSSL_BLAS (see internal/blas) does not ask for the plain-Go
// kernels with "go-generic", under which CI runs nn's tests a second time.
var hasAVX512 = cpu.X86.HasAVX512F && os.Getenv("VIDSSL_BLAS") != "go-generic"

// The assembly loops of vec_amd64.s: n values from each pointer, n > 0.

//go:noescape
func momentsXAVX512(n int, x *float32, shift float32, out *[4]float32)

//go:noescape
func momentsXYAVX512(n int, x, y *float32, shift float32, out *[4]float32)

//go:noescape
func momentsXYMAVX512(n int, x, y, m *float32, shift float32, out *[4]float32)

//go:noescape
func affineAVX512(n int, dst, x *float32, a, b float32)

//go:noescape
func affineReLUAVX512(n int, dst, x *float32, a, b float32)

//go:noescape
func normGradAVX512(n int, dst, x, y *float32, a, b, c, mean float32)

//go:noescape
func normGradMaskAVX512(n int, dst, x, y, m *float32, a, b, c, mean float32)

//go:noescape
func maskAVX512(n int, dst, y, m *float32)

func mask(dst, y, m []float32) {
	if !hasAVX512 {
		maskGo(dst, y, m)
		return
	}
	maskAVX512(len(y), &dst[0], &y[0], &m[0])
}

//go:noescape
func deinterleave2AVX512(n int, even, odd, src *float32)

//go:noescape
func interleave2AVX512(n int, dst, even, odd *float32)

// deinterleave2 and interleave2 take slices of the lengths the exported
// functions cut, n = len(src) or len(dst) > 0 (odd may be empty: a pointer
// to it is taken only when it is not).
func deinterleave2(even, odd, src []float32) {
	if !hasAVX512 || len(odd) == 0 {
		deinterleave2Go(even, odd, src)
		return
	}
	deinterleave2AVX512(len(src), &even[0], &odd[0], &src[0])
}

func interleave2(dst, even, odd []float32) {
	if !hasAVX512 || len(odd) == 0 {
		interleave2Go(dst, even, odd)
		return
	}
	interleave2AVX512(len(dst), &dst[0], &even[0], &odd[0])
}

// moments, affine, normGrad and mask take slices of equal, positive lengths (the
// exported functions cut them).
func moments(x, y, m []float32, shift float32) (sd, sdd, sdy, sdyd float32) {
	if !hasAVX512 {
		return momentsGo(x, y, m, shift)
	}
	var out [4]float32
	switch {
	case y == nil:
		momentsXAVX512(len(x), &x[0], shift, &out)
	case m == nil:
		momentsXYAVX512(len(x), &x[0], &y[0], shift, &out)
	default:
		momentsXYMAVX512(len(x), &x[0], &y[0], &m[0], shift, &out)
	}
	return out[0], out[1], out[2], out[3]
}

func affine(dst, x []float32, a, b float32, relu bool) {
	switch {
	case !hasAVX512:
		affineGo(dst, x, a, b, relu)
	case relu:
		affineReLUAVX512(len(x), &dst[0], &x[0], a, b)
	default:
		affineAVX512(len(x), &dst[0], &x[0], a, b)
	}
}

func normGrad(dst, x, y, m []float32, a, b, c, mean float32) {
	switch {
	case !hasAVX512:
		normGradGo(dst, x, y, m, a, b, c, mean)
	case m != nil:
		normGradMaskAVX512(len(x), &dst[0], &x[0], &y[0], &m[0], a, b, c, mean)
	default:
		normGradAVX512(len(x), &dst[0], &x[0], &y[0], a, b, c, mean)
	}
}
