package gpu

import (
	"math"

	"github.com/vidssl/vidssl/internal/blas"
	"github.com/vidssl/vidssl/internal/bnorm"
	"github.com/vidssl/vidssl/internal/conv3d"
	"github.com/vidssl/vidssl/internal/parallel"
	"github.com/vidssl/vidssl/internal/pool3d"
	"github.com/vidssl/vidssl/internal/vec"
)

// NewHostEngine returns an engine that runs every operation on the CPU with
// the kernels nn's CPU ops run (internal/conv3d, internal/bnorm,
// internal/pool3d, internal/blas's SGEMM and internal/vec), so a model's
// compiled plan computes there what nn's gorgonia graph computes, at about
// its speed: the backend the tests check the plan on, on every machine.
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

// grain is the smallest number of values worth a goroutine, as in nn's
// elementwise ops and optimisers.
const grain = 1 << 15

// bnGrain is the number of channels of m values worth a goroutine.
func bnGrain(m int) int { return max(1, grain/max(m, 1)) }

// kernels returns g as internal/pool3d's kernels take it.
func (g poolGeom) kernels() pool3d.Geom { return pool3d.New(g.x, g.kernel, g.stride, g.pad) }

func (hostBackend) pool(x, y *Tensor, g poolGeom) error {
	k := g.kernels()
	if g.max {
		pool3d.MaxForward(&k, hd(x), hd(y))
	} else {
		pool3d.AvgForward(&k, hd(x), hd(y))
	}
	return nil
}

func (hostBackend) poolBackward(x, _, dy, dx *Tensor, g poolGeom) error {
	k := g.kernels()
	clear(hd(dx))
	if g.max {
		pool3d.MaxBackward(&k, hd(x), hd(dy), hd(dx))
	} else {
		pool3d.AvgBackward(&k, hd(dy), hd(dx))
	}
	return nil
}

func (hostBackend) relu(x, y *Tensor) error {
	xd, yd := hd(x), hd(y)
	parallel.For(len(xd), grain, func(lo, hi int) {
		for i, v := range xd[lo:hi] {
			yd[lo+i] = max(v, 0)
		}
	})
	return nil
}

// reluBackward masks dy as nn's ReLU gradient does (vec.Mask: 0 where y is
// not positive, NaN included).
func (hostBackend) reluBackward(y, dy, dx *Tensor) error {
	yd, dyd, dxd := hd(y), hd(dy), hd(dx)
	parallel.For(len(yd), grain, func(lo, hi int) { vec.Mask(dxd[lo:hi], dyd[lo:hi], yd[lo:hi]) })
	return nil
}

func (hostBackend) add(a, b, y *Tensor, relu bool) error {
	ad, bd, yd := hd(a), hd(b), hd(y)
	parallel.For(len(ad), grain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			s := ad[i] + bd[i]
			if relu {
				s = max(s, 0)
			}
			yd[i] = s
		}
	})
	return nil
}

func (hostBackend) globalAvgPool(x, y *Tensor) error {
	pool3d.GlobalAvgForward(hd(x), hd(y))
	return nil
}

func (hostBackend) globalAvgPoolBackward(dy, dx *Tensor) error {
	pool3d.GlobalAvgBackward(hd(dy), hd(dx))
	return nil
}

// linear computes y = x w^T + b with one SGEMM, as nn's Linear op does.
func (hostBackend) linear(x, w, b, y *Tensor) error {
	xd, wd, bd, yd := hd(x), hd(w), hd(b), hd(y)
	n, in, out := x.shape[0], x.shape[1], w.shape[0]
	beta := float32(0)
	if bd != nil {
		for i := range n {
			copy(yd[i*out:(i+1)*out], bd)
		}
		beta = 1
	}
	blas.MustDefault().Sgemm(false, true, n, out, in, 1, xd, in, wd, in, beta, yd, out)
	return nil
}

// linearBackward computes dx = dy w and dw = dy^T x with SGEMMs and db as
// float64 sums, as nn's Linear gradient ops do.
func (hostBackend) linearBackward(x, w, dy, dx, dw, db *Tensor) error {
	xd, wd, dyd := hd(x), hd(w), hd(dy)
	n, in, out := x.shape[0], x.shape[1], w.shape[0]
	bl := blas.MustDefault()
	if dx != nil {
		bl.Sgemm(false, false, n, in, out, 1, dyd, out, wd, in, 0, hd(dx), in)
	}
	bl.Sgemm(true, false, out, in, n, 1, dyd, out, xd, in, 0, hd(dw), in)
	if db != nil {
		acc := make([]float64, out)
		for i := range n {
			for j, v := range dyd[i*out : (i+1)*out] {
				acc[j] += float64(v)
			}
		}
		dbd := hd(db)
		for j, v := range acc {
			dbd[j] = float32(v)
		}
	}
	return nil
}

// adam runs nn.Adam's loop (vec.Adam).
func (hostBackend) adam(p, g, m, v *Tensor, c vec.AdamCoeffs) error {
	pd, gd, md, vd := hd(p), hd(g), hd(m), hd(v)
	parallel.For(len(pd), grain, func(lo, hi int) { vec.Adam(pd[lo:hi], gd[lo:hi], md[lo:hi], vd[lo:hi], c) })
	return nil
}

// sgd runs nn.SGD's loop (vec.SGD).
func (hostBackend) sgd(p, g, buf *Tensor, c vec.SGDCoeffs) error {
	pd, gd, bd := hd(p), hd(g), hd(buf)
	parallel.For(len(pd), grain, func(lo, hi int) {
		var b []float32
		if bd != nil {
			b = bd[lo:hi]
		}
		vec.SGD(pd[lo:hi], gd[lo:hi], b, c)
	})
	return nil
}

func (hostBackend) nonFinite(t *Tensor) (bool, error) { return vec.FirstNonFinite(hd(t)) >= 0, nil }
