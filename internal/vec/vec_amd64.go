//go:build amd64

package vec

import (
	"os"

	"golang.org/x/sys/cpu"
)

// The instruction sets the loops can run with, from the least.
const (
	levelGo     = iota // the plain Go loops of vec.go
	levelAVX2          // vec_avx2_amd64.s: AVX2 and FMA, 8 values a step
	levelAVX512        // vec_amd64.s: AVX-512F, 16 values a step
)

// level is the set the loops run with: the best the CPU and the OS support
// (x/sys/cpu checks that the OS saves the vector registers), unless
// VIDSSL_BLAS (see internal/blas) asks for the plain-Go kernels with
// "go-generic" or for the AVX2 ones with "go-avx2", under which CI runs the
// tests a second and a third time. Tests set it to try every level the CPU
// has.
var level = chooseLevel(os.Getenv("VIDSSL_BLAS"))

// chooseLevel returns the level for the value env of VIDSSL_BLAS.
func chooseLevel(env string) int {
	switch {
	case env == "go-generic":
		return levelGo
	case cpu.X86.HasAVX512F && env != "go-avx2":
		return levelAVX512
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		return levelAVX2
	}
	return levelGo
}

// maxLevel is the best level the CPU supports, for tests.
func maxLevel() int { return chooseLevel("") }

// The assembly loops of vec_amd64.s (AVX-512F) and vec_avx2_amd64.s (AVX2
// and FMA): n values from each pointer, n > 0.

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

//go:noescape
func deinterleave2AVX512(n int, even, odd, src *float32)

//go:noescape
func interleave2AVX512(n int, dst, even, odd *float32)

//go:noescape
func momentsXAVX2(n int, x *float32, shift float32, out *[4]float32)

//go:noescape
func momentsXYAVX2(n int, x, y *float32, shift float32, out *[4]float32)

//go:noescape
func momentsXYMAVX2(n int, x, y, m *float32, shift float32, out *[4]float32)

//go:noescape
func affineAVX2(n int, dst, x *float32, a, b float32)

//go:noescape
func affineReLUAVX2(n int, dst, x *float32, a, b float32)

//go:noescape
func normGradAVX2(n int, dst, x, y *float32, a, b, c, mean float32)

//go:noescape
func normGradMaskAVX2(n int, dst, x, y, m *float32, a, b, c, mean float32)

//go:noescape
func maskAVX2(n int, dst, y, m *float32)

// deinterleave2AVX2 and interleave2AVX2 do the first n/16 blocks of 16
// values of src or dst only.

//go:noescape
func adamAVX2(n int, p, grad, m, v *float32, b1, omb1, b2, omb2, bc2sqrt, eps, negStep float32)

//go:noescape
func deinterleave2AVX2(n int, even, odd, src *float32)

//go:noescape
func interleave2AVX2(n int, dst, even, odd *float32)

func mask(dst, y, m []float32) {
	switch level {
	case levelAVX512:
		maskAVX512(len(y), &dst[0], &y[0], &m[0])
	case levelAVX2:
		maskAVX2(len(y), &dst[0], &y[0], &m[0])
	default:
		maskGo(dst, y, m)
	}
}

// deinterleave2 and interleave2 take slices of the lengths the exported
// functions cut, n = len(src) or len(dst) > 0 (odd may be empty: a pointer
// to it is taken only when it is not).
func deinterleave2(even, odd, src []float32) {
	switch {
	case len(odd) == 0 || level == levelGo:
		deinterleave2Go(even, odd, src)
	case level == levelAVX512:
		deinterleave2AVX512(len(src), &even[0], &odd[0], &src[0])
	default:
		// Whole blocks of 16 in assembly, the rest (under 16) in Go.
		nb := len(src) &^ 15
		if nb > 0 {
			deinterleave2AVX2(nb, &even[0], &odd[0], &src[0])
		}
		deinterleave2Go(even[nb/2:], odd[nb/2:], src[nb:])
	}
}

func interleave2(dst, even, odd []float32) {
	switch {
	case len(odd) == 0 || level == levelGo:
		interleave2Go(dst, even, odd)
	case level == levelAVX512:
		interleave2AVX512(len(dst), &dst[0], &even[0], &odd[0])
	default:
		nb := len(dst) &^ 15
		if nb > 0 {
			interleave2AVX2(nb, &dst[0], &even[0], &odd[0])
		}
		interleave2Go(dst[nb:], even[nb/2:], odd[nb/2:])
	}
}

// moments, affine, normGrad and mask take slices of equal, positive lengths (the
// exported functions cut them).
func moments(x, y, m []float32, shift float32) (sd, sdd, sdy, sdyd float32) {
	var out [4]float32
	switch level {
	case levelAVX512:
		switch {
		case y == nil:
			momentsXAVX512(len(x), &x[0], shift, &out)
		case m == nil:
			momentsXYAVX512(len(x), &x[0], &y[0], shift, &out)
		default:
			momentsXYMAVX512(len(x), &x[0], &y[0], &m[0], shift, &out)
		}
	case levelAVX2:
		switch {
		case y == nil:
			momentsXAVX2(len(x), &x[0], shift, &out)
		case m == nil:
			momentsXYAVX2(len(x), &x[0], &y[0], shift, &out)
		default:
			momentsXYMAVX2(len(x), &x[0], &y[0], &m[0], shift, &out)
		}
	default:
		return momentsGo(x, y, m, shift)
	}
	return out[0], out[1], out[2], out[3]
}

func affine(dst, x []float32, a, b float32, relu bool) {
	switch {
	case level == levelAVX512 && relu:
		affineReLUAVX512(len(x), &dst[0], &x[0], a, b)
	case level == levelAVX512:
		affineAVX512(len(x), &dst[0], &x[0], a, b)
	case level == levelAVX2 && relu:
		affineReLUAVX2(len(x), &dst[0], &x[0], a, b)
	case level == levelAVX2:
		affineAVX2(len(x), &dst[0], &x[0], a, b)
	default:
		affineGo(dst, x, a, b, relu)
	}
}

func normGrad(dst, x, y, m []float32, a, b, c, mean float32) {
	switch {
	case level == levelAVX512 && m != nil:
		normGradMaskAVX512(len(x), &dst[0], &x[0], &y[0], &m[0], a, b, c, mean)
	case level == levelAVX512:
		normGradAVX512(len(x), &dst[0], &x[0], &y[0], a, b, c, mean)
	case level == levelAVX2 && m != nil:
		normGradMaskAVX2(len(x), &dst[0], &x[0], &y[0], &m[0], a, b, c, mean)
	case level == levelAVX2:
		normGradAVX2(len(x), &dst[0], &x[0], &y[0], a, b, c, mean)
	default:
		normGradGo(dst, x, y, m, a, b, c, mean)
	}
}

// adam runs adamAVX2 (memory-bound, so also on AVX-512) without weight
// decay, else adamGo.
func adam(p, g, m, v []float32, c AdamCoeffs) {
	if level == levelGo || c.WeightDecay != 0 {
		adamGo(p, g, m, v, c)
		return
	}
	adamAVX2(len(p), &p[0], &g[0], &m[0], &v[0], c.Beta1, c.OneMinusBeta1, c.Beta2, c.OneMinusBeta2, c.BC2Sqrt, c.Eps, c.NegStep)
}
