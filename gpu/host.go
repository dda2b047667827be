package gpu

import (
	"math"

	"github.com/vidssl/vidssl/internal/blas"
	"github.com/vidssl/vidssl/internal/bnorm"
	"github.com/vidssl/vidssl/internal/conv3d"
	"github.com/vidssl/vidssl/internal/parallel"
	"github.com/vidssl/vidssl/internal/vec"
)

// NewHostEngine returns an engine that runs every operation on the CPU in
// plain Go, with float64 accumulation: a slow reference for tests and for
// machines without a GPU, computing what nn's CPU ops compute.
func NewHostEngine() *Engine { return newEngine(hostBackend{}) }

type hostBackend struct{}

func (hostBackend) name() string { return "host" }

func (hostBackend) alloc(n int) (*buffer, error) { return &buffer{n: n, data: make([]float32, n)}, nil }

func (hostBackend) free(b *buffer) error { b.data = nil; return nil }

func (hostBackend) upload(dst *Tensor, src []float32) error { copy(hd(dst), src); return nil }

func (hostBackend) download(dst []float32, src *Tensor) error { copy(dst, hd(src)); return nil }

func (hostBackend) fill(t *Tensor, v float32) error {
	d := hd(t)
	for i := range d {
		d[i] = v
	}
	return nil
}

func (hostBackend) copy(dst, src *Tensor) error { copy(hd(dst), hd(src)); return nil }
func (hostBackend) sync() error                 { return nil }
func (hostBackend) close() error                { return nil }

// hd returns a tensor's elements.
func hd(t *Tensor) []float32 {
	if t == nil {
		return nil
	}
	return t.buf.data[t.off : t.off+t.Len() : t.off+t.Len()]
}

// kernels returns g as internal/conv3d's kernels take it.
func (g convGeom) kernels() conv3d.Geom { return conv3d.New(g.x, g.w, g.stride, g.pad) }

func (hostBackend) conv(x, w, y *Tensor, g convGeom) error {
	k := g.kernels()
	conv3d.Forward(blas.MustDefault(), &k, hd(x), hd(w), nil, hd(y))
	return nil
}

func (hostBackend) convBackwardData(w, dy, dx *Tensor, g convGeom) error {
	k := g.kernels()
	conv3d.BackwardData(blas.MustDefault(), &k, hd(w), hd(dy), hd(dx))
	return nil
}

func (hostBackend) convBackwardFilter(x, dy, dw *Tensor, g convGeom) error {
	k := g.kernels()
	clear(hd(dw))
	conv3d.BackwardFilter(blas.MustDefault(), &k, hd(x), hd(dy), hd(dw))
	return nil
}

// bnDims returns x's batch, channels and positions per channel (N, C, S).
func bnDims(x *Tensor) (n, c, s int) {
	n, c = x.shape[0], x.shape[1]
	return n, c, x.Len() / (n * c)
}

// bnTrain normalises with the batch statistics as nn's BatchNorm3d op does
// (internal/bnorm), updates the running statistics as it does, and saves
// the batch mean and 1/sqrt(var+eps).
func (hostBackend) bnTrain(x, y *Tensor, bn *BatchNorm) error {
	xd, yd := hd(x), hd(y)
	gamma, beta := hd(bn.Weight), hd(bn.Bias)
	rm, rv, sm, si := hd(bn.RunningMean), hd(bn.RunningVar), hd(bn.SaveMean), hd(bn.SaveInvStd)
	n, c, s := bnDims(x)
	m, mom := float64(n*s), bn.Momentum
	parallel.For(c, bnGrain(n*s), func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			mean, invstd, variance, _ := bnorm.Batch(xd, nil, nil, n, c, s, ch, bn.Eps)
			rm[ch] = float32((1-mom)*float64(rm[ch]) + mom*mean)
			rv[ch] = float32((1-mom)*float64(rv[ch]) + mom*variance*m/(m-1))
			sm[ch], si[ch] = float32(mean), float32(invstd)
			bnorm.Normalize(yd, xd, n, c, s, ch, gamma[ch], beta[ch], mean, invstd, false)
		}
	})
	return nil
}

func (hostBackend) bnInfer(x, y *Tensor, bn *BatchNorm) error {
	xd, yd := hd(x), hd(y)
	gamma, beta, rm, rv := hd(bn.Weight), hd(bn.Bias), hd(bn.RunningMean), hd(bn.RunningVar)
	n, c, s := bnDims(x)
	parallel.For(c, bnGrain(n*s), func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			invstd := 1 / math.Sqrt(float64(rv[ch])+bn.Eps)
			bnorm.Normalize(yd, xd, n, c, s, ch, gamma[ch], beta[ch], float64(rm[ch]), invstd, false)
		}
	})
	return nil
}

// bnBackward computes the gradients as nn's BatchNorm3d gradient ops do
// (internal/bnorm), recomputing the batch statistics from x in float64
// rather than reading the float32 ones bnTrain saved: with xhat = (x -
// mean) * invstd and sums over the M values of a channel,
//
//	dbias = sum(dy), dweight = sum(dy * xhat),
//	dx = weight * invstd * (dy - dbias/M - xhat * dweight/M).
func (hostBackend) bnBackward(x, dy, dx, dw, db *Tensor, bn *BatchNorm) error {
	xd, dyd, dxd := hd(x), hd(dy), hd(dx)
	gamma, dwd, dbd := hd(bn.Weight), hd(dw), hd(db)
	n, c, s := bnDims(x)
	parallel.For(c, bnGrain(n*s), func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			mean, invstd, _, mo := bnorm.Batch(xd, dyd, nil, n, c, s, ch, bn.Eps)
			dbd[ch], dwd[ch] = float32(mo.SDY), float32(invstd*mo.CentredDot(mean))
			bnorm.InputGrad(dxd, xd, dyd, nil, n, c, s, ch, gamma[ch], mean, invstd, mo)
		}
	})
	return nil
}

// bnGrain is the number of channels of m values worth a goroutine.
func bnGrain(m int) int { return max(1, 1<<15/max(m, 1)) }

// windows calls f for every output position (flat within a plane) with the
// window clipped to the input and the divisor of average pooling
// (count_include_pad: the window clipped to the padded input).
func (g poolGeom) windows(f func(o int, t0, t1, h0, h1, w0, w1, div int)) {
	o := 0
	for ot := 0; ot < g.y[2]; ot++ {
		t0 := ot*g.stride[0] - g.pad[0]
		t1 := min(t0+g.kernel[0], g.x[2]+g.pad[0])
		dt := t1 - t0
		t0, t1 = max(t0, 0), min(t1, g.x[2])
		for oh := 0; oh < g.y[3]; oh++ {
			h0 := oh*g.stride[1] - g.pad[1]
			h1 := min(h0+g.kernel[1], g.x[3]+g.pad[1])
			dh := h1 - h0
			h0, h1 = max(h0, 0), min(h1, g.x[3])
			for ow := 0; ow < g.y[4]; ow++ {
				w0 := ow*g.stride[2] - g.pad[2]
				w1 := min(w0+g.kernel[2], g.x[4]+g.pad[2])
				dw := w1 - w0
				w0, w1 = max(w0, 0), min(w1, g.x[4])
				f(o, t0, t1, h0, h1, w0, w1, dt*dh*dw)
				o++
			}
		}
	}
}

// poolPlanes calls f for each (n, c) plane with the input and output planes'
// offsets.
func (g poolGeom) planes(f func(xo, yo int)) {
	xs, ys := g.x[2]*g.x[3]*g.x[4], g.y[2]*g.y[3]*g.y[4]
	for p := range g.x[0] * g.x[1] {
		f(p*xs, p*ys)
	}
}

// argmax returns the flat index in a plane of the first maximum of a window
// (a NaN counts as the maximum), as PyTorch.
func (g poolGeom) argmax(xp []float32, t0, t1, h0, h1, w0, w1 int) int {
	best, bv := -1, float32(0)
	for t := t0; t < t1; t++ {
		for h := h0; h < h1; h++ {
			for w := w0; w < w1; w++ {
				i := (t*g.x[3]+h)*g.x[4] + w
				v := xp[i]
				if best < 0 || v > bv || (v != v && bv == bv) {
					best, bv = i, v
				}
			}
		}
	}
	return best
}

func (hostBackend) pool(x, y *Tensor, g poolGeom) error {
	xd, yd := hd(x), hd(y)
	g.planes(func(xo, yo int) {
		xp := xd[xo:]
		g.windows(func(o, t0, t1, h0, h1, w0, w1, div int) {
			if g.max {
				yd[yo+o] = xp[g.argmax(xp, t0, t1, h0, h1, w0, w1)]
				return
			}
			var s float64
			for t := t0; t < t1; t++ {
				for h := h0; h < h1; h++ {
					for w := w0; w < w1; w++ {
						s += float64(xp[(t*g.x[3]+h)*g.x[4]+w])
					}
				}
			}
			yd[yo+o] = float32(s / float64(div))
		})
	})
	return nil
}

func (hostBackend) poolBackward(x, _, dy, dx *Tensor, g poolGeom) error {
	xd, dyd, dxd := hd(x), hd(dy), hd(dx)
	acc := make([]float64, len(dxd))
	g.planes(func(xo, yo int) {
		xp := xd[xo:]
		g.windows(func(o, t0, t1, h0, h1, w0, w1, div int) {
			gv := float64(dyd[yo+o])
			if g.max {
				acc[xo+g.argmax(xp, t0, t1, h0, h1, w0, w1)] += gv
				return
			}
			for t := t0; t < t1; t++ {
				for h := h0; h < h1; h++ {
					for w := w0; w < w1; w++ {
						acc[xo+(t*g.x[3]+h)*g.x[4]+w] += gv / float64(div)
					}
				}
			}
		})
	})
	for i, v := range acc {
		dxd[i] = float32(v)
	}
	return nil
}

func (hostBackend) relu(x, y *Tensor) error {
	xd, yd := hd(x), hd(y)
	for i, v := range xd {
		yd[i] = max(v, 0)
	}
	return nil
}

func (hostBackend) reluBackward(y, dy, dx *Tensor) error {
	yd, dyd, dxd := hd(y), hd(dy), hd(dx)
	for i, v := range yd {
		if v > 0 {
			dxd[i] = dyd[i]
		} else {
			dxd[i] = 0
		}
	}
	return nil
}

func (hostBackend) add(a, b, y *Tensor, relu bool) error {
	ad, bd, yd := hd(a), hd(b), hd(y)
	for i := range ad {
		s := ad[i] + bd[i]
		if relu {
			s = max(s, 0)
		}
		yd[i] = s
	}
	return nil
}

func (hostBackend) globalAvgPool(x, y *Tensor) error {
	xd, yd := hd(x), hd(y)
	s := x.Len() / (x.shape[0] * x.shape[1])
	for p := range yd {
		var sum float64
		for _, v := range xd[p*s : (p+1)*s] {
			sum += float64(v)
		}
		yd[p] = float32(sum / float64(s))
	}
	return nil
}

func (hostBackend) globalAvgPoolBackward(dy, dx *Tensor) error {
	dyd, dxd := hd(dy), hd(dx)
	s := dx.Len() / len(dyd)
	for i := range dxd {
		dxd[i] = dyd[i/s] / float32(s)
	}
	return nil
}

func (hostBackend) linear(x, w, b, y *Tensor) error {
	xd, wd, bd, yd := hd(x), hd(w), hd(b), hd(y)
	n, in, out := x.shape[0], x.shape[1], w.shape[0]
	for i := range n {
		for o := range out {
			var s float64
			for k := range in {
				s += float64(xd[i*in+k]) * float64(wd[o*in+k])
			}
			if bd != nil {
				s += float64(bd[o])
			}
			yd[i*out+o] = float32(s)
		}
	}
	return nil
}

func (hostBackend) linearBackward(x, w, dy, dx, dw, db *Tensor) error {
	xd, wd, dyd := hd(x), hd(w), hd(dy)
	n, in, out := x.shape[0], x.shape[1], w.shape[0]
	if dx != nil {
		dxd := hd(dx)
		for i := range n {
			for k := range in {
				var s float64
				for o := range out {
					s += float64(dyd[i*out+o]) * float64(wd[o*in+k])
				}
				dxd[i*in+k] = float32(s)
			}
		}
	}
	dwd := hd(dw)
	for o := range out {
		for k := range in {
			var s float64
			for i := range n {
				s += float64(dyd[i*out+o]) * float64(xd[i*in+k])
			}
			dwd[o*in+k] = float32(s)
		}
	}
	if db != nil {
		dbd := hd(db)
		for o := range out {
			var s float64
			for i := range n {
				s += float64(dyd[i*out+o])
			}
			dbd[o] = float32(s)
		}
	}
	return nil
}

// optimGrain is the smallest slice of a parameter update worth a
// goroutine.
const optimGrain = 1 << 15

// adam runs nn.Adam's loop (vec.Adam).
func (hostBackend) adam(p, g, m, v *Tensor, c vec.AdamCoeffs) error {
	pd, gd, md, vd := hd(p), hd(g), hd(m), hd(v)
	parallel.For(len(pd), optimGrain, func(lo, hi int) { vec.Adam(pd[lo:hi], gd[lo:hi], md[lo:hi], vd[lo:hi], c) })
	return nil
}

// sgd runs nn.SGD's loop (vec.SGD).
func (hostBackend) sgd(p, g, buf *Tensor, c vec.SGDCoeffs) error {
	pd, gd, bd := hd(p), hd(g), hd(buf)
	parallel.For(len(pd), optimGrain, func(lo, hi int) {
		var b []float32
		if bd != nil {
			b = bd[lo:hi]
		}
		vec.SGD(pd[lo:hi], gd[lo:hi], b, c)
	})
	return nil
}

func (hostBackend) nonFinite(t *Tensor) (bool, error) {
	for _, v := range hd(t) {
		if v-v != 0 {
			return true, nil
		}
	}
	return false, nil
}
