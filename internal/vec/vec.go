// Package vec holds loops over float32 slices that nn (and gpu's host
// engine) runs over whole activations and parameters: batch norm's sums of
// moments, affine map (with ReLU) and input gradient, ReLU's gradient, the
// split of rows into the two phases a stride-2 convolution reads, Adam's
// and SGD's steps, and the search for a non-finite value. On amd64 CPUs with AVX-512F they run
// as assembly 16 values at a time (vec_amd64.s), on those with AVX2 and FMA
// but not AVX-512 8 at a time (vec_avx2_amd64.s, made by gen_avx2.go), and
// elsewhere, and under VIDSSL_BLAS=go-generic, as the plain Go loops of this
// file, which the tests also hold the assembly to. VIDSSL_BLAS=go-avx2
// chooses the AVX2 loops on an AVX-512 CPU too. Adam's step runs the AVX2
// loop on both.
package vec

import (
	"math"
	"sync/atomic"

	"github.com/vidssl/vidssl/internal/parallel"
)

// Moments returns the float32 sums over i of d = x[i] - shift and d*d and,
// when y is not nil, of g and g*d, where g = y[i], or 0 where m is not nil
// and m[i] is not positive (a ReLU's output masking its gradient). y and m,
// when not nil, are at least as long as x. The sums are float32: callers
// keep x short (a few thousand values) and add the results in float64.
func Moments(x, y, m []float32, shift float32) (sd, sdd, sdy, sdyd float32) {
	if len(x) == 0 {
		return 0, 0, 0, 0
	}
	if y != nil {
		y = y[:len(x)]
		if m != nil {
			m = m[:len(x)]
		}
	}
	return moments(x, y, m, shift)
}

// Affine sets dst[i] = a*x[i] + b, or max(0, a*x[i] + b) with relu (NaN
// stays NaN). dst is at least as long as x.
func Affine(dst, x []float32, a, b float32, relu bool) {
	if len(x) == 0 {
		return
	}
	affine(dst[:len(x)], x, a, b, relu)
}

// NormGrad sets dst[i] = a*g - b - c*(x[i]-mean), with g = y[i], or 0 where
// m is not nil and m[i] is not positive: batch norm's input gradient. dst,
// y and m (when not nil) are at least as long as x.
func NormGrad(dst, x, y, m []float32, a, b, c, mean float32) {
	if len(x) == 0 {
		return
	}
	dst, y = dst[:len(x)], y[:len(x)]
	if m != nil {
		m = m[:len(x)]
	}
	normGrad(dst, x, y, m, a, b, c, mean)
}

// Deinterleave2 sets even[i] = src[2i] and odd[i] = src[2i+1]: the two
// phases of a row read at stride 2. even holds at least (len(src)+1)/2
// values and odd len(src)/2; no others are written.
func Deinterleave2(even, odd, src []float32) {
	if len(src) == 0 {
		return
	}
	deinterleave2(even[:(len(src)+1)/2], odd[:len(src)/2], src)
}

// Interleave2 sets dst[2i] = even[i] and dst[2i+1] = odd[i] for 2i,
// 2i+1 < len(dst): the reverse of Deinterleave2.
func Interleave2(dst, even, odd []float32) {
	if len(dst) == 0 {
		return
	}
	interleave2(dst, even[:(len(dst)+1)/2], odd[:len(dst)/2])
}

// deinterleave2Go is Deinterleave2 in plain Go.
func deinterleave2Go(even, odd, src []float32) {
	for i := range even {
		even[i] = src[2*i]
	}
	for i := range odd {
		odd[i] = src[2*i+1]
	}
}

// interleave2Go is Interleave2 in plain Go.
func interleave2Go(dst, even, odd []float32) {
	for i, v := range even {
		dst[2*i] = v
	}
	for i, v := range odd {
		dst[2*i+1] = v
	}
}

// Mask sets dst[i] = y[i] where m[i] > 0, else 0 (NaN in m included): a
// ReLU's gradient, m its output. dst and m are at least as long as y.
func Mask(dst, y, m []float32) {
	if len(y) == 0 {
		return
	}
	mask(dst[:len(y)], y, m[:len(y)])
}

// AdamCoeffs are the coefficients of one Adam step (PyTorch's, with L2
// weight decay): NegStep is -lr/(1-Beta1^t), BC2Sqrt is sqrt(1-Beta2^t).
type AdamCoeffs struct {
	Beta1, OneMinusBeta1, Beta2, OneMinusBeta2 float32
	WeightDecay, Eps, NegStep, BC2Sqrt         float32
}

// NewAdamCoeffs returns the coefficients of Adam's update number step (from
// 1) with the given hyperparameters, computed in float64 and rounded to
// float32 as PyTorch's CPU step computes them: NegStep = -lr/(1-beta1^step),
// BC2Sqrt = sqrt(1-beta2^step).
func NewAdamCoeffs(lr, beta1, beta2, eps, weightDecay float64, step int64) AdamCoeffs {
	t := float64(step)
	bc1 := 1 - math.Pow(beta1, t)
	bc2 := 1 - math.Pow(beta2, t)
	return AdamCoeffs{
		Beta1: float32(beta1), OneMinusBeta1: float32(1 - beta1),
		Beta2: float32(beta2), OneMinusBeta2: float32(1 - beta2),
		WeightDecay: float32(weightDecay), Eps: float32(eps),
		NegStep: float32(-(lr / bc1)), BC2Sqrt: float32(math.Sqrt(bc2)),
	}
}

// Adam does one Adam step on the parameters p with gradient g and the
// moment estimates m and v, of p's length:
//
//	g' = g + WeightDecay*p
//	m = Beta1*m + (1-Beta1)*g'
//	v = Beta2*v + (1-Beta2)*g'*g'
//	p += NegStep*m / (sqrt(v)/BC2Sqrt + Eps)
//
// in float32, in that order. Without weight decay it runs 8 values a step
// (AVX2 and FMA, on AVX-512 CPUs too: it is bound by memory), where m's
// update is one float32 FMA; the plain-Go loop rounds a float64 FMA
// instead, which can differ in the last bit.
func Adam(p, g, m, v []float32, c AdamCoeffs) {
	if len(p) == 0 {
		return
	}
	adam(p, g[:len(p)], m[:len(p)], v[:len(p)], c)
}

// adamGo is Adam in plain Go.
func adamGo(p, g, m, v []float32, c AdamCoeffs) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	for j := range p {
		gj := g[j]
		if c.WeightDecay != 0 {
			gj = FMA32(p[j], c.WeightDecay, gj)
		}
		m[j] = FMA32(gj, c.OneMinusBeta1, m[j]*c.Beta1)
		v[j] = v[j]*c.Beta2 + c.OneMinusBeta2*gj*gj
		d := float32(math.Sqrt(float64(v[j])))/c.BC2Sqrt + c.Eps
		p[j] += c.NegStep * m[j] / d
	}
}

// SGDCoeffs are the coefficients of one SGD step (PyTorch's, with L2 weight
// decay, momentum, dampening and Nesterov momentum), as float32:
// NegLR is -lr, OneMinusDampening 1-dampening. First marks the step that
// starts the momentum buffer.
type SGDCoeffs struct {
	NegLR, WeightDecay, Momentum, OneMinusDampening float32
	Nesterov, First                                 bool
}

// SGD does one SGD step on the parameters p with gradient g and, when
// Momentum is not zero, the momentum buffer buf, of p's length:
//
//	d = g + WeightDecay*p
//	buf = d on the first step, else Momentum*buf + (1-Dampening)*d
//	d = d + Momentum*buf with Nesterov, else buf
//	p += NegLR*d
//
// in float32 with each multiply-add rounded once (FMA32), as PyTorch's
// vectorised CPU kernels compute it.
func SGD(p, g, buf []float32, c SGDCoeffs) {
	g = g[:len(p)]
	if c.Momentum == 0 {
		for j := range p {
			d := g[j]
			if c.WeightDecay != 0 {
				d = FMA32(p[j], c.WeightDecay, d)
			}
			p[j] = FMA32(d, c.NegLR, p[j])
		}
		return
	}
	buf = buf[:len(p)]
	for j := range p {
		d := g[j]
		if c.WeightDecay != 0 {
			d = FMA32(p[j], c.WeightDecay, d)
		}
		if c.First {
			buf[j] = d
		} else {
			buf[j] = FMA32(d, c.OneMinusDampening, buf[j]*c.Momentum)
		}
		if c.Nesterov {
			d = FMA32(buf[j], c.Momentum, d)
		} else {
			d = buf[j]
		}
		p[j] = FMA32(d, c.NegLR, p[j])
	}
}

// FMA32 returns a*b + c rounded once from the exact product (to float64,
// then to float32), as the fused multiply-adds of PyTorch's vectorised CPU
// kernels (add with alpha) compute.
func FMA32(a, b, c float32) float32 {
	return float32(math.FMA(float64(a), float64(b), float64(c)))
}

// maskGo is Mask in plain Go.
func maskGo(dst, y, m []float32) {
	dst, m = dst[:len(y)], m[:len(y)]
	for i, v := range y {
		if !(m[i] > 0) {
			v = 0
		}
		dst[i] = v
	}
}

// momentsGo is Moments in plain Go, four interleaved partial sums each.
func momentsGo(x, y, m []float32, shift float32) (sd, sdd, sdy, sdyd float32) {
	j := 0
	switch {
	case y == nil:
		var a0, a1, a2, a3, q0, q1, q2, q3 float32
		for ; j+4 <= len(x); j += 4 {
			v := x[j : j+4 : j+4]
			d0, d1, d2, d3 := v[0]-shift, v[1]-shift, v[2]-shift, v[3]-shift
			a0, a1, a2, a3 = a0+d0, a1+d1, a2+d2, a3+d3
			q0, q1, q2, q3 = q0+d0*d0, q1+d1*d1, q2+d2*d2, q3+d3*d3
		}
		sd, sdd = (a0+a1)+(a2+a3), (q0+q1)+(q2+q3)
	case m == nil:
		var a0, a1, q0, q1, g0, g1, p0, p1 float32
		for ; j+2 <= len(x); j += 2 {
			v, w := x[j:j+2:j+2], y[j:j+2:j+2]
			d0, d1 := v[0]-shift, v[1]-shift
			a0, a1 = a0+d0, a1+d1
			q0, q1 = q0+d0*d0, q1+d1*d1
			g0, g1 = g0+w[0], g1+w[1]
			p0, p1 = p0+w[0]*d0, p1+w[1]*d1
		}
		sd, sdd, sdy, sdyd = a0+a1, q0+q1, g0+g1, p0+p1
	default:
		var a0, a1, q0, q1, g0, g1, p0, p1 float32
		for ; j+2 <= len(x); j += 2 {
			v, w, r := x[j:j+2:j+2], y[j:j+2:j+2], m[j:j+2:j+2]
			d0, d1 := v[0]-shift, v[1]-shift
			y0, y1 := w[0], w[1]
			if !(r[0] > 0) {
				y0 = 0
			}
			if !(r[1] > 0) {
				y1 = 0
			}
			a0, a1 = a0+d0, a1+d1
			q0, q1 = q0+d0*d0, q1+d1*d1
			g0, g1 = g0+y0, g1+y1
			p0, p1 = p0+y0*d0, p1+y1*d1
		}
		sd, sdd, sdy, sdyd = a0+a1, q0+q1, g0+g1, p0+p1
	}
	for ; j < len(x); j++ {
		d := x[j] - shift
		sd += d
		sdd += d * d
		if y != nil && (m == nil || m[j] > 0) {
			sdy += y[j]
			sdyd += y[j] * d
		}
	}
	return sd, sdd, sdy, sdyd
}

// affineGo is Affine in plain Go.
func affineGo(dst, x []float32, a, b float32, relu bool) {
	dst = dst[:len(x)]
	if relu {
		for i, v := range x {
			dst[i] = max(v*a+b, 0)
		}
		return
	}
	for i, v := range x {
		dst[i] = v*a + b
	}
}

// normGradGo is NormGrad in plain Go.
func normGradGo(dst, x, y, m []float32, a, b, c, mean float32) {
	dst, y = dst[:len(x)], y[:len(x)]
	if m != nil {
		m = m[:len(x)]
		for i, v := range x {
			g := y[i]
			if !(m[i] > 0) {
				g = 0
			}
			dst[i] = a*g - b - c*(v-mean)
		}
		return
	}
	for i, v := range x {
		dst[i] = a*y[i] - b - c*(v-mean)
	}
}

// FirstNonFinite returns the index of the first NaN or infinity in x, or
// -1, looking for one over parts of x on goroutines.
func FirstNonFinite(x []float32) int {
	var bad atomic.Bool
	parallel.For(len(x), 1<<15, func(lo, hi int) {
		for _, v := range x[lo:hi] {
			// v-v is NaN exactly when v is NaN or infinite.
			if v-v != 0 {
				bad.Store(true)
				return
			}
		}
	})
	if !bad.Load() {
		return -1
	}
	for i, v := range x {
		if v-v != 0 {
			return i
		}
	}
	return -1
}
